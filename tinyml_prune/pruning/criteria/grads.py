"""Gradients of the context's loss with respect to layer kernels (shared by data-driven criteria)."""
from __future__ import annotations

import numpy as np

from ...kerasenv import tf
from ..layers import kernel_variable


def mean_gradients(ctx, layers) -> dict[str, np.ndarray]:
    """∂L/∂w of the mean loss over all of ``ctx.x`` (batch gradients weighted by batch size)."""
    key = ("mean_grad", tuple(l.name for l in layers))
    if key in ctx.cache:
        return ctx.cache[key]
    variables = [kernel_variable(l) for l in layers]
    total = [np.zeros(v.shape, np.float64) for v in variables]
    n = 0
    for xb, yb in ctx.batches():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(ctx.per_sample_loss(yb, ctx.model(xb, training=False)))
        for acc, g in zip(total, tape.gradient(loss, variables)):
            acc += g.numpy()
        n += len(xb)
    out = {l.name: (t / n).astype(np.float32) for l, t in zip(layers, total)}
    ctx.cache[key] = out
    return out


def per_sample_gradients(ctx, layers, n_max: int) -> np.ndarray:
    """The n×p matrix G of per-sample loss gradients, kernels flattened and concatenated in
    ``layers`` order (n = min(n_max, len(ctx.x)))."""
    variables = [kernel_variable(l) for l in layers]
    x, y = ctx.x[:n_max], ctx.y[:n_max]

    # one traced function: pfor conversion of the jacobian is expensive when done eagerly
    @tf.function(reduce_retracing=True)
    def jacobian(xb, yb):
        with tf.GradientTape() as tape:
            losses = ctx.per_sample_loss(yb, ctx.model(xb, training=False))
        return tape.jacobian(losses, variables, experimental_use_pfor=True)

    rows = []
    for i in range(0, len(x), 64):
        xb, yb = x[i:i + 64], y[i:i + 64]
        jac = jacobian(tf.constant(xb), tf.constant(yb))
        rows.append(np.concatenate([j.numpy().reshape(len(xb), -1) for j in jac], axis=1))
    return np.concatenate(rows, axis=0).astype(np.float64)
