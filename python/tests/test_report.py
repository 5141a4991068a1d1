"""The report API: verdict, passed, failing, tensors by name with difference, threshold, verdict
and worst, evaluations, str (the CLI's table), the HTML table, to_dict, assert_gradient."""

import json

import numpy as np
import pytest

import gradproof
from notebook import cost_and_grad, gradient_check_n_test_case


@pytest.fixture(scope="module")
def reports():
    x, y, parameters = gradient_check_n_test_case()
    return {fixed: gradproof.check(*cost_and_grad(x, y, fixed), parameters, step=1e-7) for fixed in (False, True)}


def test_verdicts_and_failing(reports):
    buggy, fixed = reports[False], reports[True]
    assert (buggy.verdict, buggy.passed, buggy.failing) == ("fail", False, ["db1", "dW2"])
    assert (fixed.verdict, fixed.passed, fixed.failing) == ("pass", True, [])


def test_tensors_by_name(reports):
    tensors = reports[False].tensors
    assert list(tensors) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    w2 = tensors["W2"]
    assert tensors["dW2"] is w2  # the gradient's name finds the same row
    assert (w2.name, w2.gradient_name, w2.shape, w2.verdict) == ("W2", "dW2", (3, 5), "fail")
    assert w2.difference > w2.threshold and tensors["W1"].difference <= tensors["W1"].threshold
    assert (w2.checked, w2.agree + w2.disagree) == (15, 15)
    worst = w2.worst
    assert isinstance(worst, gradproof.Worst) and len(worst.index) == 2
    assert abs(worst.analytic - worst.numeric) > worst.bound
    assert worst == w2.top[0] and len(w2.top) <= 5
    with pytest.raises(KeyError, match="no tensor named 'W9'"):
        tensors["W9"]


def test_evaluations(reports):
    # Two cost evaluations per parameter at least, plus J(θ) and the noise measurement.
    assert reports[True].evaluations > 2 * 47
    assert reports[True].evaluations == reports[True].to_dict()["evaluations"]


def test_str_is_the_cli_table(reports):
    text = str(reports[False])
    lines = text.splitlines()
    assert lines[0].startswith("exhaustive check, central differences, step fixed 1e-7: 47 parameters")
    assert lines[2].split()[:3] == ["gradient", "shape", "elements"]
    assert any(line.split()[0] == "dW2" and "WRONG" in line for line in lines[3:])
    assert lines[-1].startswith("the gradient is WRONG in db1, dW2 (overall difference 2.850932e-1")
    assert "pass" in repr(reports[True]) and "dW2" in repr(reports[False])


def test_html_table(reports):
    page = reports[False]._repr_html_()
    assert page.count("<tr>") == 7 and "<th>gradient</th>" in page
    assert "dW2" in page and ">fail<" in page and "worst element (by error/bound): analytic vs numeric" in page


def test_to_dict_is_the_engines_json_with_a_verdict(reports):
    data = reports[False].to_dict()
    assert data["verdict"] == "fail"
    assert [t["gradient_name"] for t in data["tensors"] if not t["passed"]] == ["db1", "dW2"]
    json.dumps(data)  # plain JSON types
    data["tensors"].clear()
    assert len(reports[False].to_dict()["tensors"]) == 6  # a copy


def test_assert_gradient_names_the_wrong_elements_and_carries_the_table():
    x, y, parameters = gradient_check_n_test_case()
    with pytest.raises(AssertionError) as raised:
        gradproof.assert_gradient(*cost_and_grad(x, y, False), parameters, step=1e-7)
    message = str(raised.value)
    assert message.startswith("gradient check failed: db1, dW2 are wrong\n  db1[")
    assert "\n  dW2[" in message and "analytic" in message and "numeric" in message
    assert "worst element (by error/bound): analytic vs numeric" in message  # the table
    report = gradproof.assert_gradient(*cost_and_grad(x, y, True), parameters, mode="sampled=3")
    assert report.passed


def test_single_array_report():
    report = gradproof.check(lambda t: float(t @ t), lambda t: 2 * t, np.array([1.0, -2.0]))
    assert report.tensors["theta"].gradient_name == "dtheta"


def test_the_readme_python_quick_start_runs_as_written(capsys):
    import pathlib
    import re

    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"## Python quick start.*?```python\n(.*?)```", readme, re.S).group(1)
    with pytest.raises(AssertionError, match=r"gradient check failed: db is wrong\n  db\["):
        exec(compile(block, "README.md", "exec"), {})
    assert capsys.readouterr().out.startswith("fail ['db']\n")
