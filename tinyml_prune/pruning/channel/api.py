"""Channel pruning entry points: plan which channels go, then slim (or mask) the model.

    from tinyml_prune.pruning.channel import ChannelConfig, prune_channels
    slim, report = prune_channels(model, ChannelConfig(sparsity=0.5, criterion="bn"), data=x)
    print(report.table())
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np

from ...errors import ModelError
from .dependency import ChannelGraph, analyse
from .graph import build_graph, functional
from .handlers import ProducerHandler, handler_for
from .slim import mask_model, slim_model


@dataclass(frozen=True)
class ChannelConfig:
    """What to prune. ``sparsity``: fraction of each channel group's channels removed.

    ``layers`` maps a layer name to per-layer overrides (``pruning.config.LayerConfig``: its
    ``sparsity``, ``skip`` and ``min_channels`` are used); for a group, the overrides of its
    producing layers apply (several: the smallest sparsity and the largest minimum win).
    ``skip``: layer names, or "first"/"last" (the first/last Conv/Dense that produces
    channels). A skipped layer keeps all its weights: neither its inputs nor its outputs
    shrink. ``min_channels``: no group keeps fewer channels than this.
    """

    sparsity: float = 0.5
    criterion: str = "l1"
    criterion_options: Mapping = field(default_factory=lambda: MappingProxyType({}))
    skip: tuple[str, ...] = ()
    min_channels: int = 1
    layers: Mapping = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self):
        if not 0.0 <= self.sparsity < 1.0:
            raise ModelError(f"channel sparsity {self.sparsity} must be in [0, 1)")
        if self.min_channels < 1:
            raise ModelError(f"min_channels {self.min_channels} must be at least 1")
        object.__setattr__(self, "skip", tuple(self.skip))
        object.__setattr__(self, "criterion_options", MappingProxyType(dict(self.criterion_options)))
        object.__setattr__(self, "layers", MappingProxyType(dict(self.layers)))

    @classmethod
    def from_prune_config(cls, pc) -> "ChannelConfig":
        """From the CLI/recipe ``PruneConfig`` (granularity "channel")."""
        return cls(sparsity=pc.sparsity, criterion=pc.criterion,
                   criterion_options=dict(pc.criterion_options), skip=tuple(pc.skip),
                   min_channels=pc.min_channels, layers=dict(pc.layers))


@dataclass
class GroupPlan:
    id: int
    sources: list
    members: list
    channels_before: int
    channels_after: int
    excluded: list  # reasons; empty when pruned
    sparsity: float  # the target applied to this group
    removed: list = field(default_factory=list)  # indices into the group's channel list


@dataclass
class ChannelPlan:
    """Which channels survive: ``keep`` holds channel ids of ``cgraph`` (all excluded groups'
    channels included)."""

    cgraph: ChannelGraph
    keep: set
    groups: list  # [GroupPlan]
    criterion: str
    estimator: str


@dataclass(frozen=True)
class LayerChannels:
    name: str
    type: str
    channels_in_before: int
    channels_in_after: int
    channels_out_before: int
    channels_out_after: int
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    note: str


@dataclass
class ChannelReport:
    layers: list  # [LayerChannels]
    groups: list  # [GroupPlan]
    criterion: str
    estimator: str
    config: dict

    @property
    def totals(self) -> dict:
        keys = ("params_before", "params_after", "macs_before", "macs_after")
        return {k: sum(getattr(r, k) for r in self.layers) for k in keys}

    def notes(self) -> dict:
        """{layer name: ("channel" | "dense", note)} for the shared pruning report."""
        return {r.name: ("channel" if r.channels_out_after != r.channels_out_before
                         or r.channels_in_after != r.channels_in_before else "dense", r.note)
                for r in self.layers}

    def to_dict(self) -> dict:
        groups = [{k: v for k, v in asdict(g).items()} for g in self.groups]
        return {"granularity": "channel", "criterion": self.criterion, "estimator": self.estimator,
                "config": self.config, "layers": [asdict(r) for r in self.layers],
                "groups": groups, "totals": self.totals}

    def table(self) -> str:
        head = ("layer", "type", "in", "in'", "out", "out'", "params", "params'", "MACs", "MACs'", "note")
        rows = [(r.name, r.type, str(r.channels_in_before), str(r.channels_in_after),
                 str(r.channels_out_before), str(r.channels_out_after), str(r.params_before),
                 str(r.params_after), str(r.macs_before), str(r.macs_after), r.note) for r in self.layers]
        t = self.totals
        rows.append(("total", "", "", "", "", "", str(t["params_before"]), str(t["params_after"]),
                     str(t["macs_before"]), str(t["macs_after"]), ""))
        widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
        fmt = "  ".join(f"{{:<{w}}}" if i in (0, 1, 10) else f"{{:>{w}}}" for i, w in enumerate(widths))
        lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
        lines += [fmt.format(*r).rstrip() for r in rows]
        return "\n".join(lines)


def _resolve_skip(cgraph: ChannelGraph, config: ChannelConfig) -> set:
    producers = [c.name for c in cgraph.graph.calls if isinstance(handler_for(c.layer), ProducerHandler)]
    names = {c.name for c in cgraph.graph.calls}
    out = {n for n, lc in config.layers.items() if getattr(lc, "skip", False)}
    for item in config.skip:
        item = item.strip()
        if not item:
            continue
        if item in ("first", "last"):
            if producers:
                out.add(producers[0] if item == "first" else producers[-1])
        elif item in names:
            out.add(item)
        else:
            raise ModelError(f"skip: no layer named {item!r} (layers: {', '.join(sorted(names))})")
    unknown = sorted(set(config.layers) - names)
    if unknown:
        raise ModelError(f"per-layer settings for unknown layer(s) {', '.join(unknown)}")
    return out


def _group_settings(group, config: ChannelConfig) -> tuple[float, int]:
    overrides = [config.layers[s] for s in group.sources if s in config.layers]
    sparsities = [o.sparsity for o in overrides if getattr(o, "sparsity", None) is not None]
    minimums = [o.min_channels for o in overrides if getattr(o, "min_channels", None) is not None]
    return (min(sparsities) if sparsities else config.sparsity,
            max(minimums) if minimums else config.min_channels)


def plan_channels(model, config: ChannelConfig, data=None, ctx=None) -> ChannelPlan:
    """Score every prunable channel group and choose the channels to remove."""
    from ..criteria import make_context, make_criterion

    model = functional(model)
    cgraph = analyse(model)
    skip = _resolve_skip(cgraph, config)
    if skip:
        cgraph = analyse(model, skip=skip)
    criterion = make_criterion(config.criterion, **dict(config.criterion_options))
    if ctx is None:
        ctx = make_context(model, data, granularity="channel")
    elif ctx.granularity != "channel":
        raise ModelError("channel pruning needs a ScoreContext with granularity 'channel'")
    if getattr(criterion, "needs_data", False):
        ctx.require_data(criterion.name)
    from .scoring import group_scores

    scores = group_scores(ctx, cgraph, criterion)
    keep = cgraph.all_roots()
    priority = {}
    for g in cgraph.groups:
        sparsity, minimum = _group_settings(g, config)
        if g.prunable and g.id in scores:
            n_remove = min(int(np.floor(sparsity * g.size + 1e-9)), g.size - min(minimum, g.size))
            order = np.argsort(scores[g.id], kind="stable")
            keep -= {int(g.channels[i]) for i in order[:n_remove]}
            priority.update(zip(g.channels.tolist(), scores[g.id].tolist()))
    keep = enforce_minimum(cgraph, keep, lambda name: _layer_minimum(name, config), priority)
    plans = []
    for g in cgraph.groups:
        sparsity, _ = _group_settings(g, config)
        removed = [i for i, r in enumerate(g.channels.tolist()) if r not in keep]
        plans.append(GroupPlan(g.id, g.sources, g.members, g.size, g.size - len(removed), list(g.excluded),
                               sparsity, removed))
    return ChannelPlan(cgraph, keep, plans, criterion.name, criterion.estimator)


def _layer_minimum(name: str, config: ChannelConfig) -> int:
    lc = config.layers.get(name)
    own = getattr(lc, "min_channels", None) if lc is not None else None
    return config.min_channels if own is None else own


def enforce_minimum(cgraph: ChannelGraph, keep: set, minimum, priority=None) -> set:
    """Give back removed channels until every producing layer (Conv/Dense) keeps at least
    ``minimum(layer name)`` output channels (or all it has). Coupled groups can otherwise
    empty one member - e.g. a narrow branch concatenated into a residual stream.
    ``priority``: channel -> score; higher scores come back first."""
    priority = priority or {}
    keep = set(keep)
    for call in cgraph.graph.calls:
        if not isinstance(handler_for(call.layer), ProducerHandler) or call.name in cgraph.unsupported:
            continue
        roots = cgraph.tensor_channels[call.outputs[0]].tolist()
        need = min(int(minimum(call.name)), len(roots))
        kept = sum(r in keep for r in roots)
        if kept >= need:
            continue
        removed = sorted({r for r in roots if r not in keep}, key=lambda r: (-priority.get(r, 0.0), r))
        for r in removed:
            keep.add(r)
            kept += roots.count(r)
            if kept >= need:
                break
    return keep


def _layer_rows(cgraph: ChannelGraph, slim, plan: ChannelPlan) -> list:
    after = {c.name: c for c in build_graph(slim).calls}
    group_of_root = {int(r): g for g, cg in zip(plan.groups, cgraph.groups) for r in cg.channels.tolist()}
    rows = []
    for call in cgraph.graph.calls:
        if call.class_name == "InputLayer" or call.layer.count_params() == 0:
            continue
        new = after[call.name]
        h = handler_for(call.layer)
        macs_b = h.macs(call) if h else 0
        macs_a = h.macs(new) if h else 0
        # The note explains why this layer's output channels stayed (if they did).
        out_groups = {group_of_root[int(r)].id: group_of_root[int(r)]
                      for r in cgraph.tensor_channels[call.outputs[0]].tolist()}
        reasons = [g.excluded[0] for g in out_groups.values() if g.excluded]
        note = cgraph.unsupported.get(call.name) or "; ".join(dict.fromkeys(reasons))
        rows.append(LayerChannels(
            call.name, type(call.layer).__name__,
            int(call.input_shapes[0][-1]), int(new.input_shapes[0][-1]),
            int(call.output_shapes[0][-1]), int(new.output_shapes[0][-1]),
            int(call.layer.count_params()), int(new.layer.count_params()), int(macs_b), int(macs_a), note))
    return rows


def prune_channels(model, config: ChannelConfig = ChannelConfig(), data=None, ctx=None):
    """Remove the lowest-scoring channels of every group; returns ``(slim_model, report)``.

    ``data``: inputs for data-driven criteria (APoZ, Taylor, Hessian); ``ctx``: a ready
    ``ScoreContext`` (granularity "channel") instead of ``data``.
    """
    plan = plan_channels(model, config, data, ctx)
    slim = slim_model(model, plan.cgraph, plan.keep)
    cfg = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in asdict_shallow(config).items()}
    cfg["layers"] = {k: (asdict(v) if hasattr(v, "__dataclass_fields__") else v) for k, v in config.layers.items()}
    report = ChannelReport(_layer_rows(plan.cgraph, slim, plan), plan.groups, plan.criterion,
                           plan.estimator, cfg)
    return slim, report


def mask_channels(model, plan: ChannelPlan):
    """The masked twin of ``slim_model``: same shapes, removed channels' weights zeroed."""
    return mask_model(model, plan.cgraph, plan.keep)


def asdict_shallow(obj) -> dict:
    return {k: getattr(obj, k) for k in obj.__dataclass_fields__}
