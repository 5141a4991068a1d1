"""What the framework adapters (``gradproof.torch``, ``gradproof.jax``) share: the seeded random
cotangent that turns a non-scalar output into a scalar cost ``⟨v, output⟩``, and the guard that a
cost is the same at the same parameters (randomness the adapter could not freeze). Knows nothing
of torch or jax (numpy only) nor of how a check runs.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np


def seed_of(options: Mapping[str, Any]) -> int:
    """The check's seed among :func:`gradproof.check`'s keywords, which also seeds the
    cotangents and the framework's generators (a bad one is left for ``check`` to refuse with
    its message)."""
    seed = options.get("seed", 0)
    return int(seed) if isinstance(seed, (int, np.integer)) and 0 <= seed < 2**64 else 0


def cotangent(seed: int, output: int, shape: Sequence[int], dtype: Any) -> np.ndarray:
    """The random direction ``v`` that weights output number ``output``: standard normal values
    of ``shape`` in ``dtype``, from a private generator seeded by ``(seed, output)`` (the user's
    random state is not touched; the same seed gives the same ``v``)."""
    rng = np.random.default_rng([int(seed), int(output)])
    return np.asarray(rng.standard_normal(tuple(shape)), dtype=dtype)


def require_repeatable(cost: Callable[[Any], float], params: Mapping[str, np.ndarray], what: str) -> None:
    """Raises ``ValueError`` unless ``cost(params)`` gives the same value twice, to within the
    rounding of the parameters' coarsest dtype: a cost that changes between calls at the same
    point (randomness the adapter could not freeze) makes finite differences meaningless.
    ``what`` names the cost in the message."""
    first, second = float(cost(params)), float(cost(params))
    resolution = max(np.finfo(a.dtype).eps for a in params.values())
    if abs(first - second) > np.sqrt(resolution) * max(abs(first), abs(second)):
        raise ValueError(
            f"{what} gave {first!r} then {second!r} at the same parameters, even with the "
            "framework's random generator reseeded before each call: randomness gradproof cannot "
            "freeze (numpy's or Python's random module, a nondeterministic kernel) changes it "
            "between calls. Make it deterministic for the check (e.g. module.eval(), or seed that "
            "generator inside the function)."
        )


__all__ = ["seed_of", "cotangent", "require_repeatable"]
