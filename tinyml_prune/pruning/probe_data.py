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
    """(x_train, x_test) structured inputs shaped for ``model`` (class-balanced for classifiers)."""
    shape = tuple(model.input_shape[1:])
    if any(d is None for d in shape):
        from ..errors import DataError

        raise DataError(f"model input shape {model.input_shape} has free dimensions; give --data")
    from .criteria.base import is_classifier

    if is_classifier(model):
        return class_probes(model, n_train, seed), class_probes(model, n_test, seed + 1)
    return structured_inputs(shape, n_train, seed), structured_inputs(shape, n_test, seed + 1)


def class_probes(model, n: int, seed: int = 0, steps: int = 60, step_size: float = 0.01,
                 value_range: tuple[float, float] = (0.0, 1.0), confidence: float = 0.9) -> np.ndarray:
    """Class-balanced probe inputs for a classifier without data.

    Smooth random fields in ``value_range`` are pushed by signed-gradient ascent on
    log p(c | x) towards class c = i mod K until the dense model gives c probability
    ``confidence`` (or ``steps`` run out), so every class the model knows is represented —
    on smooth noise alone a wake-word model answers "background" for ~97 % of inputs, and
    agreement with it would say nothing.
    """
    from ..kerasenv import tf

    lo, hi = value_range
    shape = tuple(model.input_shape[1:])
    z = structured_inputs(shape, n, seed)
    x = np.clip(lo + (hi - lo) * (0.5 + 0.15 * z), lo, hi).astype(np.float32)
    k = int(model.output_shape[-1])
    target = np.arange(n) % k
    onehot = tf.one_hot(target, k)

    @tf.function(reduce_retracing=True)
    def grad(xt):
        with tf.GradientTape() as tape:
            tape.watch(xt)
            pc = tf.reduce_sum(model(xt, training=False) * onehot, axis=1)
            total = tf.reduce_sum(tf.math.log(pc + 1e-12))
        return tape.gradient(total, xt), pc

    for _ in range(steps):
        g, pc = grad(tf.constant(x))
        todo = (pc.numpy() < confidence).reshape((-1,) + (1,) * len(shape))
        if not todo.any():
            break
        x = np.clip(x + todo * np.sign(g.numpy()) * step_size * (hi - lo), lo, hi).astype(np.float32)
    return x
