"""Dense-slimmed weights (``--format slim``, and the first step of ``auto``).

Output channels whose weights are all zero — a channel-pruned model converted without
slimming, or a masked one — are removed at code generation, with their bias and
requantization entries and the next layers' matching input channels (through depthwise
convolutions, pooling, flatten/reshape into FULLY_CONNECTED and residual ADDs). What remains
runs on the ordinary dense kernels, bit-exact with TFLite: a dropped channel is a constant,
and its contribution is either nothing (it equals the zero point) or folded into the next
layer's bias. Channels that cannot be dropped exactly are kept and reported with the reason.

``slim_graph(graph, options) -> (slimmed graph, SlimResult)``; the analysis is in
``analysis.py``, the graph surgery in ``rewrite.py``, the accounting in ``report.py``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir import Graph
from .analysis import Analysis
from .report import account, summary_lines
from .rewrite import kept_features, rewrite

__all__ = ["SlimResult", "slim_graph", "summary_lines"]


@dataclass(frozen=True)
class SlimResult:
    keep: dict  # tensor index -> kept feature indices (only tensors that lost features)
    width: dict  # tensor index -> original number of features
    layers: list  # per changed operator: removed channels, bytes and MACs before/after
    kept: list  # zero-weight channels that stay, with the reason
    totals: dict = field(default_factory=dict)

    def select(self, tensor: int, values: np.ndarray) -> np.ndarray:
        """The original model's ``values`` of ``tensor`` restricted to the kept features."""
        if tensor not in self.keep:
            return values
        return np.asarray(values).reshape(-1, self.width[tensor])[:, self.keep[tensor]].reshape(-1)

    def to_dict(self) -> dict:
        return dict(totals=self.totals, layers=self.layers, kept=self.kept)


def slim_graph(graph: Graph, options) -> tuple[Graph, SlimResult]:
    an = Analysis(graph, options)
    keep = kept_features(an)
    slimmed = rewrite(an, keep) if keep else graph
    layers, totals = account(graph, slimmed, options, keep, an.f.width, an.folds)
    return slimmed, SlimResult(keep, dict(an.f.width), layers, an.kept, totals)
