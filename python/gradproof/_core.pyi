"""Type stubs of the extension module built from crates/python (the engine binding)."""

from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np

def check(
    cost: Callable[[Any], Any],
    grad: Callable[[Any], List[np.ndarray]],
    names: Sequence[str],
    arrays: Sequence[np.ndarray],
    single: bool,
    mode: str,
    method: str,
    step: Optional[str],
    seed: int,
    precision: Optional[str],
    points: int,
) -> Tuple[str, str, List[str]]: ...
