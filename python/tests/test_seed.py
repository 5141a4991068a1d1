"""The seed notebook in Python: its numpy network, checked through gradproof.check, gives the
notebook's numbers: the buggy backward pass fails naming dW2 and db1 with the notebook's
difference 0.285093156781 (fixed step 1e-7), the corrected pass passes."""

import numpy as np
import pytest

import gradproof
from notebook import (
    cost_and_grad,
    forward_propagation_n,
    backward_propagation_n,
    gradient_check_n,
    gradient_check_n_test_case,
)

NOTEBOOK_DIFFERENCE = 0.285093156781


@pytest.fixture(scope="module")
def case():
    return gradient_check_n_test_case()


def test_the_test_case_is_the_notebooks(case):
    x, y, parameters = case
    assert x.shape == (4, 3) and [p.shape for p in parameters.values()] == [
        (5, 4), (5, 1), (3, 5), (3, 1), (1, 3), (1, 1)]
    # numpy's legacy RNG, seed 1: randn's first draw is 1.6243453636632417.
    assert x[0, 0] == 1.6243453636632417
    # J as the Rust reproduction computes it (crates/fraudnet's notebook test).
    assert forward_propagation_n(x, y, parameters)[0] == pytest.approx(2.407833389834357, abs=1e-12)


def test_the_notebooks_own_loop_prints_its_difference(case):
    x, y, parameters = case
    _, cache = forward_propagation_n(x, y, parameters)
    gradients = backward_propagation_n(x, y, cache)
    assert gradient_check_n(parameters, gradients, x, y) == pytest.approx(NOTEBOOK_DIFFERENCE, abs=1e-9)


def test_the_buggy_pass_fails_naming_dw2_and_db1(case):
    x, y, parameters = case
    cost, grad = cost_and_grad(x, y, fixed=False)
    report = gradproof.check(cost, grad, parameters, step=1e-7)
    assert report.verdict == "fail"
    assert sorted(report.failing) == ["dW2", "db1"]
    assert report.difference == pytest.approx(NOTEBOOK_DIFFERENCE, abs=1e-9)
    # dW2 is twice the truth, db1 four times: the per-tensor differences are 1/3 and 3/5.
    assert report.tensors["W2"].difference == pytest.approx(1 / 3, abs=1e-6)
    assert report.tensors["b1"].difference == pytest.approx(3 / 5, abs=1e-6)
    worst = report.tensors["W2"].worst
    assert worst.analytic == pytest.approx(2 * worst.numeric, rel=1e-6)


def test_the_corrected_pass_passes(case):
    x, y, parameters = case
    cost, grad = cost_and_grad(x, y, fixed=True)
    report = gradproof.check(cost, grad, parameters, step=1e-7)
    assert report.verdict == "pass", report
    assert report.failing == []
    # Above the notebook's 1e-7 at this step, and explained as roundoff (the Rust run's figure).
    assert report.difference == pytest.approx(1.189e-7, rel=1e-3)
    gradproof.assert_gradient(cost, grad, parameters)  # the default step passes too


def test_the_caller_parameters_are_left_untouched(case):
    x, y, parameters = case
    before = {k: v.copy() for k, v in parameters.items()}
    cost, grad = cost_and_grad(x, y, fixed=True)
    gradproof.check(cost, grad, parameters)
    for name, value in parameters.items():
        np.testing.assert_array_equal(value, before[name])
