"""The report of a check, as Python objects over the engine's JSON: the verdict, one
:class:`TensorReport` per tensor (by name), the worst elements, the CLI's table (``str``), an HTML
table for Jupyter and ``to_dict()``. Only reads what the engine computed; knows nothing of how a
check runs.
"""

from __future__ import annotations

import copy
import html
import math
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Tuple

#: The verdicts a report or a tensor can have ("inconclusive" comes with the engine's verdicts).
VERDICTS = ("pass", "fail", "inconclusive")


def _float(value: Any) -> float:
    """A JSON number; the engine writes NaN and infinities as null."""
    return math.nan if value is None else float(value)


def _floor(threshold: float) -> float:
    """The relative gradient error against the true gradient, ``‖g − g*‖/‖g*‖``, that a
    relative-difference threshold ``t`` cannot let through: ``(1 + 1/8)·2t/(1 − t)`` (the 1/8:
    the numeric gradient's own error, within its bound), infinite when ``t ≥ 1`` (the engine's
    arithmetic, ``gradproof::TensorReport::detection_floor``)."""
    return math.inf if not threshold < 1.0 else (1.0 + 1.0 / 8.0) * 2.0 * threshold / (1.0 - threshold)


class Worst(NamedTuple):
    """One element of a gradient: where it is, both values and the numeric value's error bound.

    >>> w = Worst(index=(1, 3), analytic=0.53, numeric=0.27, bound=3e-10)
    >>> abs(w.analytic - w.numeric) > w.bound
    True
    """

    # The field the API names `index` shadows `tuple.index` (a method no caller of a `Worst`
    # needs); type checkers flag the override, which is deliberate.
    index: Tuple[int, ...]  # type: ignore[assignment]
    """Row-major multi-index inside the tensor (``()`` for a scalar)."""
    analytic: float
    """The hand-written gradient's value."""
    numeric: float
    """The finite-difference value."""
    bound: float
    """How far ``numeric`` may be from the truth through roundoff and truncation alone."""


class TensorReport:
    """One parameter tensor's row of a :class:`Report` (``report.tensors["W2"]``).

    ``difference`` is the notebook's relative difference ``‖g − ĝ‖ / (‖g‖ + ‖ĝ‖)`` over the
    tensor, ``threshold`` what roundoff and truncation alone can produce; ``verdict`` is
    ``"fail"`` when ``difference > threshold``, else ``"pass"``, or ``"inconclusive"`` when the
    whole check is (the table's "undecided"). ``worst`` is the element with the largest error
    (``None`` for an empty tensor), ``top`` the few largest, worst first.
    """

    def __init__(self, data: Mapping[str, Any], check_verdict: Optional[str] = None) -> None:
        self._data = data
        self.name: str = data["name"]
        self.gradient_name: str = data["gradient_name"]
        self.shape: Tuple[int, ...] = tuple(data["shape"])
        self.checked: int = data["checked"]
        #: Elements whose own derivative was compared (in directional mode, those a bisection
        #: probe saw alone), and the directional derivatives spent on the tensor.
        self.examined: int = data.get("examined", data["checked"])
        self.probes: int = data.get("probes", 0)
        self.agree: int = data["agree"]
        self.disagree: int = data["disagree"]
        self.unresolved: int = data["unresolved"]
        #: Elements at a kink of the cost, checked against the interval between their one-sided
        #: derivatives (any valid subgradient passes), and those found outside it (wrong).
        self.kink: int = data["kink"]
        self.kink_outside: int = data.get("kink_outside", 0)
        #: The detection floor at the kink elements: an error confined to them (its distance from
        #: their intervals), relative to the tensor's gradient, may pass up to this; ``None``
        #: without kink elements. ``detection_floor`` is the floor away from kinks.
        kink_floor = data.get("kink_floor")
        self.kink_floor: Optional[float] = None if kink_floor is None else _float(kink_floor)
        self.difference: float = _float(data["difference"])
        self.threshold: float = _float(data["threshold"])
        self.max_abs_error: float = _float(data["max_abs_error"])
        self.top: List[Worst] = [
            Worst(tuple(w["index"]), _float(w["analytic"]), _float(w["numeric"]), _float(w["bound"]))
            for w in data["top"]
        ]
        self.passed: bool = bool(data["passed"])
        verdict = data.get("verdict")
        if verdict not in VERDICTS:
            # A tensor that agrees in an inconclusive check is undecided, as the table says.
            undecided = check_verdict == "inconclusive"
            verdict = "fail" if not self.passed else "inconclusive" if undecided else "pass"
        self.verdict: str = verdict

    @property
    def detection_floor(self) -> float:
        """The smallest relative error ``‖g − g*‖/‖g*‖`` of this tensor's gradient the check is
        sure to catch: ``(1 + 1/8)·2t/(1 − t)`` for its ``threshold`` t (infinite when t ≥ 1)."""
        return _floor(self.threshold)

    @property
    def worst(self) -> Optional[Worst]:
        """The element with the largest error, or ``None`` if none was compared."""
        return self.top[0] if self.top else None

    def __repr__(self) -> str:
        return (
            f"TensorReport({self.gradient_name}, shape={self.shape}, verdict={self.verdict!r}, "
            f"difference={self.difference:.3e}, threshold={self.threshold:.2e})"
        )


class _Tensors(Mapping[str, TensorReport]):
    """The tensors of a report in layout order, by parameter name (``"W2"``); the gradient's
    name (``"dW2"``) finds the same row."""

    def __init__(self, rows: List[TensorReport]) -> None:
        self._rows = {row.name: row for row in rows}
        self._by_gradient = {row.gradient_name: row for row in rows}

    def __getitem__(self, name: str) -> TensorReport:
        if name in self._rows:
            return self._rows[name]
        if name in self._by_gradient:
            return self._by_gradient[name]
        raise KeyError(f"no tensor named {name!r} (the report has: {', '.join(self._rows)})")

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return repr(list(self._rows.values()))


