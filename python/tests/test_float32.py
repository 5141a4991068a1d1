"""float32 parameters: models computed wholly in float32 (softmax regression, logistic
regression with an L2 term). Correct gradients pass or are inconclusive, never fail (both
counted); a catalogue of bugs whose relative error is above the report's detection floor is
caught and named; the functions see float32 arrays; the precision is f32 unless declared."""

import numpy as np
import pytest

import gradproof
from conftest import COUNTS

F32 = np.float32


def softmax_model(seed: int, m: int = 32, features: int = 6, classes: int = 4):
    """Softmax regression, mean cross-entropy: J = −(1/m) Σ log softmax(W x + b)[y]."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((features, m)).astype(F32)
    y = rng.integers(0, classes, m)
    params = {"W": (0.5 * rng.standard_normal((classes, features))).astype(F32),
              "b": (0.1 * rng.standard_normal((classes, 1))).astype(F32)}

    def probabilities(p):
        z = p["W"] @ x + p["b"]
        e = np.exp(z - z.max(axis=0, keepdims=True))
        return e / e.sum(axis=0, keepdims=True)

    def cost(p):
        q = probabilities(p)
        return -np.mean(np.log(q[y, np.arange(m)]))

    def grad(p):
        dz = probabilities(p)
        dz[y, np.arange(m)] -= 1
        dz /= m
        return {"dW": dz @ x.T, "db": dz.sum(axis=1, keepdims=True)}

    return cost, grad, params


def logistic_model(seed: int, m: int = 64, features: int = 8, lam: float = 0.1):
    """Logistic regression, mean log-loss plus (λ/2m)‖w‖²."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, features)).astype(F32)
    y = (rng.random(m) < 0.5).astype(F32)
    params = {"w": (0.3 * rng.standard_normal(features)).astype(F32), "b": np.array(0.2, dtype=F32)}

    def cost(p):
        z = x @ p["w"] + p["b"]
        loss = np.mean(np.logaddexp(F32(0), z) - y * z)
        return loss + F32(lam / (2 * m)) * np.sum(p["w"] ** 2)

    def grad(p):
        a = 1 / (1 + np.exp(-(x @ p["w"] + p["b"])))
        return {"dw": x.T @ (a - y) / m + F32(lam / m) * p["w"], "db": np.mean(a - y)}

    return cost, grad, params


MODELS = {"softmax": softmax_model, "logistic": logistic_model}
SETTINGS = [{}, {"mode": "directional"}, {"method": "central4"}, {"step": "auto"}]


def test_the_functions_see_float32_arrays_holding_the_perturbed_parameters():
    cost, grad, params = softmax_model(0)
    seen = set()

    def watching(p):
        seen.update(a.dtype for a in p.values())
        return cost(p)

    report = gradproof.check(watching, grad, params)
    assert seen == {np.dtype(F32)}
    assert report.precision == "f32" and report.verdict in ("pass", "inconclusive")
    assert 0 < report.detection_floor < 1e-1
    assert params["W"].dtype == F32  # the caller's arrays are untouched


def test_precision_follows_the_coarsest_dtype_or_the_declaration():
    cost, grad, params = logistic_model(0)
    mixed = {"w": params["w"].astype(np.float64), "b": params["b"]}
    assert gradproof.check(cost, grad, mixed).precision == "f32"
    wide = {k: v.astype(np.float64) for k, v in params.items()}
    assert gradproof.check(cost, grad, wide, precision="f64").precision == "f64"
    assert gradproof.check(cost, grad, params, precision="bf16").precision == "bf16"
    single = gradproof.check(lambda t: np.sum(t ** 2), lambda t: 2 * t, np.ones(4, dtype=F32))
    assert (single.precision, single.verdict) == ("f32", "pass")


