"""The cheapest model there is, J(θ) = Σ θᵢ² over N values, for measuring what a request costs
through the Python client (benchmark.py): ``squares_model.py N``."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from client import serve  # noqa: E402

if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    serve({"theta": np.arange(n) / n}, lambda p: float(p["theta"] @ p["theta"]),
          lambda p: {"dtheta": 2 * p["theta"]})
