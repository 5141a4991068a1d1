"""Bad input raises a Python exception with a clear message, never a crash or a hang: a missing
key, a wrong shape, NaN from the user's function, a non-finite parameter, a dtype other than
float64/float32, bad settings, and an exception inside ``cost`` or ``grad``, which comes back as
itself with its traceback."""

import traceback

import numpy as np
import pytest

import gradproof

PARAMS = {"W": np.array([[0.5, -1.0], [2.0, 0.25]]), "b": np.array([0.1, -0.3])}


def cost(p):
    return 0.5 * np.sum(p["W"] ** 2) + np.sum(np.sin(p["b"]))


def grad(p):
    return {"dW": p["W"], "db": np.cos(p["b"])}


def test_a_missing_gradient_key_names_it():
    with pytest.raises(ValueError, match=r"grad returned no gradient for parameter 'b': expected key 'db' or 'b'"):
        gradproof.check(cost, lambda p: {"dW": p["W"]}, PARAMS)


def test_a_wrong_gradient_shape_names_key_and_shapes():
    with pytest.raises(ValueError, match=r"grad returned shape \(2, 1\) for 'db', expected \(2,\)"):
        gradproof.check(cost, lambda p: {"dW": p["W"], "db": np.cos(p["b"])[:, None]}, PARAMS)


def test_both_keys_for_one_tensor_is_ambiguous():
    with pytest.raises(ValueError, match="both 'dW' and 'W'"):
        gradproof.check(cost, lambda p: {**grad(p), "W": p["W"]}, PARAMS)


def test_grad_returning_the_wrong_type():
    with pytest.raises(TypeError, match="grad returned a list, expected a dict with keys 'dW', 'db'"):
        gradproof.check(cost, lambda p: [p["W"], p["b"]], PARAMS)
    with pytest.raises(TypeError, match="grad returned a dict but params is a single array"):
        gradproof.check(np.sum, lambda t: {"dtheta": np.ones(2)}, np.ones(2))
    with pytest.raises(TypeError, match="grad returned dtype <U1 for 'dW'"):
        gradproof.check(cost, lambda p: {"dW": "x", "db": p["b"]}, PARAMS)


def test_nan_from_cost_is_a_value_error():
    with pytest.raises(ValueError, match="cost is NaN"):
        gradproof.check(lambda p: float("nan"), grad, PARAMS)
    # NaN only near one element: the message says where.
    nan_at = lambda p: np.nan if p["W"][1, 0] > 2.0 + 5e-7 else cost(p)  # noqa: E731
    with pytest.raises(ValueError, match=r"cost is NaN at W\[1, 0\] \+ ε"):
        gradproof.check(nan_at, grad, PARAMS, step=1e-6)


def test_nan_in_the_gradient_names_the_element():
    def bad(p):
        g = grad(p)
        g["dW"] = g["dW"].copy()
        g["dW"][0, 1] = np.inf
        return g

    with pytest.raises(ValueError, match=r"W\[0, 1\]"):
        gradproof.check(cost, bad, PARAMS)


def test_cost_returning_a_non_number_is_a_type_error():
    with pytest.raises(TypeError, match="cost returned a str, expected a float"):
        gradproof.check(lambda p: "1.0", grad, PARAMS)
    with pytest.raises(TypeError, match="cost returned a ndarray"):
        gradproof.check(lambda p: p["W"], grad, PARAMS)


def test_a_non_finite_parameter_names_the_element():
    params = {"W": PARAMS["W"].copy(), "b": np.array([0.1, np.inf])}
    with pytest.raises(ValueError, match=r"parameter b\[1\] is inf"):
        gradproof.check(cost, grad, params)


