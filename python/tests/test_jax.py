"""The JAX adapter: ``custom_vjp`` rules (softplus, logsumexp, a dense tanh layer inside a two-layer
network over a pytree), correct and with a catalogue of bugs, in float32 (JAX's default) and
float64 (``jax_enable_x64``). Counts: correct rules passed / inconclusive / failed (none may
fail) and bugs above the detection floor caught and named."""

from typing import Callable, Dict

import numpy as np
import pytest

from conftest import COUNTS, require_adapter

jax = require_adapter("jax")
import jax.numpy as jnp  # noqa: E402
import gradproof.jax as gj  # noqa: E402


def softplus(bug: Callable = None):
    @jax.custom_vjp
    def f(x):
        return jnp.logaddexp(0.0, x)

    def bwd(x, g):
        return ((bug or (lambda x, g: g * jax.nn.sigmoid(x)))(x, g),)

    f.defvjp(lambda x: (f(x), x), bwd)
    return f


def logsumexp(bug: Callable = None):
    """Row-wise logsumexp of a matrix; the rule's ``bug(x, g)`` replaces the right dx."""

    @jax.custom_vjp
    def f(x):
        return jax.scipy.special.logsumexp(x, axis=1)

    def bwd(x, g):
        right = lambda x, g: g[:, None] * jax.nn.softmax(x, axis=1)  # noqa: E731
        return ((bug or right)(x, g),)

    f.defvjp(lambda x: (f(x), x), bwd)
    return f


def dense_tanh(bugs: Dict[str, Callable] = {}):  # noqa: B006 (read only)
    """y = tanh(x W + b) with a hand-written rule; ``bugs`` maps "dz"/"dW"/"db"/"dx" to what
    breaks it (``dz`` gets ``(g, y)``)."""

    @jax.custom_vjp
    def f(W, b, x):
        return jnp.tanh(x @ W + b)

    def fwd(W, b, x):
        y = f(W, b, x)
        return y, (W, x, y)

    def bwd(saved, g):
        W, x, y = saved
        dz = bugs["dz"](g, y) if "dz" in bugs else g * (1 - y * y)
        grads = {"dW": x.T @ dz, "db": dz.sum(0), "dx": dz @ W.T}
        return tuple(bugs[k](v) if k in bugs else v for k, v in grads.items())

    f.defvjp(fwd, bwd)
    return f


def network(bugs: Dict[str, Callable] = {}):  # noqa: B006
    """A two-layer net over a pytree {'layer1': {'w', 'b'}, 'layer2': {'w', 'b'}}, the first
    layer through the rule: f(params, x) = mean((tanh(x W1 + b1) W2 + b2)²)."""
    layer = dense_tanh(bugs)

    def f(params, x):
        h = layer(params["layer1"]["w"], params["layer1"]["b"], x)
        out = h @ params["layer2"]["w"] + params["layer2"]["b"]
        return jnp.mean(out ** 2)

    return f


def network_args(seed: int):
    """The net's (params, x): x is checked too (the rule's dx), as an argument of f."""
    rng = np.random.default_rng(seed)
    params = {
        "layer1": {"w": 0.5 * rng.standard_normal((4, 6)), "b": 0.1 * rng.standard_normal(6)},
        "layer2": {"w": 0.5 * rng.standard_normal((6, 2)), "b": 0.1 * rng.standard_normal(2)},
    }
    return (jax.tree_util.tree_map(jnp.asarray, params), jnp.asarray(rng.standard_normal((8, 4))))


def one_element(g, by):
    return g.at[(0,) * g.ndim].multiply(1 + by)


CASES = {
    "softplus": (softplus, lambda seed: (jnp.asarray(np.random.default_rng(seed).uniform(-3, 3, 7)),)),
    "logsumexp": (logsumexp, lambda seed: (jnp.asarray(np.random.default_rng(seed).standard_normal((3, 5))),)),
    "network": (network, network_args),
}

#: (what, case, the leaf it breaks, the bug handed to the case's maker).
BUGS = [
    ("softplus' as tanh", "softplus", "[0]", lambda x, g: g * jnp.tanh(x)),
    ("softplus' missing g", "softplus", "[0]", lambda x, g: jax.nn.sigmoid(x)),
    ("logsumexp' without the normalisation", "logsumexp", "[0]", lambda x, g: g[:, None] * jnp.exp(x)),
    ("logsumexp' softmax over the wrong axis", "logsumexp", "[0]",
     lambda x, g: g[:, None] * jax.nn.softmax(x, axis=0)),
    ("dense tanh' missing", "network", "[0]['layer1']['w']", {"dz": lambda g, y: g}),
    ("dense db sign flipped", "network", "[0]['layer1']['b']", {"db": lambda g: -g}),
    ("dense dW one element 5% off", "network", "[0]['layer1']['w']", {"dW": lambda g: one_element(g, 0.05)}),
    ("dense dW doubled", "network", "[0]['layer1']['w']", {"dW": lambda g: 2 * g}),
]


