"""gradproof for PyTorch: :func:`gradcheck`, a drop-in for ``torch.autograd.gradcheck`` that
checks the vector–Jacobian products autograd computes (a custom ``autograd.Function``'s
``backward`` included) with gradproof's noise-aware verdicts, in float32 as well as float64;
:func:`check_function`, the same returning the reports; and :func:`check_module`, every
``named_parameters()`` gradient of a module's loss, with torch's randomness (dropout) frozen.

Owns the translation between tensors and the numpy arrays of :func:`gradproof.check`: the engine
sees numpy on the CPU, the user's code sees tensors on their own device. Knows nothing of how a
check runs. Importing ``gradproof`` does not import this module (nor torch).

>>> import torch, gradproof.torch
>>> x = torch.randn(3, 4, dtype=torch.float32, requires_grad=True)
>>> gradproof.torch.gradcheck(torch.tanh, (x,))
True
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from gradproof._adapters import cotangent, require_repeatable, seed_of
from gradproof._check import check
from gradproof._report import Report

try:
    from torch.autograd.gradcheck import GradcheckError as _TorchGradcheckError
except ImportError:  # older torch: its gradcheck raised a plain RuntimeError
    _TorchGradcheckError = RuntimeError  # type: ignore[misc,assignment]

#: The dtypes checked (the engine perturbs float32 and float64 parameters exactly), as numpy's.
CHECKED_DTYPES = {torch.float32: np.dtype(np.float32), torch.float64: np.dtype(np.float64)}


class GradcheckError(_TorchGradcheckError):  # type: ignore[misc,valid-type,unused-ignore]
    """Raised by :func:`gradcheck` when a backward pass is wrong: a subclass of torch's own
    ``GradcheckError`` (a ``RuntimeError``), so code catching torch's keeps working. The message
    names the wrong blocks (``output 0 / input 1``) and elements and carries the tables;
    ``.reports`` holds the reports by output index."""

    def __init__(self, message: str, reports: Dict[int, Report]) -> None:
        super().__init__(message)
        self.reports = reports


def _as_tuple(value: Any) -> Tuple[Any, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _cuda_devices(tensors: Sequence[torch.Tensor]) -> List[int]:
    return sorted({t.device.index or 0 for t in tensors if t.device.type == "cuda"})


class _FrozenRandomness:
    """torch's generators (CPU and the CUDA ``devices``) as ``torch.manual_seed(seed)`` leaves
    them: ``with frozen():`` runs its body from that state and gives the caller's state back
    after, so every evaluation draws the same dropout masks and the user's random state is
    untouched. (Seeding costs ~200 µs, setting a saved state ~1 µs: the state is made once.)"""

    def __init__(self, seed: int, devices: List[int]) -> None:
        self._devices = devices
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            self._states = self._get()

    def _get(self) -> List[torch.Tensor]:
        return [torch.get_rng_state()] + [torch.cuda.get_rng_state(d) for d in self._devices]

    def _set(self, states: List[torch.Tensor]) -> None:
        torch.set_rng_state(states[0])
        for device, state in zip(self._devices, states[1:]):
            torch.cuda.set_rng_state(state, device)

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        callers = self._get()
        self._set(self._states)
        try:
            yield
        finally:
            self._set(callers)


def _require_checkable(name: str, tensor: torch.Tensor) -> None:
    if tensor.layout != torch.strided:
        raise TypeError(f"{name} is a {tensor.layout} tensor: gradproof.torch checks dense tensors")
    if tensor.dtype not in CHECKED_DTYPES:
        raise TypeError(
            f"{name} is {tensor.dtype}: gradproof.torch checks float32 and float64 tensors (for a "
            "float16/bfloat16 model, check it in float32 with precision='f16' or 'bf16')"
        )


def _tensor(array: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """The numpy array as a tensor on ``like``'s device (no copy on the CPU)."""
    return torch.from_numpy(array).to(like.device)


def _numpy(tensor: Optional[torch.Tensor], like: np.ndarray) -> np.ndarray:
    """A gradient as numpy on the CPU; ``None`` (no path from the input) as zeros."""
    return np.zeros_like(like) if tensor is None else tensor.detach().cpu().numpy()


