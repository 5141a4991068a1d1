"""``gradproof check --exec`` measured (docs/benchmarks.md): what one request costs through the
protocol (a trivial model in C and in Python), and the exhaustive check of a numpy 20-64-32-1 ×
256 model with 1 and 2 workers against the notebook's own ``gradient_check_n`` loop on the same
model, in the same run::

    cargo build --release && make install
    .venv/bin/python examples/protocol/benchmark.py [target/release/gradproof]
"""

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from mlp_model import case  # noqa: E402
from notebook import backward_propagation_n, forward_propagation_n, gradient_check_n  # noqa: E402

REPEATS = 3
GRADPROOF = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/release/gradproof")


def check(command, *flags):
    """One ``check --exec`` run: its wall time (processes started and stopped included) and
    its JSON report."""
    start = time.perf_counter()
    out = subprocess.run([GRADPROOF, "check", "-q", "--format", "json", "--exec", command, *flags],
                         capture_output=True, check=False)
    wall = time.perf_counter() - start
    if out.returncode not in (0, 1):
        raise SystemExit(out.stderr.decode())
    return wall, json.loads(out.stdout)


def median_check(command, *flags):
    runs = [check(command, *flags) for _ in range(REPEATS)]
    wall = statistics.median(r[0] for r in runs)
    seconds = statistics.median(r[1]["seconds"] for r in runs)
    return wall, seconds, runs[0][1]


def overhead(squares):
    print(f"per request, trivial model J = Σθ², exhaustive check (median of {REPEATS} runs)")
    python = f"{sys.executable} {HERE / 'squares_model.py'}"
    for what, command in [("C", str(squares)), ("Python", python)]:
        for n in (10, 1000):
            wall, seconds, report = median_check(f"{command} {n}")
            requests = report["evaluations"] + 1  # and one gradient
            print(f"  {what}, {n} values: {requests} requests in {seconds * 1e3:.1f} ms: "
                  f"{seconds / requests * 1e6:.1f} µs per request, {requests / seconds:,.0f} requests/s "
                  f"(whole run with start-up {wall * 1e3:.0f} ms)")


def mlp():
    print(f"20-64-32-1 × 256 (3 457 parameters), exhaustive, step 1e-7 (median of {REPEATS} runs)")
    x, y, parameters = case()
    _, cache = forward_propagation_n(x, y, parameters)
    gradients = backward_propagation_n(x, y, cache, fixed=True)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        difference = gradient_check_n(parameters, gradients, x, y)
        times.append(time.perf_counter() - start)
    loop = statistics.median(times)
    print(f"  the notebook's gradient_check_n loop, in process: {loop:.2f} s (difference {difference:.3e})")
    command = f"{sys.executable} {HERE / 'mlp_model.py'}"
    for workers in (1, 2):
        wall, seconds, report = median_check(command, "--step", "1e-7", "--workers", str(workers))
        print(f"  gradproof --exec, --workers {workers}: check {seconds:.2f} s, whole run {wall:.2f} s, "
              f"{report['evaluations']} evaluations, verdict {report['verdict']}, "
              f"difference {report['difference']:.3e} ({loop / wall:.2f}× the loop's speed)")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        squares = Path(tmp) / "squares"
        subprocess.run(["cc", "-O2", "-I", str(ROOT / "clients/c"), str(ROOT / "clients/c/examples/squares.c"),
                        "-o", str(squares)], check=True)
        overhead(squares)
    mlp()
