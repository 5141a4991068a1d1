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


if __name__ == "__main__":
    print(f"numpy {np.__version__}")
    overhead()
    notebook_network()
