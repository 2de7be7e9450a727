"""Channel criteria that read layers other than the pruned kernel: BN-gamma and APoZ.

Both are registered in the pruning criteria registry (``pruning.criteria``) with the same
interface as every criterion - ``score(ctx, layer)`` gives one score per output channel of a
Conv/Dense layer - and additionally ``channel_contributions`` for whole channel groups,
which ``pruning.channel`` uses. They exist only at channel granularity.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import ModelError
from ..criteria.base import Criterion, register_criterion
from .dependency import analyse


def _layer_channel_scores(criterion, ctx, layer) -> np.ndarray:
    """Scores of ``layer``'s output channels through its channel group."""
    from .scoring import aggregate

    key = ("channel_graph", id(ctx.model))
    cgraph = ctx.cache.get(key)
    if cgraph is None:
        cgraph = ctx.cache[key] = analyse(ctx.model)
    call = next((c for c in cgraph.graph.calls if c.layer is layer), None)
    if call is None or not call.outputs:
        raise ModelError(f"layer {layer.name!r} is not part of model {ctx.model.name!r}")
    pos = cgraph.tensor_channels[call.outputs[0]]
    contributions = criterion.channel_contributions(ctx, cgraph, set(pos.tolist()))
    roots = np.unique(pos)
    scores, count = aggregate(contributions, roots)
    if not count.any():
        raise ModelError(f"criterion {criterion.name!r}: nothing scores the output channels of layer "
                         f"{layer.name!r} ({criterion.needs})")
    lookup = dict(zip(roots.tolist(), scores.tolist()))
    return np.array([lookup[int(r)] for r in pos.tolist()])


@register_criterion
@dataclass(frozen=True)
class BNGamma(Criterion):
    """Network slimming (Liu et al. 2017): a channel's BatchNormalization scale |gamma|."""

    name = "bn"
    estimator = "BatchNorm scaling factor |gamma| (network slimming)"
    granularities = frozenset({"channel"})
    needs = "a BatchNormalization on the channels"

    def score(self, ctx, layer) -> np.ndarray:
        if ctx.granularity != "channel":
            raise ModelError("criterion 'bn' (BN-gamma) only scores whole channels: use --granularity channel")
        return _layer_channel_scores(self, ctx, layer)

    def channel_contributions(self, ctx, cgraph, interest):
        out = []
        for call in cgraph.graph.calls:
            if type(call.layer).__name__ != "BatchNormalization" or call.name in cgraph.unsupported:
                continue
            pos = cgraph.tensor_channels[call.inputs[0]]
            if not interest & set(pos.tolist()):
                continue
            gamma = call.layer.gamma
            if gamma is None:  # scale=False: every channel has gamma 1, nothing to rank
                continue
            out.append((pos, np.abs(gamma.numpy())))
        return out


# Activations whose zeros APoZ counts: exactly zero for every input <= 0.
_ZERO_ACTIVATIONS = {"relu", "relu6"}


def _zeroing_activation(layer) -> bool:
    cls = type(layer).__name__
    if cls == "ReLU":
        return float(layer.get_config().get("negative_slope", 0.0)) == 0.0 and \
            float(layer.get_config().get("threshold", 0.0)) == 0.0
    act = layer.get_config().get("activation")
    return isinstance(act, str) and act in _ZERO_ACTIVATIONS and cls in (
        "Activation", "Conv1D", "Conv2D", "Dense", "DepthwiseConv2D", "DepthwiseConv1D",
        "SeparableConv1D", "SeparableConv2D")


@register_criterion
@dataclass(frozen=True)
class APoZ(Criterion):
    """Average Percentage of Zeros (Hu et al. 2016), measured on calibration data.

    For every ReLU output (a ReLU/Activation layer or a layer with ``activation='relu'``) we
    count, per channel, the fraction of exact zeros over the samples and spatial positions.
    The score is ``1 - APoZ``: channels that are almost always zero score low.
    """

    name = "apoz"
    estimator = "1 - average percentage of zeros after ReLU (APoZ), on calibration data"
    granularities = frozenset({"channel"})
    needs_data = True
    needs = "a ReLU after the channels"
    batch_size: int = 128

    def score(self, ctx, layer) -> np.ndarray:
        if ctx.granularity != "channel":
            raise ModelError("criterion 'apoz' only scores whole channels: use --granularity channel")
        ctx.require_data(self.name)
        return _layer_channel_scores(self, ctx, layer)

    def channel_contributions(self, ctx, cgraph, interest):
        from ...kerasenv import keras

        ctx.require_data(self.name)
        calls = [c for c in cgraph.graph.calls
                 if c.outputs and c.name not in cgraph.unsupported and _zeroing_activation(c.layer)
                 and interest & set(cgraph.tensor_channels[c.outputs[0]].tolist())]
        if not calls:
            return []
        from .graph import functional

        model = functional(ctx.model)
        probe = keras.Model(model.inputs, [model.get_layer(c.name).output for c in calls])
        zeros = [np.zeros(c.output_shapes[0][-1]) for c in calls]
        counts = [0] * len(calls)
        x = np.asarray(ctx.x, np.float32)
        for i in range(0, len(x), self.batch_size):
            outs = probe(x[i:i + self.batch_size], training=False)
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            for j, o in enumerate(outs):
                a = o.numpy().reshape(-1, o.shape[-1])
                zeros[j] += (a == 0).sum(axis=0)
                counts[j] += a.shape[0]
        return [(cgraph.tensor_channels[c.outputs[0]], 1.0 - z / n) for c, z, n in zip(calls, zeros, counts)]
