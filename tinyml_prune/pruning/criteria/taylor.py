"""First-order Taylor criterion (Molchanov et al. 2017/2019): the loss change estimated by
the first Taylor term when a weight (or a whole channel) is set to zero, |w·∂L/∂w| — averaged
over mini-batches of the scoring data, since at a trained model the full-data gradient is
almost zero and its sign cancels. Per channel the terms are summed over the filter before
taking the absolute value (|Σ_c w·∂L/∂w|, the channel's own first-order term)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...kerasenv import tf
from ..layers import channel_reduce, kernel_variable, prunable_layers
from .base import Criterion, register_criterion


def taylor_terms(ctx, layers) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{name: (mean_b |w·g_b|, mean_b |Σ_channel w·g_b|)} over the context's mini-batches."""
    key = ("taylor", tuple(l.name for l in layers))
    if key in ctx.cache:
        return ctx.cache[key]
    variables = [kernel_variable(l) for l in layers]
    elem = [np.zeros(v.shape, np.float64) for v in variables]
    chan = [None] * len(variables)
    n = 0
    for xb, yb in ctx.batches():
        with tf.GradientTape() as tape:
            loss = ctx.mean_loss(yb, ctx.model(xb, training=False))
        grads = tape.gradient(loss, variables)
        for i, (l, v, g) in enumerate(zip(layers, variables, grads)):
            wg = v.numpy().astype(np.float64) * g.numpy()
            elem[i] += np.abs(wg)
            c = np.abs(channel_reduce(wg, l))
            chan[i] = c if chan[i] is None else chan[i] + c
        n += 1
    out = {l.name: (e / n, c / n) for l, e, c in zip(layers, elem, chan)}
    ctx.cache[key] = out
    return out


@register_criterion
@dataclass(frozen=True)
class FirstOrderTaylor(Criterion):
    name = "taylor"
    estimator = ("first-order Taylor |w·∂L/∂w| averaged over mini-batches "
                 "(per channel: |Σ over the filter of w·∂L/∂w|)")
    needs_data = True

    def score(self, ctx, layer) -> np.ndarray:
        ctx.require_data(self.name)
        elem, chan = taylor_terms(ctx, prunable_layers(ctx.model))[layer.name]
        return elem if ctx.granularity == "element" else chan
