"""Groups of coupled channels, found by following the functional graph.

Every Conv/Dense (and every model input, and every unsupported layer's output) creates
fresh *channel elements*, one per output channel. Each tensor in the graph is described by
a vector of element ids, one per channel position: pass-through layers copy it,
DepthwiseConv2D repeats each entry ``depth_multiplier`` times, Concatenate joins vectors
(so offsets come for free), Flatten tiles it over the spatial positions, and ``Add`` /
``Multiply`` / ... unite element i of every input (union-find). After the walk:

- a *channel* (the unit that is kept or removed) is a union-find class of elements;
- a *group* is a set of producing layers whose channels are coupled, with all the layers
  that read or write those channels. A group is pruned as one: the same channels vanish
  from every member.

A group is excluded (never pruned) when any member cannot be sliced: a model input or
output, an unsupported layer, a layer the user skipped. The reasons are kept for the report.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .graph import Graph, build_graph
from .handlers import handler_for


@dataclass
class ChannelGroup:
    id: int
    sources: list  # names of the layers that produce these channels
    members: list  # names of every layer that reads or writes them
    channels: np.ndarray  # union-find roots, one per prunable channel of the group
    excluded: list = field(default_factory=list)  # reasons; empty = prunable

    @property
    def prunable(self) -> bool:
        return not self.excluded

    @property
    def size(self) -> int:
        return len(self.channels)


class _Coupling:
    """Union-find over channel elements; remembers which call created each element."""

    def __init__(self):
        self.parent = np.zeros(0, dtype=np.int64)
        self.source = []  # element -> source call name
        self.exclusions = []  # (elements, reason)

    def new_source(self, call, n: int) -> np.ndarray:
        start = len(self.parent)
        self.parent = np.concatenate([self.parent, np.arange(start, start + n, dtype=np.int64)])
        self.source += [call.name] * n
        return np.arange(start, start + n, dtype=np.int64)

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return int(root)

    def couple(self, a: np.ndarray, b: np.ndarray) -> None:
        for x, y in zip(a.tolist(), b.tolist()):
            rx, ry = self.find(x), self.find(y)
            if rx != ry:
                self.parent[max(rx, ry)] = min(rx, ry)

    def exclude(self, elements: np.ndarray, reason: str) -> None:
        self.exclusions.append((np.asarray(elements), reason))

    def roots(self, elements: np.ndarray) -> np.ndarray:
        return np.array([self.find(int(e)) for e in elements], dtype=np.int64)


@dataclass
class ChannelGraph:
    """The analysed model: per-tensor channel maps, channel groups, and the graph itself."""

    graph: Graph
    tensor_channels: dict  # TensorKey -> root id per channel position
    groups: list  # [ChannelGroup]
    unsupported: dict  # layer name -> reason it cannot be sliced

    def group_of(self, layer_name: str) -> list:
        return [g for g in self.groups if layer_name in g.members]

    def keep_mask(self, key, keep_roots: set) -> np.ndarray:
        """Which positions of tensor ``key`` survive when only ``keep_roots`` (plus every
        channel of an excluded group) are kept."""
        return np.array([r in keep_roots for r in self.tensor_channels[key].tolist()], dtype=bool)

    def all_roots(self) -> set:
        return {int(r) for v in self.tensor_channels.values() for r in v.tolist()}

    def prunable_roots(self) -> set:
        return {int(r) for g in self.groups if g.prunable for r in g.channels.tolist()}


def analyse(model, skip=()) -> ChannelGraph:
    """Find the channel groups of ``model``. ``skip``: layer names whose weights must stay
    untouched (neither their input nor their output channels change)."""
    graph = build_graph(model)
    cg = _Coupling()
    maps: dict = {}
    unsupported: dict = {}
    skip = set(skip)
    for call in graph.calls:
        ins = [maps[k] for k in call.inputs]
        handler = handler_for(call.layer)
        reason = None
        if call.class_name == "InputLayer":
            outs = [cg.new_source(call, s[-1]) for s in call.output_shapes]
            for o in outs:
                cg.exclude(o, f"model input {call.name!r} keeps its shape")
            maps.update(zip(call.outputs, outs))
            continue
        if handler is None:
            reason = f"layer {call.name!r} ({type(call.layer).__name__}) is not supported by channel pruning"
        elif call.n_calls > 1:
            reason = f"layer {call.name!r} is called {call.n_calls} times (shared weights)"
        else:
            why = handler.unsupported(call)
            if why:
                reason = f"layer {call.name!r} ({type(call.layer).__name__}): {why}"
        if reason is not None:
            unsupported[call.name] = reason
            for x in ins:
                cg.exclude(x, reason)
            outs = [cg.new_source(call, s[-1] if s else 1) for s in call.output_shapes]
            for o in outs:
                cg.exclude(o, reason)
        else:
            outs = handler.propagate(call, ins, cg)
            fixed = handler.fixed_output(call)
            if fixed:
                for o in outs:
                    cg.exclude(o, f"layer {call.name!r} ({type(call.layer).__name__}): {fixed}")
            if call.name in skip:
                for x in ins + outs:
                    cg.exclude(x, f"layer {call.name!r} is skipped by the configuration")
        maps.update(zip(call.outputs, outs))
    for key in graph.model_outputs:
        cg.exclude(maps[key], f"model output {key[0]!r} keeps its shape")

    tensor_roots = {k: cg.roots(v) for k, v in maps.items()}
    groups = _groups(graph, cg, tensor_roots)
    return ChannelGraph(graph, tensor_roots, groups, unsupported)


def _groups(graph, cg: _Coupling, tensor_roots: dict) -> list:
    # Group = connected component of sources: two sources are in one group as soon as one of
    # their elements shares a root.
    n = len(cg.parent)
    roots = cg.roots(np.arange(n))
    source_of_root: dict = {}
    group_parent: dict = {}

    def gfind(s):
        while group_parent[s] != s:
            s = group_parent[s]
        return s

    for e in range(n):
        s = cg.source[e]
        group_parent.setdefault(s, s)
        r = int(roots[e])
        if r in source_of_root:
            a, b = gfind(source_of_root[r]), gfind(s)
            if a != b:
                group_parent[b] = a
        else:
            source_of_root[r] = s
    by_group: dict = {}
    for e in range(n):
        by_group.setdefault(gfind(cg.source[e]), set()).add(int(roots[e]))
    # Which group each root belongs to; members are calls touching any of its roots.
    group_of_root = {r: g for g, rs in by_group.items() for r in rs}
    members: dict = {g: [] for g in by_group}
    for call in graph.calls:
        touched = set()
        for k in call.inputs + call.outputs:
            touched |= {group_of_root[int(r)] for r in tensor_roots[k].tolist()}
        for g in touched:
            members[g].append(call.name)
    reasons: dict = {g: [] for g in by_group}
    for elements, reason in cg.exclusions:
        for g in sorted({group_of_root[int(roots[e])] for e in elements.tolist()}):
            if reason not in reasons[g]:
                reasons[g].append(reason)
    groups = []
    order = [c.name for c in graph.calls]
    for i, g in enumerate(sorted(by_group, key=lambda s: order.index(s))):
        srcs = sorted({cg.source[e] for e in range(n) if group_of_root[int(roots[e])] == g},
                      key=order.index)
        groups.append(ChannelGroup(i, srcs, members[g], np.array(sorted(by_group[g]), dtype=np.int64),
                                   reasons[g]))
    return groups
