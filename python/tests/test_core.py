"""The core API: correct gradients pass (the false-alarm count), a catalogue of injected bugs is
caught and named (the catch count), in the dict and the single-array forms, with ``dW`` or
``W`` keys, across modes, methods and steps."""

import numpy as np
import pytest

import gradproof
from conftest import COUNTS
from notebook import cost_and_grad, gradient_check_n_test_case


def tanh_net(seed: int):
    """J = Σ tanh(W x + b)² / 2 + ‖V‖²: a small smooth model with a closed-form gradient."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 6))
    params = {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal((3, 1)),
              "V": rng.standard_normal((2, 2))}

    def cost(p):
        h = np.tanh(p["W"] @ x + p["b"])
        return 0.5 * np.sum(h ** 2) + np.sum(p["V"] ** 2)

    def grad(p):
        h = np.tanh(p["W"] @ x + p["b"])
        dz = h * (1 - h ** 2)
        return {"dW": dz @ x.T, "db": dz.sum(axis=1, keepdims=True), "dV": 2 * p["V"]}

    return cost, grad, params


CORRECT_SEEDS = range(12)


@pytest.mark.parametrize("mode", ["exhaustive", "sampled", "sampled=2", "directional", "directional=1"])
@pytest.mark.parametrize("method", ["forward", "central", "central4", "richardson"])
def test_correct_gradients_pass_in_every_mode_and_method(mode, method):
    cost, grad, params = tanh_net(0)
    report = gradproof.check(cost, grad, params, mode=mode, method=method)
    assert report.verdict == "pass", report


@pytest.mark.parametrize("step", [None, 1e-6, "scaled", "scaled=2", "auto"])
def test_every_step_rule_is_accepted(step):
    cost, grad, params = tanh_net(1)
    assert gradproof.check(cost, grad, params, step=step).passed


def test_no_false_alarm_over_random_models():
    passed = 0
    for seed in CORRECT_SEEDS:
        cost, grad, params = tanh_net(seed)
        passed += gradproof.check(cost, grad, params, seed=seed).passed
        passed += gradproof.check(cost, grad, params, mode="directional", seed=seed).passed
    COUNTS["correct gradients passed (no false alarm)"] = f"{passed} of {2 * len(CORRECT_SEEDS)}"
    assert passed == 2 * len(CORRECT_SEEDS)


def _one_element(value, by):
    value = value.copy()
    value.flat[value.size // 2] += by * max(abs(value.flat[value.size // 2]), 1e-3)
    return value


#: Injected bugs: (what, gradient tensor it breaks, the wrong gradient from the right one).
BUGS = [
    ("dW doubled", "dW", lambda g: 2 * g),
    ("db sign flipped", "db", lambda g: -g),
    ("dV missing its factor 2", "dV", lambda g: g / 2),
    ("dW transposed-and-reshaped", "dW", lambda g: g.T.reshape(g.shape)),
    ("db set to zero", "db", lambda g: np.zeros_like(g)),
    ("dW one element off by 1e-3 of itself", "dW", lambda g: _one_element(g, 1e-3)),
    ("dV one element off by 10%", "dV", lambda g: _one_element(g, 0.1)),
    ("dW rows swapped", "dW", lambda g: g[::-1].copy()),
]


@pytest.mark.parametrize("mode", ["exhaustive", "directional"])
def test_the_bug_catalogue_is_caught_and_named(mode):
    caught = 0
    for what, name, inject in BUGS:
        cost, grad, params = tanh_net(3)

        def buggy(p, grad=grad, name=name, inject=inject):
            g = grad(p)
            g[name] = inject(g[name])
            return g

        report = gradproof.check(cost, buggy, params, mode=mode)
        assert report.failing == [name], f"{what}: {report}"
        caught += 1
    COUNTS[f"injected bugs caught and named ({mode})"] = f"{caught} of {len(BUGS)}"


def test_directional_mode_names_the_wrong_element():
    cost, grad, params = tanh_net(4)

    def buggy(p):
        g = grad(p)
        g["dW"][1, 2] += 1e-3
        return g

    report = gradproof.check(cost, buggy, params, mode="directional")
    assert report.failing == ["dW"]
    assert report.tensors["W"].worst.index == (1, 2)


def test_keys_may_be_the_parameter_names_or_d_prefixed():
    cost, grad, params = tanh_net(5)
    plain = lambda p: {k[1:]: v for k, v in grad(p).items()}  # noqa: E731
    mixed = lambda p: {"W": grad(p)["dW"], "db": grad(p)["db"], "V": grad(p)["dV"]}  # noqa: E731
    for g in (grad, plain, mixed):
        report = gradproof.check(cost, g, params)
        assert report.passed and list(report.tensors) == ["W", "b", "V"]


def test_single_array_form():
    theta = np.array([0.5, -1.0, 2.0, 0.1])
    report = gradproof.check(lambda t: np.sum(t ** 3), lambda t: 3 * t ** 2, theta)
    assert report.passed and list(report.tensors) == ["theta"]
    wrong = gradproof.check(lambda t: np.sum(t ** 3), lambda t: 3 * t ** 2 + (t > 1.5), theta)
    assert wrong.failing == ["dtheta"] and wrong.tensors["theta"].worst.index == (2,)


def test_scalar_and_zero_d_costs_and_multidimensional_tensors():
    params = {"T": np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 10, "s": np.array(0.7)}
    cost = lambda p: np.array(np.sum(p["T"] ** 2) * p["s"])  # a 0-d array  # noqa: E731
    grad = lambda p: {"dT": 2 * p["T"] * p["s"], "ds": np.sum(p["T"] ** 2)}  # noqa: E731
    report = gradproof.check(cost, grad, params)
    assert report.passed, report
    assert report.tensors["T"].shape == (2, 3, 4) and report.tensors["s"].shape == ()


def test_same_inputs_same_report_bytes():
    x, y, parameters = gradient_check_n_test_case()
    cost, grad = cost_and_grad(x, y, fixed=False)
    first, second = (gradproof.check(cost, grad, parameters, mode="directional", seed=7) for _ in range(2))
    strip = lambda r: {k: v for k, v in r.to_dict().items() if k != "seconds"}  # noqa: E731
    assert strip(first) == strip(second)


def test_non_contiguous_and_integer_gradients_are_read_in_order():
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    params = {"W": base.T}  # a Fortran-ordered view
    report = gradproof.check(lambda p: 0.5 * np.sum(p["W"] ** 2), lambda p: {"dW": p["W"].copy()}, params)
    assert report.passed, report
    ints = {"w": np.array([1.0, 2.0])}
    assert gradproof.check(lambda p: 3 * np.sum(p["w"]), lambda p: {"dw": np.array([3, 3])}, ints).passed


def test_a_forked_child_can_check_too():
    import os

    cost, grad, params = tanh_net(6)
    assert gradproof.check(cost, grad, params).passed  # the parent's engine thread now exists
    child = os.fork()
    if child == 0:  # the child: no copy of the parent's thread
        os._exit(0 if gradproof.check(cost, grad, params).passed else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _clamped(t):
    """Σ f(t) with f(t) = t² below 1 and 2t − 1 above (f' = 2t, then 2: continuous at 1)."""
    return float(np.sum(np.where(t < 1, t ** 2, 2 * t - 1)))


def test_points_find_a_gradient_wrong_only_away_from_theta():
    theta = np.array([0.99, 0.5, -0.3])
    wrong = lambda t: 2 * t  # noqa: E731  (forgets that f' is 2 above 1)
    at_theta = gradproof.check(_clamped, wrong, theta)
    assert (at_theta.verdict, at_theta.points, at_theta.point) == ("pass", 1, 0)
    report = gradproof.check(_clamped, wrong, theta, points=8)
    assert report.verdict == "fail" and report.failing == ["dtheta"], report
    assert 1 <= report.point < report.points <= 8
    assert f"at point {report.point} of {report.points}" in str(report)
    assert report.to_dict()["point"] == report.point
    right = lambda t: np.where(t < 1, 2 * t, 2.0)  # noqa: E731
    passed = gradproof.check(_clamped, right, theta, points=8)
    assert (passed.verdict, passed.points, passed.point) == ("pass", 8, 0)
    assert passed.evaluations > 7 * at_theta.evaluations  # every point is a whole check
    float32 = gradproof.check(_clamped, wrong, theta.astype(np.float32), points=8)
    assert float32.verdict == "fail" and float32.point >= 1
