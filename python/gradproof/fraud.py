"""The fraud model of ``gradproof train``, in Python: load the CLI's model file and score payments
held in memory — a pandas ``DataFrame``, a pyarrow ``RecordBatch`` or ``Table`` (or any object
with an Arrow C stream, ``__arrow_c_stream__``: a polars frame, a ``RecordBatchReader``), or a
dict of numpy columns — with the CLI's features, checks and numbers: the probabilities are
identical, to the bit, to ``gradproof score`` on a file of the same rows. Rows go to Rust as
Arrow columns (no copy for Arrow data) and are scored with the GIL released, so threads (or
Spark's ``mapInArrow``: docs/spark.md) score in parallel::

    import gradproof.fraud

    model = gradproof.fraud.FraudModel.load("model.json")
    probability, flag = model.score(df)     # float64 and bool numpy arrays, one per row

Columns are found by name, as in the schema's CSV files (``step``, ``type``, ``amount``,
``oldbalanceOrg`` … for PaySim; ``Time``, ``V1`` … ``V28``, ``Amount`` for card); extra
columns are ignored; the label (``isFraud``, ``Class``) is checked when present and never used.
A bad value is a ``ValueError`` naming the column and the 1-based row:
``DataFrame: column `amount`, row 3: must not be negative, found -2``.

Needs pyarrow (``pip install pyarrow``; pandas only to score a DataFrame).

>>> import numpy as np, gradproof.fraud
>>> gradproof.fraud.to_arrow({"step": np.array([1, 2]), "type": np.array(["PAYMENT", "DEBIT"])}).num_rows
2
"""

from typing import Any, List, NamedTuple, Optional

import numpy as np

from . import _core


class Scores(NamedTuple):
    """The scores of the rows, in their order: ``probability`` (float64) and ``flag`` (bool:
    the probability is at least the model's threshold). Unpacks as ``probability, flag``.

    >>> import numpy as np
    >>> probability, flag = Scores(np.array([0.9, 0.1]), np.array([True, False]))
    >>> flag.tolist()
    [True, False]
    """

    probability: np.ndarray
    flag: np.ndarray


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError as error:  # pragma: no cover - the suites require pyarrow
        raise ImportError(
            "gradproof.fraud needs pyarrow to hand rows to the model: pip install pyarrow"
        ) from error
    return pyarrow


def _kind(data: Any) -> str:
    """What ``data`` is, for error messages: ``DataFrame``, ``RecordBatch``, ``Table``, ``dict``."""
    return type(data).__name__


def to_arrow(data: Any) -> Any:
    """``data`` as an object with an Arrow C stream (``__arrow_c_stream__``), the form the model
    scores: a pyarrow ``Table`` or ``RecordBatchReader`` as it is, a ``RecordBatch`` as a table of
    one batch, a pandas ``DataFrame`` through ``pyarrow.Table.from_pandas`` (its index dropped;
    pandas' NaN is a missing value there, reported as null), a dict of numpy arrays (or lists)
    through ``pyarrow.table`` (NaN stays NaN). Any other object with ``__arrow_c_stream__`` is
    returned as it is.

    >>> import pyarrow as pa
    >>> to_arrow(pa.record_batch({"amount": [1.5, 2.0]})).column_names
    ['amount']

    Raises ``TypeError`` for anything else, naming its type.
    """
    pa = _pyarrow()
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, dict):
        return pa.table({str(name): pa.array(np.asarray(column)) for name, column in data.items()})
    if hasattr(data, "__arrow_c_stream__"):
        return data
    if type(data).__module__.split(".")[0] == "pandas" and hasattr(data, "columns"):
        return pa.Table.from_pandas(data, preserve_index=False)
    raise TypeError(
        f"cannot score a {_kind(data)}: expected a pandas DataFrame, a pyarrow RecordBatch or "
        "Table (or another object with __arrow_c_stream__), or a dict of numpy columns"
    )


class FraudModel:
    """A trained fraud model: a model file of ``gradproof train``, loaded with :meth:`load`.

    Immutable: one model may score from several threads at once.
    """

    def __init__(self, core: "_core.FraudModel") -> None:
        self._core = core

    @classmethod
    def load(cls, path: Any) -> "FraudModel":
        """Reads and validates the model file at ``path`` (a ``str`` or ``os.PathLike``).

        Raises ``FileNotFoundError`` (or another ``OSError``) when it cannot be read and
        ``ValueError`` when it is not a valid model file (truncated, edited — its checksum —,
        another format version, weights that do not fit), each naming the file.

        >>> FraudModel.load("no/such/model.json")
        Traceback (most recent call last):
        ...
        FileNotFoundError: no/such/model.json: No such file or directory (os error 2)
        """
        return cls(_core.FraudModel.load(path))

    @property
    def path(self) -> str:
        """The path the model was loaded from."""
        return self._core.path

    @property
    def schema(self) -> str:
        """The payment schema the model reads: ``"paysim"`` or ``"card"``."""
        return self._core.schema

    @property
    def threshold(self) -> float:
        """A row is flagged when its probability is at least this."""
        return self._core.threshold

    @property
    def columns(self) -> List[str]:
        """The columns a row must have, named as in the schema's files."""
        return list(self._core.columns)

    @property
    def label_column(self) -> str:
        """The optional label column (``isFraud`` or ``Class``): checked when present, not used."""
        return self._core.label_column

    @property
    def features(self) -> List[str]:
        """The names of the engineered features the network reads, in order."""
        return list(self._core.features)

    @property
    def sizes(self) -> List[int]:
        """The network's layer sizes, the input first."""
        return list(self._core.sizes)

    def score(self, data: Any, *, name: Optional[str] = None) -> Scores:
        """The probability of fraud and the flag of every row of ``data`` (see :func:`to_arrow`
        for what it may be), in order, as ``gradproof score`` computes them.

        ``name`` stands for the data in error messages (by default its type, ``DataFrame``).
        Raises ``ValueError`` for a missing or duplicated column, a column whose type cannot hold
        its values (``column `amount`: has type string, expected numbers …``), or a bad value
        (null, NaN or infinite, negative ``step``/``amount``/``Time``/``Amount``, an unknown
        ``type``, a label other than 0 or 1), naming the column and the 1-based row.
        """
        stream = to_arrow(data).__arrow_c_stream__()
        probability, flag = self._core.score_stream(stream, name or _kind(data))
        return Scores(probability, flag)

    def __repr__(self) -> str:
        return repr(self._core)


__all__ = ["FraudModel", "Scores", "to_arrow"]
