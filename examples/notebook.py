"""The seed notebook's numpy code, as the course writes it: the 3-layer network
LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID with the logistic cost, its backward pass
with the two bugs (``dW2`` doubled, ``db1`` quadrupled), the corrected pass, the seeded test case
(numpy's legacy RNG, seed 1) and the notebook's own ``gradient_check_n`` loop.

Used by ``examples/seed.py`` (the story), ``examples/benchmark.py`` (gradproof against the loop)
and ``python/tests/test_seed.py`` (the notebook's numbers, asserted).
"""

from typing import Dict, Tuple

import numpy as np

Arrays = Dict[str, np.ndarray]
NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(0, x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def gradient_check_n_test_case() -> Tuple[np.ndarray, np.ndarray, Arrays]:
    """The notebook's seeded case: X (4, 3), Y = [1, 1, 0], W1 (5, 4) ... b3 (1, 1)."""
    np.random.seed(1)
    x = np.random.randn(4, 3)
    y = np.array([1, 1, 0])
    shapes = [(5, 4), (5, 1), (3, 5), (3, 1), (1, 3), (1, 1)]
    parameters = {name: np.random.randn(*shape) for name, shape in zip(NAMES, shapes)}
    return x, y, parameters


def forward_propagation_n(X: np.ndarray, Y: np.ndarray, parameters: Arrays):
    """The cost (logistic, averaged over the m examples) and the cache for the backward pass."""
    m = X.shape[1]
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    W3, b3 = parameters["W3"], parameters["b3"]
    Z1 = np.dot(W1, X) + b1
    A1 = relu(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = relu(Z2)
    Z3 = np.dot(W3, A2) + b3
    A3 = sigmoid(Z3)
    logprobs = np.multiply(-np.log(A3), Y) + np.multiply(-np.log(1 - A3), 1 - Y)
    cost = 1.0 / m * np.sum(logprobs)
    cache = (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)
    return cost, cache


def backward_propagation_n(X: np.ndarray, Y: np.ndarray, cache, fixed: bool = False) -> Arrays:
    """The notebook's backward pass: with its two bugs, or corrected with ``fixed=True``."""
    m = X.shape[1]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = 1.0 / m * np.dot(dZ3, A2.T)
    db3 = 1.0 / m * np.sum(dZ3, axis=1, keepdims=True)
    dA2 = np.dot(W3.T, dZ3)
    dZ2 = np.multiply(dA2, np.int64(A2 > 0))
    dW2 = 1.0 / m * np.dot(dZ2, A1.T) * (1 if fixed else 2)  # the bug: * 2
    db2 = 1.0 / m * np.sum(dZ2, axis=1, keepdims=True)
    dA1 = np.dot(W2.T, dZ2)
    dZ1 = np.multiply(dA1, np.int64(A1 > 0))
    dW1 = 1.0 / m * np.dot(dZ1, X.T)
    db1 = (1.0 if fixed else 4.0) / m * np.sum(dZ1, axis=1, keepdims=True)  # the bug: 4./m
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2, "db2": db2,
            "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}


def dictionary_to_vector(parameters: Arrays) -> np.ndarray:
    return np.concatenate([parameters[name].reshape(-1, 1) for name in NAMES])


def vector_to_dictionary(theta: np.ndarray, like: Arrays) -> Arrays:
    out, start = {}, 0
    for name in NAMES:
        size = like[name].size
        out[name] = theta[start:start + size].reshape(like[name].shape)
        start += size
    return out


def gradients_to_vector(gradients: Arrays) -> np.ndarray:
    return np.concatenate([gradients["d" + name].reshape(-1, 1) for name in NAMES])


def gradient_check_n(parameters: Arrays, gradients: Arrays, X, Y, epsilon: float = 1e-7) -> float:
    """The notebook's loop: two full forward passes per parameter, then the relative difference."""
    parameters_values = dictionary_to_vector(parameters)
    grad = gradients_to_vector(gradients)
    num_parameters = parameters_values.shape[0]
    J_plus = np.zeros((num_parameters, 1))
    J_minus = np.zeros((num_parameters, 1))
    gradapprox = np.zeros((num_parameters, 1))
    for i in range(num_parameters):
        theta_plus = np.copy(parameters_values)
        theta_plus[i][0] = theta_plus[i][0] + epsilon
        J_plus[i], _ = forward_propagation_n(X, Y, vector_to_dictionary(theta_plus, parameters))
        theta_minus = np.copy(parameters_values)
        theta_minus[i][0] = theta_minus[i][0] - epsilon
        J_minus[i], _ = forward_propagation_n(X, Y, vector_to_dictionary(theta_minus, parameters))
        gradapprox[i] = (J_plus[i] - J_minus[i]) / (2 * epsilon)
    numerator = np.linalg.norm(grad - gradapprox)
    denominator = np.linalg.norm(grad) + np.linalg.norm(gradapprox)
    return numerator / denominator


def cost_and_grad(X: np.ndarray, Y: np.ndarray, fixed: bool):
    """``cost(parameters)`` and ``grad(parameters)`` closures over the data, for gradproof."""

    def cost(parameters: Arrays) -> float:
        return forward_propagation_n(X, Y, parameters)[0]

    def grad(parameters: Arrays) -> Arrays:
        _, cache = forward_propagation_n(X, Y, parameters)
        return backward_propagation_n(X, Y, cache, fixed=fixed)

    return cost, grad
