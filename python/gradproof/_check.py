"""``check`` and ``assert_gradient``: validates what the user hands over (parameter dtypes and
names, the settings, what ``grad`` returns) with errors that name the key and the shape, then lets
the engine run the check. Knows nothing of how a check runs (the engine's) or of how a report
prints (``_report``).
"""

from __future__ import annotations

import json
from typing import Any, Callable, List, Mapping, Optional, Tuple, Union

import numpy as np

from . import _core
from ._progress import ProgressOption, TextBar, progress_function
from ._report import Report

#: The name of the tensor in the single-array form (its gradient is ``dtheta``).
SINGLE_NAME = "theta"

Params = Union[Mapping[str, np.ndarray], np.ndarray]


def _kind(value: Any) -> str:
    return type(value).__name__


def _parameters(params: Any) -> Tuple[List[str], List[np.ndarray], bool]:
    """The names and float64/float32 arrays of ``params``, and whether it was the single-array form."""
    if isinstance(params, np.ndarray):
        _require_float(SINGLE_NAME, params)
        return [SINGLE_NAME], [params], True
    if not isinstance(params, Mapping):
        raise TypeError(
            f"params is a {_kind(params)}, expected a dict of named numpy arrays "
            "(e.g. {'W1': W1, 'b1': b1}) or a single numpy array"
        )
    if not params:
        raise ValueError("params is an empty dict: there is nothing to check")
    names, arrays = [], []
    for name, value in params.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"params key {name!r} is not a non-empty string: tensors are named by strings")
        if not isinstance(value, np.ndarray):
            raise TypeError(f"params[{name!r}] is a {_kind(value)}, expected a numpy array of float64 or float32")
        _require_float(name, value)
        names.append(name)
        arrays.append(value)
    return names, arrays, False


#: The parameter dtypes gradproof perturbs exactly, and the precision each stores, finest first.
STORAGE_PRECISION = {np.dtype(np.float64): "f64", np.dtype(np.float32): "f32"}

#: The most points one check visits (each is a whole check; the engine reserves room for every
#: point's report up front).
MAX_POINTS = 10_000

#: What ``precision=`` accepts, finest first.
PRECISIONS = ("f64", "f32", "f16", "bf16")


def _require_float(name: str, array: np.ndarray) -> None:
    if array.dtype not in STORAGE_PRECISION:
        raise TypeError(
            f"parameter {name!r} has dtype {array.dtype}, expected float64 or float32 "
            f"(a float16 or bfloat16 model: float32 parameters and precision='f16' or 'bf16')"
        )


def _precision(precision: Optional[str], arrays: List[np.ndarray]) -> Optional[str]:
    """The precision declared to the engine: ``precision`` if given, else the coarsest storage
    precision among the parameters when it is coarser than float64, else ``None`` (the engine
    recognises the precision from the values the cost returns)."""
    if precision is not None:
        if precision not in PRECISIONS:
            raise ValueError(
                f"precision must be None or one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}"
            )
        return precision
    coarsest = max((STORAGE_PRECISION[a.dtype] for a in arrays), key=PRECISIONS.index)
    return None if coarsest == "f64" else coarsest


def _gradient_array(value: Any, key: str, shape: Tuple[int, ...]) -> np.ndarray:
    """One tensor of what ``grad`` returned, as a float64 array of ``shape``."""
    array = np.asarray(value)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"grad returned dtype {array.dtype} for {key!r}, expected real numbers (float64 or float32)")
    if array.shape != shape:
        raise ValueError(f"grad returned shape {array.shape} for {key!r}, expected {shape}")
    return array.astype(np.float64, order="C", copy=False)  # (ascontiguousarray makes 0-d arrays 1-d)