@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
def test_correct_rules_never_fail(x64):
    verdicts = {"pass": 0, "inconclusive": 0, "fail": 0}
    with jax.enable_x64(x64):
        for name, (make, args) in CASES.items():
            for seed in range(4):
                for settings in ({}, {"mode": "directional"}):
                    report = gj.check_grads(make(), args(seed), seed=seed, **settings)
                    assert report.precision == ("f64" if x64 else "f32")
                    verdicts[report.verdict] += 1
                    assert report.verdict != "fail", (name, report)
    total = sum(verdicts.values())
    COUNTS[f"jax custom_vjp ({'float64' if x64 else 'float32'}): correct passed / inconclusive / failed"] = (
        f"{verdicts['pass']} / {verdicts['inconclusive']} / {verdicts['fail']} of {total}"
    )
    assert verdicts["pass"] >= total // 2  # inconclusive (f32 directional) is the exception


@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
def test_the_bug_catalogue_is_caught_and_named(x64):
    above = caught = 0
    with jax.enable_x64(x64):
        for what, name, leaf, bug in BUGS:
            make, args = CASES[name]
            arguments = args(5)
            report = gj.check_grads(make(bug), arguments)
            # How wrong the rule makes the leaf's gradient, at the check's point and cotangent.
            params = gj._problem(make(), arguments, 0, False)[2]
            right, wrong = (gj._problem(m, arguments, 0, False)[1](params)[leaf] for m in (make(), make(bug)))
            error = np.linalg.norm(wrong - right) / np.linalg.norm(right)
            if error <= 2 * report.tensors[leaf].detection_floor:
                continue
            above += 1
            assert report.verdict == "fail" and "d" + leaf in report.failing, (what, report)
            caught += 1
    COUNTS[f"jax bug catalogue ({'float64' if x64 else 'float32'}): caught and named"] = f"{caught} of {above}"
    assert above == len(BUGS)


def test_leaves_are_named_by_path_and_keep_jaxs_dtype():
    params, x = network_args(0)
    report = gj.check_grads(lambda p: network()(p, x), (params,))  # the data x held fixed
    assert list(report.tensors) == ["['layer1']['b']", "['layer1']['w']", "['layer2']['b']", "['layer2']['w']"]
    assert report.precision == "f32"  # float64 numpy data becomes float32 in JAX without x64
    both = gj.check_grads(network(), (params, x))  # every argument's leaves, the data's too
    assert list(both.tensors)[:2] == ["[0]['layer1']['b']", "[0]['layer1']['w']"] and list(both.tensors)[-1] == "[1]"
    # An integer leaf is held fixed, a non-scalar output weighted by a seeded cotangent.
    fixed = gj.check_grads(lambda x, n: jnp.sin(x) * n, (jnp.linspace(0.0, 1.0, 4), jnp.array(3)))
    assert list(fixed.tensors) == ["[0]"] and fixed.passed


def test_assert_grads_and_jit_false():
    assert gj.assert_grads(softplus(), (jnp.linspace(-1.0, 1.0, 3),), jit=False, points=3).points == 3
    with pytest.raises(AssertionError, match=r"gradient check failed: d\[0\] is wrong"):
        gj.assert_grads(softplus(lambda x, g: g), (jnp.linspace(-1.0, 1.0, 3),))


def test_bad_input():
    with pytest.raises(TypeError, match="args is a dict, expected a tuple of f's positional arguments"):
        gj.check_grads(lambda p: p["a"].sum(), {"a": jnp.ones(2)})
    with pytest.raises(ValueError, match="no floating-point arrays"):
        gj.check_grads(lambda n: n * 2.0, (jnp.array([1, 2]),))
    with pytest.raises(TypeError, match=r"leaf \[0\] is float16"):
        gj.check_grads(lambda x: jnp.sum(x), (jnp.ones(2, dtype=jnp.float16),))
    with pytest.raises(TypeError, match="f returned a int32 array"):
        gj.check_grads(lambda x: jnp.round(x).astype(jnp.int32), (jnp.ones(2),))
