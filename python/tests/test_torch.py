"""The PyTorch adapter: hand-written ``autograd.Function``s (linear + tanh, softmax), correct and
with a catalogue of bugs, in float32 and float64; ``check_module`` on a small ``nn.Sequential``
with dropout; multi-output functions; torch's keywords; bad input. Counts: false alarms on
correct code (none may fail) and bugs caught and named (every bug above the floor)."""

from typing import Callable, Dict, Optional

import numpy as np
import pytest

from conftest import COUNTS, require_adapter

torch = require_adapter("torch")
import gradproof.torch as gt  # noqa: E402  (after the skip: needs torch)
from gradproof._adapters import cotangent  # noqa: E402

DTYPES = [torch.float32, torch.float64]
Bug = Optional[Callable[[torch.Tensor], torch.Tensor]]


def one_element(g: torch.Tensor, by: float) -> torch.Tensor:
    g = g.clone()
    g.view(-1)[g.numel() // 2] *= 1 + by
    return g


def linear_tanh(bugs: Dict[str, Callable] = {}):  # noqa: B006 (read only)
    """y = tanh(x Wᵀ + b) with a hand-written backward; ``bugs`` maps "dx"/"dW"/"db"/"dz" to a
    function that breaks that gradient (``dz`` receives ``(g, y)`` and returns the wrong dz)."""

    class LinearTanh(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, W, b):
            y = torch.tanh(x @ W.T + b)
            ctx.save_for_backward(x, W, y)
            return y

        @staticmethod
        def backward(ctx, g):
            x, W, y = ctx.saved_tensors
            dz = bugs["dz"](g, y) if "dz" in bugs else g * (1 - y * y)
            grads = {"dx": dz @ W, "dW": dz.T @ x, "db": dz.sum(0)}
            return tuple(bugs[k](v) if k in bugs else v for k, v in grads.items())

    return LinearTanh.apply


def softmax(bugs: Dict[str, Callable] = {}):  # noqa: B006
    """Softmax over the last axis; ``bugs["dx"]`` gets ``(g, y)`` and returns the wrong dx."""

    class Softmax(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = torch.softmax(x, dim=-1)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            if "dx" in bugs:
                return bugs["dx"](g, y)
            return y * (g - (g * y).sum(-1, keepdim=True))

    return Softmax.apply


def inputs(kind: str, dtype, seed: int):
    gen = torch.Generator().manual_seed(seed)
    randn = lambda *shape: torch.randn(*shape, generator=gen, dtype=dtype)  # noqa: E731
    if kind == "linear_tanh":
        return (randn(5, 4).requires_grad_(), (0.5 * randn(3, 4)).requires_grad_(), randn(3).requires_grad_())
    return ((2 * randn(4, 6)).requires_grad_(),)


FUNCTIONS = {"linear_tanh": linear_tanh, "softmax": softmax}

#: (what, function kind, the input index the bug breaks, the bug).
BUGS = [
    ("tanh' missing in dz", "linear_tanh", None, {"dz": lambda g, y: g}),
    ("tanh' as 1 - y instead of 1 - y²", "linear_tanh", None, {"dz": lambda g, y: g * (1 - y)}),
    ("db sign flipped", "linear_tanh", 2, {"db": lambda g: -g}),
    ("dx through W doubled", "linear_tanh", 0, {"dx": lambda g: 2 * g}),
    ("dW one element 2% off", "linear_tanh", 1, {"dW": lambda g: one_element(g, 0.02)}),
    ("softmax Jacobian without the -y·Σgy term", "softmax", 0, {"dx": lambda g, y: g * y}),
    ("softmax sum over the wrong axis", "softmax", 0,
     {"dx": lambda g, y: y * (g - (g * y).sum(0, keepdim=True))}),
    ("softmax gradient halved", "softmax", 0, {"dx": lambda g, y: 0.5 * y * (g - (g * y).sum(-1, keepdim=True))}),
]


def test_correct_functions_give_no_false_alarm():
    verdicts = {"pass": 0, "inconclusive": 0, "fail": 0}
    for kind, make in FUNCTIONS.items():
        for dtype in DTYPES:
            for seed in range(4):
                for settings in ({}, {"mode": "directional"}):
                    reports = gt.check_function(make(), inputs(kind, dtype, seed), seed=seed, **settings)
                    for report in reports.values():
                        verdicts[report.verdict] += 1
                        assert report.verdict != "fail", report
    total = sum(verdicts.values())
    COUNTS["torch autograd.Functions: correct passed / inconclusive / failed"] = (
        f"{verdicts['pass']} / {verdicts['inconclusive']} / {verdicts['fail']} of {total}"
    )
    assert verdicts["pass"] >= total - 2


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_gradcheck_is_true_on_correct_functions_in_both_dtypes(dtype):
    assert gt.gradcheck(linear_tanh(), inputs("linear_tanh", dtype, 0))
    assert gt.gradcheck(softmax(), inputs("softmax", dtype, 0), fast_mode=True)
    reports = gt.check_function(linear_tanh(), inputs("linear_tanh", dtype, 0), points=3)
    assert list(reports[0].tensors) == ["input 0", "input 1", "input 2"]
    assert (reports[0].verdict, reports[0].points) == ("pass", 3)
    assert reports[0].precision == ("f32" if dtype == torch.float32 else "f64")


def _relative_error(kind, bug, dtype, seed, input_index):
    """How wrong the bug makes the VJP of one input, against the correct one, at the check's
    point and cotangent."""
    xs = inputs(kind, dtype, seed)
    out = FUNCTIONS[kind]()(*xs)
    v = torch.from_numpy(cotangent(0, 0, out.shape, {torch.float32: np.float32, torch.float64: np.float64}[dtype]))
    right = torch.autograd.grad(out, xs, v)[input_index]
    wrong = torch.autograd.grad(FUNCTIONS[kind](bug)(*xs), xs, v)[input_index]
    return float((wrong - right).norm() / right.norm())


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_the_bug_catalogue_is_caught_and_named(dtype):
    above = caught = 0
    for what, kind, broken, bug in BUGS:
        xs = inputs(kind, dtype, 3)
        with pytest.raises(gt.GradcheckError) as raised:
            gt.gradcheck(FUNCTIONS[kind](bug), xs)
        reports = raised.value.reports
        failing = [name for name, t in reports[0].tensors.items() if t.verdict == "fail"]
        expected = [broken] if broken is not None else range(len(xs))
        for k in expected:
            floor = reports[0].tensors[f"input {k}"].detection_floor
            if _relative_error(kind, bug, dtype, 3, k) > 2 * floor:
                above += 1
                assert f"input {k}" in failing, (what, str(raised.value))
                assert f"output 0 / input {k} (fail)" in str(raised.value)
                caught += 1
        assert set(failing) <= {f"input {k}" for k in expected}, (what, failing)
    COUNTS[f"torch bug catalogue ({str(dtype)[6:]}): blocks above the floor caught and named"] = f"{caught} of {above}"
    assert above >= len(BUGS)


def test_raise_exception_false_returns_false_and_the_error_is_torchs_type():
    bad = linear_tanh({"db": lambda g: -g})
    assert gt.gradcheck(bad, inputs("linear_tanh", torch.float32, 0), raise_exception=False) is False
    from torch.autograd.gradcheck import GradcheckError

    with pytest.raises(GradcheckError, match=r"output 0 / input 2 \(fail\)"):
        gt.gradcheck(bad, inputs("linear_tanh", torch.float32, 0))
    assert issubclass(gt.GradcheckError, RuntimeError)


def test_multiple_outputs_are_checked_block_by_block():
    class TwoOutputs(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)
            return torch.sin(x), x * y

        @staticmethod
        def backward(ctx, gs, gp):
            x, y = ctx.saved_tensors
            return gs * torch.cos(x) + gp * y, gp * y  # the product's dy should be gp * x

    x = torch.randn(4, dtype=torch.float64, requires_grad=True)
    y = torch.randn(4, dtype=torch.float64, requires_grad=True)
    with pytest.raises(gt.GradcheckError, match=r"gradcheck: output 1 / input 1 \(fail\)\n") as raised:
        gt.gradcheck(TwoOutputs.apply, (x, y))
    assert raised.value.reports[0].passed and not raised.value.reports[1].passed
    # Inputs that do not require grad and non-tensors are passed through unchecked.
    assert gt.gradcheck(lambda a, n, b: a * n + b, (x, 3, y.detach()))


def test_check_module_with_dropout_frozen():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Dropout(0.5), torch.nn.Linear(8, 2)
    ).train()
    x, y = torch.randn(16, 4), torch.randn(16, 2)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    report = gt.check_module(net, lambda out: torch.nn.functional.mse_loss(out, y), x)
    assert report.verdict == "pass", report
    assert list(report.tensors) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert report.precision == "f32"
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # restored
    assert torch.equal(rng, torch.get_rng_state()) and net[0].weight.grad is None
    double = gt.check_module(net.double(), lambda out: (out ** 2).mean(), x.double(), mode="directional")
    assert (double.verdict, double.precision) == ("pass", "f64")


def test_check_module_names_the_parameter_with_the_wrong_gradient():
    class Layer(torch.nn.Module):
        def __init__(self, bugs):
            super().__init__()
            self.weight = torch.nn.Parameter(0.5 * torch.randn(3, 4))
            self.bias = torch.nn.Parameter(torch.randn(3))
            self.apply_ = linear_tanh(bugs)

        def forward(self, x):
            return self.apply_(x, self.weight, self.bias)

    torch.manual_seed(1)
    x = torch.randn(6, 4)
    net = torch.nn.Sequential(Layer({"db": lambda g: 2 * g}), torch.nn.Linear(3, 1))
    report = gt.check_module(net, lambda out: out.pow(2).mean(), x)
    assert report.failing == ["d0.bias"], report
    with torch.no_grad():
        net[0].bias.zero_()
    assert net[0].bias.abs().sum() == 0  # the check restored what it was given, not what it saw


def test_randomness_that_cannot_be_frozen_is_a_clear_error():
    net = torch.nn.Linear(3, 1)
    noisy = lambda out: out.sum() + float(np.random.standard_normal())  # noqa: E731
    with pytest.raises(ValueError, match="randomness gradproof cannot freeze"):
        gt.check_module(net, noisy, torch.randn(2, 3))


def test_bad_input():
    x = torch.randn(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="at least one input tensor that requires grad"):
        gt.gradcheck(torch.sin, (x,))
    with pytest.raises(TypeError, match=r"input 0 is torch.float16: .*float32 and float64"):
        gt.gradcheck(torch.sin, (x.half().requires_grad_(),))
    with pytest.raises(ValueError, match="check_forward_ad: gradproof.torch checks dense backward-mode"):
        gt.gradcheck(torch.sin, (x.requires_grad_(),), check_forward_ad=True)
    with pytest.raises(ValueError, match="eps or step, not both"):
        gt.gradcheck(torch.sin, (x,), eps=1e-6, step=1e-6)
    assert gt.gradcheck(torch.sin, (x,), eps=1e-6, atol=1e-5, rtol=1e-3, nondet_tol=0.0)
    with pytest.raises(TypeError, match=r"loss_fn returned \(2, 1\), expected a one-element tensor"):
        gt.check_module(torch.nn.Linear(3, 1), lambda out: out, torch.randn(2, 3))
    with pytest.raises(ValueError, match="has no parameters that require grad"):
        gt.check_module(torch.nn.ReLU(), lambda out: out.sum(), torch.randn(2, 3))
    assert gt.gradcheck(lambda t: t.float() * 2, (x,), check_grad_dtypes=True)


def test_importing_gradproof_does_not_import_torch_or_jax():
    import subprocess
    import sys

    code = "import sys, gradproof; print('torch' in sys.modules, 'jax' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout == "False False\n"
