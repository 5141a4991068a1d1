"""gradproof: gradient checking for people who write backpropagation by hand.

Hand :func:`check` your cost, your hand-written gradient and the parameters (a dict of named
numpy arrays, like a course's ``parameters``, or one array); it compares every element of the
gradient with finite differences, judges each tensor against the roundoff the difference
quotient really has, and names the wrong elements::

    import numpy as np
    import gradproof

    params = {"W": np.array([[0.5, -1.0], [2.0, 0.25]]), "b": np.array([0.1, -0.3])}
    cost = lambda p: 0.5 * np.sum(p["W"] ** 2) + np.sum(np.sin(p["b"]))
    grad = lambda p: {"dW": p["W"], "db": np.cos(p["b"])}
    report = gradproof.check(cost, grad, params)
    assert report.passed, report
    gradproof.assert_gradient(cost, grad, params)   # the same, as one line of a pytest test

float32 parameters are checked in float32 (``precision=`` declares another precision). For
PyTorch, ``import gradproof.torch`` (``gradcheck``, ``check_module``); for JAX,
``import gradproof.jax`` (``check_grads``); importing ``gradproof`` imports neither framework.

The engine is Rust (the ``gradproof`` crate); this package only adapts numpy to it.
"""

from ._check import assert_gradient, check
from ._report import Report, TensorReport, Worst

__all__ = ["check", "assert_gradient", "Report", "TensorReport", "Worst"]