def _gradient_in_order(
    grad: Callable[[Any], Any], names: List[str], shapes: List[Tuple[int, ...]], single: bool
) -> Callable[[Any], List[np.ndarray]]:
    """``grad`` wrapped to return one float64 array per tensor, in the order of ``names``.

    A dict's keys may be the parameter names (``W1``) or the notebook's ``d`` + name (``dW1``);
    other keys (``dZ1``, ``dA2``, … of a notebook's ``gradients``) are ignored.
    """

    def in_order(argument: Any) -> List[np.ndarray]:
        returned = grad(argument)
        if single:
            if isinstance(returned, Mapping):
                raise TypeError(
                    "grad returned a dict but params is a single array: return one array of its shape"
                )
            return [_gradient_array(returned, "d" + SINGLE_NAME, shapes[0])]
        if not isinstance(returned, Mapping):
            raise TypeError(
                f"grad returned a {_kind(returned)}, expected a dict with keys "
                f"{', '.join(repr('d' + n) for n in names)} (or the parameter names)"
            )
        arrays = []
        for name, shape in zip(names, shapes):
            keys = [key for key in ("d" + name, name) if key in returned]
            if not keys:
                raise ValueError(
                    f"grad returned no gradient for parameter {name!r}: expected key {'d' + name!r} "
                    f"or {name!r}; it returned keys {sorted(map(str, returned))}"
                )
            if len(keys) == 2:
                raise ValueError(
                    f"grad returned both {'d' + name!r} and {name!r}: which is the gradient of {name!r}?"
                )
            arrays.append(_gradient_array(returned[keys[0]], keys[0], shape))
        return arrays

    return in_order


def _step_text(step: Union[None, float, str]) -> Optional[str]:
    if step is None or isinstance(step, str):
        return step
    if isinstance(step, bool) or not isinstance(step, (int, float, np.floating, np.integer)):
        raise TypeError(f"step is a {_kind(step)}, expected None, a number, 'scaled', 'scaled=C' or 'auto'")
    return repr(float(step))


