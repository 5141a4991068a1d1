"""Type stubs of the extension module built from crates/python (the engine binding)."""

import os
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

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
    progress: Optional[Callable[[int, int], Any]] = None,
) -> Tuple[str, str, List[str]]: ...

class FraudModel:
    """A trained fraud model (a model file of ``gradproof train``); see gradproof.fraud."""

    @staticmethod
    def load(path: Union[str, "os.PathLike[str]"]) -> "FraudModel": ...
    @property
    def path(self) -> str: ...
    @property
    def schema(self) -> str: ...
    @property
    def threshold(self) -> float: ...
    @property
    def columns(self) -> List[str]: ...
    @property
    def label_column(self) -> str: ...
    @property
    def features(self) -> List[str]: ...
    @property
    def sizes(self) -> List[int]: ...
    @property
    def training(self) -> str: ...
    def score_stream(self, stream: Any, data: str) -> Tuple[np.ndarray, np.ndarray]: ...
