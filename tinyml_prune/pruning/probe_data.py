"""Structured probe inputs for models that come without data (e.g. the MLPerf Tiny fixtures).

White noise is a poor stand-in for real inputs: every model sees it as one odd class. Smooth
random fields — white noise low-pass filtered along each spatial/feature axis, plus a random
per-sample offset and scale — spread the dense model's predictions over its classes and
exercise the weights the way correlated real features do. Labels for data-driven criteria
and agreement metrics then come from the dense model's own predictions.
"""
from __future__ import annotations

import numpy as np


def _smooth(a: np.ndarray, axis: int, width: int) -> np.ndarray:
    if a.shape[axis] < 2 or width < 2:
        return a
    k = np.hanning(width + 2)[1:-1]
    k /= k.sum()
    return np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), axis, a)


def structured_inputs(shape: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    """``n`` smooth random inputs of per-sample ``shape`` (float32, roughly zero mean, unit scale)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *shape))
    for axis in range(1, x.ndim):
        size = x.shape[axis]
        x = _smooth(x, axis, max(2, size // 4))
    x /= x.std(axis=tuple(range(1, x.ndim)), keepdims=True) + 1e-12
    scale = rng.uniform(0.5, 1.5, size=(n,) + (1,) * len(shape))
    offset = rng.normal(0.0, 0.5, size=(n,) + (1,) * len(shape))
    return (x * scale + offset).astype(np.float32)


def probe_dataset(model, n_train: int = 512, n_test: int = 512, seed: int = 0):
    """(x_train, x_test) structured inputs shaped for ``model``."""
    shape = tuple(model.input_shape[1:])
    if any(d is None for d in shape):
        from ..errors import DataError

        raise DataError(f"model input shape {model.input_shape} has free dimensions; give --data")
    return structured_inputs(shape, n_train, seed), structured_inputs(shape, n_test, seed + 1)