def check(
    cost: Callable[[Any], float],
    grad: Callable[[Any], Any],
    params: Params,
    *,
    mode: str = "exhaustive",
    method: str = "central",
    step: Union[None, float, str] = None,
    seed: int = 0,
    points: int = 1,
    precision: Optional[str] = None,
    progress: ProgressOption = None,
) -> Report:
    """Checks the hand-written gradient ``grad`` against finite differences of ``cost``.

    >>> import numpy as np, gradproof
    >>> params = {"W": np.array([[0.5, -1.0], [2.0, 0.25]]), "b": np.array([0.1, -0.3])}
    >>> cost = lambda p: 0.5 * np.sum(p["W"] ** 2) + np.sum(np.sin(p["b"]))
    >>> wrong = lambda p: {"dW": p["W"], "db": np.sin(p["b"])}       # should be cos
    >>> report = gradproof.check(cost, wrong, params)
    >>> report.verdict, report.failing
    ('fail', ['db'])

    Args:
        cost: ``cost(params) -> float``, called with a dict of arrays of the same names and
            shapes as ``params`` (or with one array in the single-array form). The arrays are
            gradproof's own, refilled before every call: read them, do not keep them.
        grad: ``grad(params) -> dict`` of the hand-written gradients, keyed by the parameter
            names or the notebook's ``"d" + name`` (``dW1``, ``db1``), same shapes; other keys
            are ignored. In the single-array form it returns one array.
        params: a dict of named float64 or float32 numpy arrays (the notebook's ``parameters``),
            or one such array (named ``theta``). Each keeps its dtype: ``cost`` and ``grad``
            get arrays of the same dtype, holding the perturbed parameters rounded to it.
        mode: ``"exhaustive"`` (every element), ``"sampled"`` / ``"sampled=K"`` (K elements per
            tensor, 16 by default), ``"directional"`` / ``"directional=K"`` (random directions,
            then bisection to name the K worst elements of a failing tensor, 3 by default).
        method: ``"forward"``, ``"central"``, ``"central4"`` or ``"richardson"``. (``"dual"``
            needs a cost written in Rust and is refused.)
        step: ``None`` (the engine's default, ``"scaled"``), a number (a fixed step, e.g. the
            notebook's ``1e-7``), ``"scaled"`` / ``"scaled=C"`` (proportional to each
            parameter's size) or ``"auto"`` (adaptive).
        seed: seeds the private random generator of the sampled and directional modes.
        points: check at this many points: the given parameters, then ``points - 1`` random
            points near them (each coordinate moved by up to 10% of its scale, reproducibly
            from ``seed``), for a gradient wrong only in some regime (a mask, a branch). The
            report is the first failing point's (``report.point`` says which; 0 is the given
            parameters), else the first inconclusive one's, else point 0's.
        precision: the precision ``cost`` computes in, which sizes the steps and floors the
            noise: ``"f64"``, ``"f32"``, ``"f16"`` or ``"bf16"``. ``None``: the coarsest dtype
            among the parameters (``"f32"`` if any is float32); with float64 parameters only,
            the engine recognises it from the values ``cost`` returns (a float64 model whose
            cost is computed in float32 is seen as ``"f32"``). ``report.precision`` says which.
        progress: ``None`` (a bar on standard error once the check has run for two seconds,
            only on a terminal, as on the command line, or in a Jupyter notebook), ``True``
            (the bar at once, wherever standard error goes), ``False`` (nothing), or a function
            ``progress(done, total)`` called with the coordinates differenced so far (of the
            point being checked), from
            the calling thread, every 50 ms or so and once at the end (e.g. to update a
            ``tqdm`` bar: ``bar.total = total; bar.n = done; bar.refresh()``). An exception it
            raises stops the check and is raised. The exhaustive and sampled modes report
            progress; a directional check (a few hundred evaluations) reports none.

    Returns:
        A :class:`Report`: ``.verdict``, ``.passed``, ``.failing``, ``.tensors[name]``, ...

    Raises:
        TypeError: ``params`` not float64/float32 arrays, or ``cost``/``grad`` returning the
            wrong type.
        ValueError: a bad setting, a missing gradient key, a wrong shape, a NaN cost or
            gradient, a non-finite parameter (each message names the tensor and element).
        Exception: whatever ``cost`` or ``grad`` raised, as itself, with its traceback.
    """
    if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or not 1 <= points <= MAX_POINTS:
        raise ValueError(
            f"points must be an integer from 1 to {MAX_POINTS} (the given parameters, then points - 1 "
            f"random points near them), got {points!r}"
        )
    for setting, value in (("mode", mode), ("method", method)):
        if not isinstance(value, str):
            raise TypeError(f"{setting} is a {_kind(value)}, expected a string such as {check.__kwdefaults__[setting]!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    if not callable(cost) or not callable(grad):
        raise TypeError("cost and grad must be callables: cost(params) -> float, grad(params) -> dict")
    names, arrays, single = _parameters(params)
    declared = _precision(precision, arrays)
    shapes = [a.shape for a in arrays]
    in_order = _gradient_in_order(grad, names, shapes, single)
    told = progress_function(progress)
    try:
        report, table, failures = _core.check(
            cost, in_order, names, arrays, single, mode, method, _step_text(step), int(seed), declared,
            int(points), told,
        )
    finally:
        if isinstance(told, TextBar):
            told.close()
    return Report(json.loads(report), table, failures)


def assert_gradient(
    cost: Callable[[Any], float], grad: Callable[[Any], Any], params: Params, **options: Any
) -> Report:
    """:func:`check`, as one line of a test: raises ``AssertionError`` naming the wrong elements,
    with the table, unless the gradient passes; returns the report when it does.

    >>> import numpy as np, gradproof
    >>> theta = np.array([0.5, -1.0, 2.0])
    >>> gradproof.assert_gradient(lambda t: np.sum(t ** 3), lambda t: 2 * t ** 2, theta)
    Traceback (most recent call last):
    ...
    AssertionError: gradient check failed: dtheta is wrong
    ...

    ``options`` are :func:`check`'s keywords (``mode``, ``method``, ``step``, ...).
    """
    report = check(cost, grad, params, **options)
    if not report.passed:
        failing = report.failing
        verb = "is" if len(failing) == 1 else "are"
        lines = [f"gradient check failed: {', '.join(failing)} {verb} wrong"]
        lines += [f"  {line}" for line in report.failure_lines]
        raise AssertionError("\n".join(lines) + "\n\n" + str(report))
    return report


__all__ = ["check", "assert_gradient", "Params"]