class Report:
    """What :func:`gradproof.check` found.

    >>> import numpy as np, gradproof
    >>> theta = np.array([0.5, -1.0, 2.0])
    >>> report = gradproof.check(lambda t: np.sum(t ** 3), lambda t: 3 * t ** 2, theta)
    >>> report.verdict, report.passed, report.failing
    ('pass', True, [])
    >>> report.tensors["theta"].verdict
    'pass'

    ``.precision`` is the precision the cost was taken to compute in and ``.detection_floor`` the
    smallest relative gradient error the check is sure to catch; an ``"inconclusive"`` verdict
    says why in ``.reason``. ``str(report)`` is the CLI's table, ``report.to_dict()`` the
    engine's JSON as a dict (with ``"verdict"``, ``"precision"``, ``"detection_floor"``), and
    Jupyter shows ``report`` as an HTML table.
    """

    def __init__(self, data: Dict[str, Any], table: str, failure_lines: List[str]) -> None:
        self._data = data
        self._table = table
        self._failure_lines = list(failure_lines)
        self.evaluations: int = data["evaluations"]
        self.difference: float = _float(data["difference"])
        self.cost: float = _float(data["cost"])
        self.seconds: float = _float(data["seconds"])
        #: The precision the cost is computed in, as the engine took it (declared, or recognised
        #: from the cost's values): ``"f64"``, ``"f32"``, ``"f16"`` or ``"bf16"``.
        self.precision: str = data.get("precision", "f64")
        #: The smallest relative error ``‖g − ĝ‖/‖ĝ‖`` of the whole gradient the check is sure
        #: to catch (a smaller one may pass unseen); infinite when the noise swamps everything.
        floor = data.get("detection_floor")
        self.detection_floor: float = math.inf if floor is None else float(floor)
        #: The points checked (1 unless ``check(points=n)``), and the one this report is about:
        #: 0 for the given parameters, ``k`` for the k-th random point near them (the first
        #: failing point, else the first inconclusive one, else 0).
        self.points: int = data.get("points", 1)
        self.point: int = data.get("point", 0)
        #: Why the verdict is inconclusive and what to change (``None`` otherwise).
        self.reason: Optional[str] = data.get("reason")
        verdict = data.get("verdict")
        if verdict not in VERDICTS:
            verdict = "pass" if all(t["passed"] for t in data["tensors"]) else "fail"
        self.verdict: str = verdict
        self.tensors: Mapping[str, TensorReport] = _Tensors([TensorReport(t, verdict) for t in data["tensors"]])

    @property
    def passed(self) -> bool:
        """True when every tensor's gradient agrees with the finite differences."""
        return self.verdict == "pass"

    @property
    def failing(self) -> List[str]:
        """The gradient names (``"dW2"``) of the tensors whose verdict is ``"fail"``, in order."""
        return [t.gradient_name for t in self.tensors.values() if t.verdict == "fail"]

    @property
    def failure_lines(self) -> List[str]:
        """One line per failing tensor naming its worst element; empty when the check passed."""
        return list(self._failure_lines)

    def to_dict(self) -> Dict[str, Any]:
        """The engine's JSON report as a dict (a copy), with ``"verdict"`` set."""
        data = copy.deepcopy(self._data)
        data["verdict"] = self.verdict
        return data

    def __str__(self) -> str:
        return self._table

    def __repr__(self) -> str:
        wrong = f": {', '.join(self.failing)}" if self.failing else ""
        return f"<gradproof.Report {self.verdict}{wrong} ({len(self.tensors)} tensors, {self.evaluations} evaluations)>"

    def _repr_html_(self) -> str:
        """The table for Jupyter."""
        header = [
            "gradient", "shape", "elements", "difference", "threshold", "max |error|", "verdict",
            "worst element (by error/bound): analytic vs numeric",
        ]
        rows = []
        for t in self.tensors.values():
            worst = t.worst
            where = "" if worst is None else (
                f"{t.gradient_name}{list(worst.index) if worst.index else ''}: "
                f"{worst.analytic:.9f} vs {worst.numeric:.9f}"
            )
            colour = "" if t.verdict == "pass" else ' style="color:#b00020;font-weight:bold"'
            cells = [
                t.gradient_name, str(list(t.shape)), f"{t.examined} examined, {t.disagree} wrong", f"{t.difference:.3e}",
                f"{t.threshold:.2e}", f"{t.max_abs_error:.2e}", t.verdict, where,
            ]
            rows.append(
                "<tr>" + "".join(
                    f"<td{colour if k == 6 else ''}>{html.escape(c)}</td>" for k, c in enumerate(cells)
                ) + "</tr>"
            )
        summary = html.escape(self._table.rstrip().splitlines()[-1])
        reason = "" if self.reason is None else f"<p>{html.escape(self.reason)}</p>"
        at = f"; point {self.point} of {self.points}" if self.points > 1 else ""
        return (
            f"<div class=\"gradproof-report\"><p><b>gradproof: {self.verdict}</b> "
            f"({self.evaluations} evaluations; cost computed in {self.precision}; detection floor: "
            f"a relative gradient error of {self.detection_floor:.1e}{at})</p>{reason}<table><thead><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in header)
            + "</tr></thead><tbody>" + "".join(rows) + f"</tbody></table><p>{summary}</p></div>"
        )
