"""Per-channel scores of a channel group.

A *channel* of a group (one union-find root, see ``dependency``) can appear in several
layers: the Conv that writes it, the DepthwiseConv that filters it, the BN that scales it,
the other branch of a residual ``Add``. Each scoring layer gives a score per position; we
aggregate them the same way for every criterion:

1. per layer, positions of the same channel are averaged (a depthwise multiplier or a
   Flatten repeat a channel at several positions);
2. per layer, scores are divided by that layer's mean score over the group, so that layers
   of different scale weigh the same;
3. the group score of a channel is the mean of these normalised scores over the layers
   that contain it.

Which layers score depends on the criterion: weight criteria (l1, l2, taylor, hessian, ...)
score the layers that *write* the channels (Conv/Dense output filters, DepthwiseConv
channels); BN-gamma scores the BatchNormalization layers; APoZ scores the activations.
"""
from __future__ import annotations

import numpy as np

from ...errors import ModelError
from .dependency import ChannelGraph
from .handlers import handler_for


def aggregate(contributions, roots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """contributions: [(position roots, position scores)] from scoring layers.
    Returns (score per root, number of layers that scored it) for ``roots``."""
    index = {int(r): i for i, r in enumerate(roots.tolist())}
    total = np.zeros(len(roots))
    count = np.zeros(len(roots), dtype=np.int64)
    for pos_roots, scores in contributions:
        scores = np.asarray(scores, dtype=np.float64)
        sel = np.array([int(r) in index for r in pos_roots.tolist()], dtype=bool)
        if not sel.any():
            continue
        idx = np.array([index[int(r)] for r in pos_roots[sel].tolist()])
        s = np.zeros(len(roots))
        n = np.zeros(len(roots))
        np.add.at(s, idx, scores[sel])
        np.add.at(n, idx, 1)
        have = n > 0
        per_channel = s[have] / n[have]
        scale = np.mean(np.abs(per_channel))
        total[have] += per_channel / scale if scale > 0 else per_channel
        count[have] += 1
    out = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return out, count


def writer_contributions(ctx, cgraph: ChannelGraph, criterion, roots_of_interest: set):
    """(position roots, scores) from every layer whose weights write channels of interest,
    scored by a weight criterion's ``score(ctx, layer)`` at channel granularity."""
    from ..layers import kernel_variable

    out = []
    for call in cgraph.graph.calls:
        layer = call.layer
        if call.name in cgraph.unsupported or handler_for(layer) is None or not call.outputs:
            continue
        if kernel_variable(layer) is None:
            continue
        if type(layer).__name__.startswith("DepthwiseConv"):
            pos = cgraph.tensor_channels[call.inputs[0]]  # one score per input channel
        else:
            pos = cgraph.tensor_channels[call.outputs[0]]
        if not roots_of_interest & set(pos.tolist()):
            continue
        s = np.asarray(criterion.score(ctx, layer), dtype=np.float64).reshape(-1)
        if s.shape[0] != pos.shape[0]:
            raise ModelError(f"criterion {criterion.name!r} gave {s.shape[0]} channel scores for layer "
                             f"{call.name!r}, which has {pos.shape[0]} channels")
        out.append((pos, s))
    return out


def group_scores(ctx, cgraph: ChannelGraph, criterion) -> dict:
    """{group id: score per channel (aligned with group.channels)} for every prunable group.
    A group that no layer could score is marked excluded with the reason."""
    interest = cgraph.prunable_roots()
    if hasattr(criterion, "channel_contributions"):  # BN-gamma, APoZ: read other layers
        contributions = criterion.channel_contributions(ctx, cgraph, interest)
    else:
        contributions = writer_contributions(ctx, cgraph, criterion, interest)
    result = {}
    for g in cgraph.groups:
        if not g.prunable:
            continue
        scores, count = aggregate(contributions, g.channels)
        if not count.any():
            g.excluded.append(f"criterion {criterion.name!r} has nothing to score in this group "
                              f"(members: {', '.join(g.members)})")
            continue
        result[g.id] = scores
    return result
