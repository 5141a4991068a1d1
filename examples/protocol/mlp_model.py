"""A 20-64-32-1 network on 256 random examples as a model process for ``gradproof check --exec``:
the notebook's forward and (corrected) backward passes (examples/notebook.py, which handle any
layer sizes of the 3-layer network) on seeded random data. Used by benchmark.py."""

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # examples/notebook.py
sys.path.insert(0, str(HERE))

from client import serve  # noqa: E402
from notebook import NAMES, cost_and_grad  # noqa: E402

SIZES = (20, 64, 32, 1)
EXAMPLES = 256


def case(seed: int = 3):
    """X (20, 256), labels Y (256,), and He-scaled parameters W1 (64, 20) … b3 (1, 1)."""
    rng = np.random.RandomState(seed)
    x = rng.randn(SIZES[0], EXAMPLES)
    y = (rng.rand(EXAMPLES) < 0.5).astype(np.float64)
    shapes = []
    for fan_in, fan_out in zip(SIZES, SIZES[1:]):
        shapes += [(fan_out, fan_in), (fan_out, 1)]
    parameters = {}
    for name, shape in zip(NAMES, shapes):
        scale = np.sqrt(2.0 / shape[1]) if name.startswith("W") else 0.1
        parameters[name] = rng.randn(*shape) * scale
    return x, y, parameters


if __name__ == "__main__":
    x, y, parameters = case()
    serve(parameters, *cost_and_grad(x, y, fixed=True))
