"""The seed notebook, checked by gradproof: the buggy backward pass fails and names dW2 and db1
(overall difference 0.285093156781, as the notebook prints), the corrected one passes.

    pip install .            # from the repository root
    python examples/seed.py
"""


import gradproof
from notebook import cost_and_grad, forward_propagation_n, gradient_check_n_test_case

X, Y, parameters = gradient_check_n_test_case()
print(f"J = {forward_propagation_n(X, Y, parameters)[0]}")

for fixed in (False, True):
    cost, grad = cost_and_grad(X, Y, fixed)
    # The notebook's fixed step, so that its number comes out digit for digit.
    report = gradproof.check(cost, grad, parameters, step=1e-7)
    print(f"\n{'corrected' if fixed else 'buggy'} backward pass: {report.verdict}, "
          f"difference {report.difference:.12f}, failing {report.failing}")
    print(report)

