"""Static memory plan: every activation gets an offset in one arena.

Liveness-based, like TFLM's greedy planner, with three ways to need less of it:

- RESHAPE outputs share their input's buffer, and elementwise operators overwrite an input
  nobody reads afterwards. Model inputs are read straight from the caller's (packed) input
  buffer and the operators producing model outputs write straight into the caller's output
  buffer, so neither costs arena.
- A convolution whose input dies at that layer runs in place by row bands
  (:mod:`.inplace`): its output shares the input's buffer and it needs only a small band
  buffer beside it. The planner turns this on wherever it is possible, then turns it back
  off, layer by layer, wherever the arena does not grow without it (no instructions spent
  on copies that save nothing).
- Placement (lowest offset that does not collide with a buffer alive at the same time) is
  tried in several orders — largest first, longest-lived first, earliest first, largest
  size x lifetime first, then seeded shuffles — and the smallest arena wins (deterministic).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from .inplace import BANDS, BandPlan, band_plan

ALIGN = 4
SHUFFLES = 64  # extra seeded random placement orders (first-fit is order-sensitive)


@dataclass(frozen=True)
class Buffer:
    key: int  # representative tensor index (or -1 - layer for a layer's scratch)
    size: int
    first: int  # first layer that writes it
    last: int  # last layer that reads it


@dataclass(frozen=True)
class MemoryPlan:
    arena_bytes: int
    offsets: dict  # buffer key -> arena offset
    home: dict  # tensor index -> ("input" | "output" | "arena", buffer key)
    scratch: dict  # layer position -> arena offset of its scratch (kernel scratch, then band buffer)
    bands: dict = field(default_factory=dict)  # layer position -> (band buffer offset, BandPlan)
    io_in_arena: bool = False  # model inputs and outputs are arena buffers too (else the caller's)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _last_reads(layers) -> dict[int, int]:
    last: dict[int, int] = {}
    for pos, layer in enumerate(layers):
        for t in layer.activation_inputs:
            last[t.index] = pos
    return last


def _homes(graph, layers, in_place: dict, io_in_arena: bool = False) -> dict:
    """Tensor -> where its bytes live: a graph input or output (packed caller buffers, by
    tensor index) or an arena buffer (keyed by a representative tensor index).

    Views (RESHAPE-like emitters, ``in_place``) and layers computed in place by row bands
    share their input's buffer; elementwise emitters (``elementwise_in_place``) overwrite
    their input when it lives in the arena and nothing reads it afterwards."""
    outs = set() if io_in_arena else set(graph.outputs)
    home: dict[int, tuple[str, int]] = {t: ("arena" if io_in_arena else "input", t) for t in graph.inputs}
    last = _last_reads(layers)
    members: dict[tuple, list[int]] = {}
    for pos, layer in enumerate(layers):
        srcs = layer.activation_inputs
        src = srcs[0].index if srcs else None
        for k, t_out in enumerate(layer.op.outputs):
            if t_out in outs:
                home[t_out] = ("output", t_out)
                continue
            alias = None
            if k == 0 and src is not None and src in home:
                view = (layer.in_place or pos in in_place) and home[src][0] != "output"
                overwrite = (getattr(layer, "elementwise_in_place", False) and home[src][0] == "arena"
                             and graph.tensors[t_out].nbytes <= graph.tensors[src].nbytes
                             and all(last.get(t, -1) <= pos and t not in graph.outputs
                                     for t in members.get(home[src], [src])))
                if view or overwrite:
                    alias = home[src]
            home[t_out] = alias or ("arena", t_out)
            members.setdefault(home[t_out], []).append(t_out)
    return home


def _buffers(graph, layers, home, in_place: dict) -> list[Buffer]:
    sizes: dict[int, int] = {}
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    # Model inputs in the arena are written before the first layer; outputs are read after the last.
    for t in graph.inputs:
        kind, key = home[t]
        if kind == "arena":
            sizes[key], first[key], last[key] = graph.tensors[t].nbytes, 0, 0
    end = max(len(layers) - 1, 0)
    for pos, layer in enumerate(layers):
        for t_out in layer.op.outputs:
            kind, key = home[t_out]
            if kind == "arena":
                sizes[key] = max(sizes.get(key, 0), graph.tensors[t_out].nbytes)
                first.setdefault(key, pos)
                last[key] = max(last.get(key, pos), pos)
        for t in layer.activation_inputs:
            kind, key = home[t.index]
            if kind == "arena":
                sizes[key] = max(sizes.get(key, 0), t.nbytes)
                last[key] = max(last.get(key, pos), pos)
    for t in graph.outputs:
        kind, key = home[t]
        if kind == "arena":
            last[key] = end
    buffers = [Buffer(k, _align(sizes[k]), first[k], last[k]) for k in sizes]
    for pos, layer in enumerate(layers):
        size = _align(layer.scratch_bytes()) + (in_place[pos].buffer_bytes if pos in in_place else 0)
        if size:
            buffers.append(Buffer(-1 - pos, _align(size), pos, pos))
    return buffers


ORDERS = (
    lambda b: (-b.size, b.first),  # largest first (TFLM's greedy planner)
    lambda b: (-(b.last - b.first), -b.size),  # longest-lived first
    lambda b: (b.first, -b.size),  # in order of first use
    lambda b: (-b.size * (b.last - b.first + 1), b.first),  # largest area in the size x time plane
)


def _orders(buffers: list[Buffer]):
    for order in ORDERS:
        yield sorted(buffers, key=order)
    rng = random.Random(0)
    for _ in range(SHUFFLES if len(buffers) > 2 else 0):
        shuffled = list(buffers)
        rng.shuffle(shuffled)
        yield shuffled


def _place(ordered: list[Buffer]) -> dict:
    placed: list[tuple[Buffer, int]] = []
    offsets: dict[int, int] = {}
    for buf in ordered:
        live = sorted((off, off + b.size) for b, off in placed if b.first <= buf.last and buf.first <= b.last)
        offset = 0
        for lo, hi in live:
            if offset + buf.size <= lo:
                break
            offset = max(offset, hi)
        placed.append((buf, offset))
        offsets[buf.key] = offset
    return offsets


def _layout(graph, layers, in_place: dict, io_in_arena: bool = False) -> MemoryPlan:
    home = _homes(graph, layers, in_place, io_in_arena)
    buffers = _buffers(graph, layers, home, in_place)
    best = None
    for ordered in _orders(buffers):
        offsets = _place(ordered)
        arena = max((offsets[b.key] + b.size for b in buffers), default=0)
        if best is None or arena < best[0]:
            best = (arena, offsets)
    arena, offsets = best
    scratch = {-1 - k: off for k, off in offsets.items() if k < 0}
    bands = {pos: (scratch[pos] + _align(layers[pos].scratch_bytes()), bp) for pos, bp in in_place.items()}
    return MemoryPlan(arena, {k: v for k, v in offsets.items() if k >= 0}, home, scratch, bands, io_in_arena)


def in_place_candidates(graph, layers, bands: int = BANDS, io_in_arena: bool = False) -> dict[int, BandPlan]:
    """Layers that may run in place: a convolution whose arena input nobody reads after it."""
    home = _homes(graph, layers, {}, io_in_arena)
    last: dict[int, int] = {}
    for pos, layer in enumerate(layers):
        for t in layer.activation_inputs:
            last[home[t.index][1]] = pos
    out = {}
    for pos, layer in enumerate(layers):
        if not layer.activation_inputs or len(layer.op.outputs) != 1:
            continue
        if layer.op.outputs[0] in graph.outputs and not io_in_arena:
            continue  # the caller's output buffer cannot hold the input
        kind, key = home[layer.activation_inputs[0].index]
        if kind != "arena" or last[key] != pos or len(layer.activation_inputs) != 1:
            continue
        if any(home.get(t) == (kind, key) for t in graph.outputs):
            continue  # a model output in the arena must survive the run
        bp = band_plan(layer, bands)
        if bp is not None:
            out[pos] = bp
    return out


def plan_memory(graph, layers, in_place: bool = True, bands: int = BANDS, io_in_arena: bool = False) -> MemoryPlan:
    chosen = in_place_candidates(graph, layers, bands, io_in_arena) if in_place else {}
    plan = _layout(graph, layers, chosen, io_in_arena)
    # Drop in-place layers that the arena does not need (smallest band buffer first).
    for pos in sorted(chosen, key=lambda p: chosen[p].buffer_bytes):
        trial = {p: bp for p, bp in chosen.items() if p != pos}
        alt = _layout(graph, layers, trial, io_in_arena)
        if alt.arena_bytes <= plan.arena_bytes:
            chosen, plan = trial, alt
    return plan
