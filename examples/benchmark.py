"""gradproof's overhead from Python, and the seed notebook's network checked by gradproof against
the notebook's own ``gradient_check_n`` loop, timed in the same run (docs/benchmarks.md).

    make install && cd examples && ../.venv/bin/python benchmark.py
"""

import statistics
import time

import numpy as np

import gradproof
from notebook import (
    backward_propagation_n,
    cost_and_grad,
    forward_propagation_n,
    gradient_check_n,
    gradient_check_n_test_case,
)

REPEATS = 15


def median_seconds(run, repeats=REPEATS):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def overhead():
    """Per evaluation of a trivial cost: the whole check's time over its evaluations, beside the
    time of calling the same trivial function from a Python loop."""
    print("overhead per evaluation (trivial cost, exhaustive, median of", REPEATS, "runs)")
    _, _, notebook_parameters = gradient_check_n_test_case()
    forms = [
        ("one array of 1000", np.linspace(-1.0, 1.0, 1000), lambda t: 0.0, lambda t: np.zeros_like(t)),
        ("the notebook's 6 tensors (47 values)", notebook_parameters, lambda p: 0.0,
         lambda p: {k: np.zeros_like(v) for k, v in p.items()}),
    ]
    for what, params, cost, grad in forms:
        evaluations = gradproof.check(cost, grad, params).evaluations
        seconds = median_seconds(lambda: gradproof.check(cost, grad, params))
        bare = median_seconds(lambda: [cost(params) for _ in range(evaluations)])
        print(f"  {what}: {evaluations} evaluations, {seconds * 1e3:.2f} ms per check, "
              f"{seconds / evaluations * 1e6:.2f} µs per evaluation "
              f"(a bare Python call of the same function: {bare / evaluations * 1e6:.2f} µs)")


def notebook_network():
    """The exhaustive check of the notebook's network (buggy pass, step 1e-7) both ways."""
    x, y, parameters = gradient_check_n_test_case()
    cost, grad = cost_and_grad(x, y, fixed=False)
    _, cache = forward_propagation_n(x, y, parameters)
    gradients = backward_propagation_n(x, y, cache)
    report = gradproof.check(cost, grad, parameters, step=1e-7)
    loop_difference = gradient_check_n(parameters, gradients, x, y)
    ours = median_seconds(lambda: gradproof.check(cost, grad, parameters, step=1e-7))
    # The loop is handed the gradients; gradproof computes them itself (one grad call).
    theirs = median_seconds(lambda: gradient_check_n(parameters, gradients, x, y))
    print("the notebook's network, exhaustive, ε = 1e-7 (median of", REPEATS, "runs)")
    print(f"  gradient_check_n:  {theirs * 1e3:.2f} ms, {2 * 47} forward passes "
          f"({theirs / 94 * 1e6:.1f} µs each), difference {loop_difference:.12f}")
    print(f"  gradproof.check:   {ours * 1e3:.2f} ms, {report.evaluations} forward passes "
          f"({ours / report.evaluations * 1e6:.1f} µs each), "
          f"difference {report.difference:.12f}, failing {report.failing} "
          f"({theirs / ours:.2f}× the loop's speed)")


def localisation(repeats=3):
    """A one-element bug (dW2[1, 3] + 1e-3) in a 20-64-32-1 network on 256 examples: the
    directional mode names it; the notebook's loop only says the whole gradient is off."""
    rng = np.random.default_rng(0)
    sizes = [20, 64, 32, 1]
    x = rng.standard_normal((20, 256))
    y = rng.integers(0, 2, 256)
    parameters = {}
    for layer, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:]), start=1):
        parameters[f"W{layer}"] = rng.standard_normal((fan_out, fan_in)) * np.sqrt(2 / fan_in)
        parameters[f"b{layer}"] = rng.standard_normal((fan_out, 1)) * 0.1
    cost, correct = cost_and_grad(x, y, fixed=True)

    def grad(p):
        gradients = correct(p)
        gradients["dW2"] = gradients["dW2"].copy()
        gradients["dW2"][1, 3] += 1e-3
        return gradients

    report = gradproof.check(cost, grad, parameters, mode="directional=1")
    worst = report.tensors["W2"].worst
    ours = median_seconds(lambda: gradproof.check(cost, grad, parameters, mode="directional=1"), repeats)
    gradients = grad(parameters)
    loop_difference = gradient_check_n(parameters, gradients, x, y)
    theirs = median_seconds(lambda: gradient_check_n(parameters, gradients, x, y), repeats)
    n = sum(v.size for v in parameters.values())
    print(f"a one-element bug in a 20-64-32-1 network on 256 examples ({n} parameters; median of {repeats} runs)")
    print(f"  gradient_check_n:             {theirs:.3f} s, {2 * n} forward passes, difference {loop_difference:.3e}")
    print(f"  gradproof directional=1:      {ours:.3f} s, {report.evaluations} forward passes, failing "
          f"{report.failing}, worst dW2{list(worst.index)} ({theirs / ours:.0f}× faster)")


if __name__ == "__main__":
    print(f"numpy {np.__version__}")
    overhead()
    notebook_network()
    localisation()
