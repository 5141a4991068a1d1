"""gradproof for JAX: :func:`check_grads` checks the gradient ``jax.vjp`` computes for a function
of a pytree of arrays (so a ``custom_vjp`` rule is what is checked) against finite differences,
with each leaf named by its path (``['layer1']['w']``); :func:`assert_grads` is the same as one
line of a test.

Owns the translation between pytrees and the named numpy arrays of :func:`gradproof.check`.
Knows nothing of how a check runs. Importing ``gradproof`` does not import this module (nor jax).

>>> import jax.numpy as jnp, gradproof.jax
>>> params = {"w": jnp.array([0.5, -1.0, 2.0]), "b": jnp.array(0.1)}
>>> gradproof.jax.check_grads(lambda p: jnp.sum(jnp.tanh(p["w"] + p["b"]) ** 2), (params,)).verdict
'pass'
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from gradproof._adapters import cotangent, require_repeatable, seed_of
from gradproof._check import assert_gradient, check
from gradproof._report import Report

#: The leaf dtypes checked (the engine perturbs float32 and float64 parameters exactly).
CHECKED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _leaf_names(paths: Sequence[Any], single: bool) -> List[str]:
    """Each leaf's path as ``jax.tree_util.keystr`` writes it, without the leading ``[0]`` when
    ``f`` takes one argument (``['layer1']['w']``); a bare array as the one argument is ``[0]``."""
    names = []
    for path in paths:
        inside = path[1:] if single else path
        names.append(jax.tree_util.keystr(tuple(inside)) if inside else jax.tree_util.keystr(tuple(path)))
    return names


def _problem(
    f: Callable[..., Any], args: Sequence[Any], seed: int, jit: bool
) -> Tuple[Callable[[Dict[str, np.ndarray]], float], Callable[[Dict[str, np.ndarray]], Dict[str, np.ndarray]], Dict[str, np.ndarray]]:
    """The named float leaves of ``args`` as numpy arrays, and ``cost``/``grad`` over them:
    ``cost = Σ ⟨v_l, f(*args)_l⟩`` over the output's leaves with seeded random cotangents ``v_l``
    (``v = 1`` for a scalar output), ``grad`` its gradient by ``jax.vjp``."""
    if not isinstance(args, (tuple, list)):
        raise TypeError(
            f"args is a {type(args).__name__}, expected a tuple of f's positional arguments "
            "(e.g. (params,) for f(params))"
        )
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tuple(args))
    if not leaves:
        raise ValueError("args has no arrays: there is nothing to check")
    paths = [path for path, _ in leaves]
    values = [jnp.asarray(leaf) for _, leaf in leaves]  # in JAX's dtype (float32 without x64)
    checked = [k for k, v in enumerate(values) if jnp.issubdtype(v.dtype, jnp.floating)]
    if not checked:
        raise ValueError("args has no floating-point arrays: there is nothing to check")
    all_names = _leaf_names(paths, len(args) == 1)
    names = [all_names[k] for k in checked]
    for k in checked:
        if np.dtype(values[k].dtype) not in CHECKED_DTYPES:
            raise TypeError(
                f"leaf {all_names[k]} is {values[k].dtype}: gradproof.jax checks float32 and float64 "
                "leaves (for a float16/bfloat16 model, check it in float32 with precision='f16' or 'bf16')"
            )

    def call(checked_values: List[Any]) -> Any:
        current = list(values)
        for k, value in zip(checked, checked_values):
            current[k] = value
        return f(*jax.tree_util.tree_unflatten(treedef, current))

    shapes = jax.eval_shape(call, [values[k] for k in checked])
    out_leaves, _ = jax.tree_util.tree_flatten(shapes)
    for o, out in enumerate(out_leaves):
        if np.dtype(out.dtype) not in CHECKED_DTYPES:
            raise TypeError(f"f returned a {out.dtype} array (output leaf {o}), expected float32 or float64")
    scalar = len(out_leaves) == 1 and out_leaves[0].shape == ()
    weights = None if scalar else [
        jnp.asarray(cotangent(seed, o, out.shape, np.dtype(out.dtype))) for o, out in enumerate(out_leaves)
    ]

    def scalar_cost(checked_values: List[Any]) -> Any:
        returned = jax.tree_util.tree_leaves(call(checked_values))
        if weights is None:
            return returned[0]
        return sum(jnp.vdot(v, r) for v, r in zip(weights, returned))

    def vjp(checked_values: List[Any]) -> List[Any]:
        value, pullback = jax.vjp(scalar_cost, checked_values)
        (gradients,) = pullback(jnp.ones_like(value))
        return list(gradients)

    cost_fn, vjp_fn = (jax.jit(scalar_cost), jax.jit(vjp)) if jit else (scalar_cost, vjp)
    # JAX's configuration contexts are thread-local and the engine calls back on a thread of
    # its own: each call re-enters the caller's x64 setting (else float64 leaves would be
    # truncated to float32 there).
    x64 = bool(jax.config.read("jax_enable_x64"))  # type: ignore[no-untyped-call,unused-ignore]

    def cost(arrays: Dict[str, np.ndarray]) -> float:
        with jax.enable_x64(x64):
            return float(cost_fn([arrays[name] for name in names]))

    def grad(arrays: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        with jax.enable_x64(x64):
            gradients = vjp_fn([arrays[name] for name in names])
            return {name: np.asarray(g) for name, g in zip(names, gradients)}

    params = {name: np.array(values[k]) for name, k in zip(names, checked)}
    require_repeatable(cost, params, "f")
    return cost, grad, params


def check_grads(f: Callable[..., Any], args: Sequence[Any], *, jit: bool = True, **options: Any) -> Report:
    """Checks the gradient of ``f(*args)`` that ``jax.vjp`` computes (``custom_vjp`` rules
    included) against finite differences of ``f``, for every floating-point leaf of the pytree
    ``args`` (a tuple of ``f``'s positional arguments, like ``jax.test_util.check_grads``).

    A scalar output is checked as it is; an array (or a pytree of arrays) becomes the scalar
    ``Σ ⟨v_l, output_l⟩`` with seeded random cotangents ``v_l`` in the output's dtype, whose
    gradient is the VJP with ``v``. Leaves are named by path (``['layer1']['w']``, or
    ``[1]['w']`` when ``f`` takes several arguments) and keep JAX's dtype: float32 by default,
    float64 with ``jax_enable_x64``; the precision follows (see :func:`gradproof.check`).
    Integer leaves are held fixed. ``f`` runs under ``jax.jit`` unless ``jit=False`` (for a
    function jit cannot trace). ``options`` are :func:`gradproof.check`'s keywords.

    >>> import jax, jax.numpy as jnp, gradproof.jax
    >>> @jax.custom_vjp
    ... def softplus(x):
    ...     return jnp.logaddexp(0.0, x)
    >>> softplus.defvjp(lambda x: (softplus(x), x),
    ...                 lambda x, g: (g * jnp.tanh(x),))        # wrong: g * sigmoid(x)
    >>> gradproof.jax.check_grads(softplus, (jnp.linspace(-2.0, 2.0, 5),)).failing
    ['d[0]']
    """
    cost, grad, params = _problem(f, args, seed_of(options), jit)
    return check(cost, grad, params, **options)


def assert_grads(f: Callable[..., Any], args: Sequence[Any], *, jit: bool = True, **options: Any) -> Report:
    """:func:`check_grads` as one line of a test: ``AssertionError`` naming the wrong leaves and
    elements, with the table, unless the gradient passes (see :func:`gradproof.assert_gradient`);
    returns the report when it does."""
    cost, grad, params = _problem(f, args, seed_of(options), jit)
    return assert_gradient(cost, grad, params, **options)


__all__ = ["check_grads", "assert_grads"]
