"""The seed notebook's 3-layer network (examples/notebook.py) as a model process for
``gradproof check --exec``: its seeded test case, its cost, and its backward pass with the
notebook's two bugs, or corrected with ``--fixed``::

    gradproof check --exec "python3 examples/protocol/notebook_model.py" --step 1e-7
        # fails naming dW2 and db1, difference 0.285093156781 (the notebook's)
    gradproof check --exec "python3 examples/protocol/notebook_model.py --fixed" --step 1e-7
        # passes
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # examples/notebook.py
sys.path.insert(0, str(HERE))

from client import serve  # noqa: E402
from notebook import cost_and_grad, gradient_check_n_test_case  # noqa: E402

if __name__ == "__main__":
    x, y, parameters = gradient_check_n_test_case()
    cost, grad = cost_and_grad(x, y, fixed="--fixed" in sys.argv[1:])
    serve(parameters, cost, grad)