def check_function(func: Callable[..., Any], inputs: Any, **options: Any) -> Dict[int, Report]:
    """Checks the backward pass of ``func(*inputs)`` for every floating-point output against
    finite differences: output ``o`` becomes the scalar ``⟨v_o, output o⟩`` with a seeded random
    cotangent ``v_o`` (in the output's dtype), whose gradient with respect to every input that
    requires grad is autograd's vector–Jacobian product. Returns one :class:`~gradproof.Report`
    per output, by output index; its tensors are named ``input 0``, ``input 1``, … by position.

    Inputs that do not require grad (and non-tensors) are passed as they are. Computations stay
    in the inputs' dtype and on their device; torch's random generators are set to the state
    ``torch.manual_seed(seed)`` gives before every call (dropout draws the same mask each time)
    and given back after; a cost that still changes between calls at the same point raises
    ``ValueError``. ``options`` are
    :func:`gradproof.check`'s keywords (``mode``, ``method``, ``step``, ``seed``, ``precision``,
    ...).
    """
    inputs = _as_tuple(inputs)
    checked = [k for k, x in enumerate(inputs) if isinstance(x, torch.Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck expects at least one input tensor that requires grad (x.requires_grad_())")
    for k in checked:
        _require_checkable(f"input {k}", inputs[k])
    names = {k: f"input {k}" for k in checked}
    params = {names[k]: inputs[k].detach().cpu().numpy().copy() for k in checked}
    seed = seed_of(options)
    frozen = _FrozenRandomness(seed, _cuda_devices([x for x in inputs if isinstance(x, torch.Tensor)]))

    def call(arrays: Dict[str, np.ndarray], track: bool) -> Tuple[List[torch.Tensor], Tuple[Any, ...]]:
        args = list(inputs)
        leaves = []
        for k in checked:
            args[k] = _tensor(arrays[names[k]], inputs[k]).requires_grad_(track)
            leaves.append(args[k])
        with frozen(), torch.set_grad_enabled(track):
            return leaves, _as_tuple(func(*args))

    _, outputs = call(params, False)
    reports = {}
    for o, output in enumerate(outputs):
        if not (isinstance(output, torch.Tensor) and output.is_floating_point()):
            continue  # integer outputs (indices, counts) have no gradient, as in torch
        _require_checkable(f"output {o}", output)
        v = torch.from_numpy(cotangent(seed, o, output.shape, CHECKED_DTYPES[output.dtype])).to(output.device)

        def cost(arrays: Dict[str, np.ndarray], o: int = o, v: torch.Tensor = v) -> float:
            return float((v * call(arrays, False)[1][o]).sum().item())

        def grad(arrays: Dict[str, np.ndarray], o: int = o, v: torch.Tensor = v) -> Dict[str, np.ndarray]:
            leaves, returned = call(arrays, True)
            if not returned[o].requires_grad:  # the output does not depend on the inputs
                return {names[k]: np.zeros_like(arrays[names[k]]) for k in checked}
            gradients = torch.autograd.grad(returned[o], leaves, grad_outputs=v, allow_unused=True)
            return {names[k]: _numpy(g, arrays[names[k]]) for k, g in zip(checked, gradients)}

        require_repeatable(cost, params, f"output {o} of func")
        reports[o] = check(cost, grad, params, **options)
    return reports


def _failure_message(reports: Dict[int, Report]) -> str:
    blocks, details = [], []
    for o, report in reports.items():
        if report.passed:
            continue
        for t in report.tensors.values():
            if t.verdict != "pass":
                blocks.append(f"output {o} / {t.name} ({t.verdict})")
        details += [f"  output {o}: {line}" for line in report.failure_lines]
        if report.reason:
            details.append(f"  output {o}: {report.reason}")
    tables = "\n\n".join(
        f"output {o}, checked as ⟨v, output {o}⟩ with a seeded random v:\n{r}" for o, r in reports.items()
    )
    return f"gradproof.torch.gradcheck: {', '.join(blocks)}\n" + "\n".join(details) + "\n\n" + tables


def gradcheck(
    func: Callable[..., Any],
    inputs: Any,
    *,
    eps: Optional[float] = None,
    atol: Optional[float] = None,
    rtol: Optional[float] = None,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_batched_forward_grad: bool = False,
    check_forward_ad: bool = False,
    check_backward_ad: bool = True,
    fast_mode: bool = False,
    masked: Optional[bool] = None,
    **options: Any,
) -> bool:
    """A drop-in for ``torch.autograd.gradcheck``: the same call shape, ``True`` when every
    output × input block of ``func``'s backward pass agrees with finite differences, else
    :class:`GradcheckError` naming the blocks and the wrong elements, with the tables (or
    ``False`` with ``raise_exception=False``). Float32 inputs are checked in float32: the
    verdict accounts for float32's roundoff instead of demanding float64. An
    ``"inconclusive"`` report (the differences cannot resolve the gradient) counts as a failure
    too: ``True`` means checked and right. See :func:`check_function` for what is computed.

    >>> import torch, gradproof.torch
    >>> class Square(torch.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x * x
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return g * x          # wrong: 2 * g * x
    >>> x = torch.linspace(-1, 1, 5, dtype=torch.float64, requires_grad=True)
    >>> gradproof.torch.gradcheck(Square.apply, (x,), raise_exception=False)
    False

    torch's keywords, here:

    - ``eps``: a fixed finite-difference step (gradproof's ``step=eps``); ``None`` (the
      default) lets gradproof size the step for the dtype, which is what makes float32 work.
    - ``atol``, ``rtol``, ``nondet_tol``: accepted for compatibility and not used: each element
      is judged against the error bound of its own finite difference, and randomness is frozen
      (torch's generators are reseeded before every call) instead of tolerated.
    - ``fast_mode=True``: gradproof's directional mode (random directions, then bisection to
      name the wrong elements), unless ``mode`` is given.
    - ``check_grad_dtypes``: accepted; always met (autograd casts every gradient to its
      input's dtype before gradproof sees it).
    - ``check_undefined_grad``: accepted, not checked (gradproof checks values, not how a
      backward handles an undefined output gradient).
    - ``check_forward_ad``, ``check_batched_grad``, ``check_batched_forward_grad``,
      ``check_backward_ad=False``, ``masked=True``: ``ValueError`` (gradproof checks dense
      backward-mode gradients only; use torch's gradcheck for those).

    ``options`` are :func:`gradproof.check`'s keywords (``mode``, ``method``, ``step``,
    ``seed``, ``precision``, ...).
    """
    del atol, rtol, nondet_tol, check_undefined_grad, check_grad_dtypes  # see the docstring
    unsupported = {
        "check_forward_ad": check_forward_ad,
        "check_batched_grad": check_batched_grad,
        "check_batched_forward_grad": check_batched_forward_grad,
        "check_backward_ad=False": not check_backward_ad,
        "masked": bool(masked),
    }
    for keyword, asked in unsupported.items():
        if asked:
            raise ValueError(
                f"{keyword}: gradproof.torch checks dense backward-mode gradients (vector–Jacobian "
                "products) only; use torch.autograd.gradcheck for this"
            )
    if eps is not None:
        if "step" in options:
            raise ValueError("give the step once: eps or step, not both")
        options["step"] = eps
    if fast_mode:
        options.setdefault("mode", "directional")
    reports = check_function(func, inputs, **options)
    if all(report.passed for report in reports.values()):
        return True
    if raise_exception:
        raise GradcheckError(_failure_message(reports), reports)
    return False


def check_module(
    module: torch.nn.Module, loss_fn: Callable[[Any], torch.Tensor], *batch: Any, **options: Any
) -> Report:
    """Checks the gradient of ``loss_fn(module(*batch))`` with respect to every parameter in
    ``module.named_parameters()`` that requires grad, each named as torch names it
    (``"0.weight"``, ``"layer1.bias"``). ``loss_fn`` gets the module's output and returns a
    one-element tensor; pass targets through a closure:
    ``check_module(net, lambda out: F.cross_entropy(out, y), x)``.

    The module keeps its mode: in ``train()`` mode dropout is active, and frozen for the check
    (torch's generators are reseeded before every evaluation, so each draws the same mask); a
    loss that still changes between calls at the same parameters raises ``ValueError``. Buffers
    (batch-norm statistics) are reset before each evaluation; parameters and buffers are
    restored afterwards, and ``.grad`` is not touched. Works on the module's device (CPU numpy
    for the engine). ``options`` are :func:`gradproof.check`'s keywords.

    >>> import torch, gradproof.torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    >>> x = torch.randn(8, 3)
    >>> gradproof.torch.check_module(net, lambda out: (out ** 2).mean(), x).verdict
    'pass'
    """
    named = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError(f"the {type(module).__name__} has no parameters that require grad: nothing to check")
    for name, p in named:
        _require_checkable(f"parameter {name!r}", p)
    buffers = [(b, b.detach().clone()) for _, b in module.named_buffers()]
    saved = [p.detach().clone() for _, p in named]
    params = {name: p.detach().cpu().numpy().copy() for name, p in named}
    frozen = _FrozenRandomness(seed_of(options), _cuda_devices([p for _, p in named]))

    def loss(arrays: Dict[str, np.ndarray]) -> torch.Tensor:
        with torch.no_grad():
            for name, p in named:
                p.copy_(torch.from_numpy(arrays[name]))
            for b, value in buffers:
                b.copy_(value)
        with frozen():
            value = loss_fn(module(*batch))
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise TypeError(f"loss_fn returned {shape}, expected a one-element tensor (reduce the loss, e.g. .mean())")
        return value

    def cost(arrays: Dict[str, np.ndarray]) -> float:
        with torch.no_grad():
            return float(loss(arrays).item())

    def grad(arrays: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        with torch.enable_grad():
            value = loss(arrays)
            if not value.requires_grad:
                return {name: np.zeros_like(arrays[name]) for name, _ in named}
            gradients = torch.autograd.grad(value, [p for _, p in named], allow_unused=True)
        return {name: _numpy(g, arrays[name]) for (name, _), g in zip(named, gradients)}

    try:
        require_repeatable(cost, params, "loss_fn(module(*batch))")
        return check(cost, grad, params, **options)
    finally:
        with torch.no_grad():
            for (_, p), value in zip(named, saved):
                p.copy_(value)
            for b, value in buffers:
                b.copy_(value)


__all__ = ["gradcheck", "check_function", "check_module", "GradcheckError"]