@pytest.mark.parametrize("name", MODELS)
def test_correct_float32_gradients_never_fail(name):
    verdicts = {"pass": 0, "inconclusive": 0, "fail": 0}
    for seed in range(6):
        for settings in SETTINGS:
            report = gradproof.check(*MODELS[name](seed), seed=seed, **settings)
            verdicts[report.verdict] += 1
            assert report.verdict != "fail", report
    total = sum(verdicts.values())
    COUNTS[f"float32 {name}: correct gradients passed / inconclusive / failed"] = (
        f"{verdicts['pass']} / {verdicts['inconclusive']} / {verdicts['fail']} of {total}"
    )
    assert verdicts["pass"] >= total // 2  # inconclusive is the exception, not the rule


def _scale_one(g, by):
    g = np.array(g, copy=True)
    g.flat[g.size // 2] *= 1 + by
    return g


#: (what, gradient key it breaks, the wrong gradient from the right one).
BUGS = {
    "softmax": [
        ("dW doubled", "dW", lambda g: 2 * g),
        ("db sign flipped", "db", lambda g: -g),
        ("dW missing 1/m", "dW", lambda g: g * 32),
        ("dW transposed-and-reshaped", "dW", lambda g: g.T.reshape(g.shape)),
        ("db set to zero", "db", lambda g: np.zeros_like(g)),
        ("dW one element 30% off", "dW", lambda g: _scale_one(g, 0.3)),
        ("dW one element 1% off", "dW", lambda g: _scale_one(g, 0.01)),
        ("dW rows swapped", "dW", lambda g: g[::-1].copy()),
    ],
    "logistic": [
        ("dw 50% too large", "dw", lambda g: g * 1.5),
        ("db sign flipped", "db", lambda g: -g),
        ("dw one element 20% off", "dw", lambda g: _scale_one(g, 0.2)),
        ("dw one element 0.1% off", "dw", lambda g: _scale_one(g, 1e-3)),
        ("dw reversed", "dw", lambda g: g[::-1].copy()),
    ],
}


def _relative_error(wrong, right):
    return float(np.linalg.norm(np.ravel(wrong - right)) / np.linalg.norm(np.ravel(right)))


@pytest.mark.parametrize("name", MODELS)
def test_float32_bugs_above_the_detection_floor_are_caught_and_named(name):
    above = caught = 0
    below = []
    for what, key, wrong in BUGS[name]:
        cost, grad, params = MODELS[name](1)
        right = grad(params)[key]
        error = _relative_error(wrong(right), right)

        def buggy(p, key=key, wrong=wrong):
            g = grad(p)
            g[key] = wrong(g[key])
            return g

        report = gradproof.check(cost, buggy, params)
        floor = report.tensors[key].detection_floor
        if error <= 2 * floor:  # near or under the floor: the check owes nothing
            below.append(f"{what} ({error:.1e} vs floor {floor:.1e})")
            continue
        above += 1
        assert report.verdict == "fail" and key in report.failing, (what, report)
        caught += 1
    COUNTS[f"float32 {name}: bugs above the detection floor caught and named"] = (
        f"{caught} of {above}" + (f" (under it: {', '.join(below)})" if below else "")
    )
    assert above >= len(BUGS[name]) - 1


def test_the_report_shows_precision_and_detection_floor():
    report = gradproof.check(*softmax_model(2))
    assert "cost computed in f32" in str(report) and "detection floor" in str(report)
    data = report.to_dict()
    assert data["precision"] == "f32" and data["detection_floor"] == report.detection_floor
    page = report._repr_html_()
    assert "cost computed in f32" in page and f"{report.detection_floor:.1e}" in page


def test_an_inconclusive_check_leaves_its_tensors_undecided():
    # A constant cost: nothing to resolve, whatever the gradient.
    report = gradproof.check(lambda p: np.float32(1), lambda p: {"dw": np.zeros(3, F32)}, {"w": np.ones(3, F32)})
    assert report.verdict == "inconclusive" and report.reason and not report.passed
    assert report.tensors["w"].verdict == "inconclusive" and report.failing == []
    assert "undecided" in str(report) and ">inconclusive<" in report._repr_html_()