def test_dtypes_other_than_float64_and_float32_are_refused_clearly():
    with pytest.raises(TypeError, match="parameter 'b' has dtype int64, expected float64 or float32"):
        gradproof.check(cost, grad, {"W": PARAMS["W"], "b": np.array([1, 2])})
    float16 = "parameter 'theta' has dtype float16, expected float64 or float32 .*precision='f16'"
    with pytest.raises(TypeError, match=float16):
        gradproof.check(np.sum, np.ones_like, np.ones(3, dtype=np.float16))
    with pytest.raises(TypeError, match=r"params\['W'\] is a list"):
        gradproof.check(cost, grad, {"W": [[1.0]]})
    with pytest.raises(TypeError, match="params is a list, expected a dict"):
        gradproof.check(cost, grad, [PARAMS["W"]])
    with pytest.raises(ValueError, match="params is an empty dict"):
        gradproof.check(cost, grad, {})
    with pytest.raises(TypeError, match="params key 3 is not a non-empty string"):
        gradproof.check(cost, grad, {3: PARAMS["W"]})


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"mode": "random"}, ValueError, "mode must be one of exhaustive, sampled"),
        ({"mode": "sampled=0"}, ValueError, "mode must be one of"),
        ({"mode": 3}, TypeError, "mode is a int, expected a string"),
        ({"method": "dual"}, ValueError, "got 'dual'"),
        ({"method": "backward"}, ValueError, "method must be one of forward, central"),
        ({"step": -1e-7}, ValueError, "epsilon must be finite and > 0"),
        ({"step": float("nan")}, ValueError, "epsilon must be finite and > 0"),
        ({"step": "tiny"}, ValueError, "auto, scaled, scaled=C or a positive number"),
        ({"step": True}, TypeError, "step is a bool"),
        ({"seed": -1}, ValueError, r"seed must be an integer in \[0, 2\*\*64\)"),
        ({"points": 0}, ValueError, "points must be an integer from 1 to 10000"),
        ({"points": 1.5}, ValueError, "points must be an integer from 1 to 10000"),
        ({"points": 10**6}, ValueError, "points must be an integer from 1 to 10000"),
        ({"precision": "float32"}, ValueError,
         "precision must be None or one of 'f64', 'f32', 'f16', 'bf16', got 'float32'"),
        ({"precision": 32}, ValueError, "precision must be None or one of"),
    ],
)
def test_bad_settings(options, error, message):
    with pytest.raises(error, match=message):
        gradproof.check(cost, grad, PARAMS, **options)


class Boom(RuntimeError):
    pass


def test_an_exception_in_cost_comes_back_as_itself_with_its_traceback():
    calls = []

    def exploding(p):
        calls.append(1)
        if len(calls) > 5:
            raise Boom("cost exploded on call 6")
        return cost(p)

    with pytest.raises(Boom, match="cost exploded on call 6") as raised:
        gradproof.check(exploding, grad, PARAMS)
    frames = [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
    assert "exploding" in frames
    assert len(calls) == 6  # no call after the first exception


def test_an_exception_in_grad_comes_back_as_itself():
    def exploding(p):
        raise KeyError("dW3")

    with pytest.raises(KeyError, match="dW3"):
        gradproof.check(cost, exploding, PARAMS)


def test_keyboard_interrupt_is_not_swallowed():
    def interrupted(p):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        gradproof.check(interrupted, grad, PARAMS)


def test_a_cost_that_mutates_its_arguments_does_not_corrupt_the_check():
    def vandal(p):
        value = cost(p)
        p["W"] *= 100.0  # refilled from θ before the next call
        p["b"] = None  # put back before the next call
        return value

    report = gradproof.check(vandal, lambda p: {"dW": p["W"].copy(), "db": np.cos(p["b"])}, PARAMS)
    assert report.passed, report


def test_ctrl_c_stops_a_long_check():
    import signal
    import time

    # Up to three tries: once (of 8 runs seen) on a loaded machine, the interrupt raised from the
    # engine's thread was not seen by the waiting thread (cause not found; see docs/python.md).
    for _attempt in range(3):
        calls = []

        def slow(t, calls=calls):
            calls.append(1)
            if len(calls) == 20:
                signal.raise_signal(signal.SIGINT)  # what Ctrl-C does, from inside the check
            time.sleep(0.001)
            return float(np.sum(t ** 2))

        start = time.perf_counter()
        try:
            gradproof.check(slow, lambda t: 2 * t, np.linspace(-1, 1, 2000))  # > 4 s uninterrupted
        except KeyboardInterrupt:
            assert time.perf_counter() - start < 1.0 and len(calls) < 200
            return
    pytest.fail("Ctrl-C did not stop the check in 3 tries")
