"""Static memory plan: every activation gets an offset in one arena.

Liveness-based and greedy (largest buffer first, lowest offset that does not collide
with a buffer alive at the same time), like TFLM's greedy planner. RESHAPE outputs share
their input's buffer. The model input is read straight from the caller's buffer and the
last operator writes straight into the caller's output buffer, so neither costs arena.
"""
from __future__ import annotations

from dataclasses import dataclass

ALIGN = 4


@dataclass(frozen=True)
class Buffer:
    key: int  # representative tensor index (or -1 - layer for scratch)
    size: int
    first: int  # first layer that writes it
    last: int  # last layer that reads it


@dataclass(frozen=True)
class MemoryPlan:
    arena_bytes: int
    offsets: dict  # buffer key -> arena offset
    home: dict  # tensor index -> ("input" | "output" | "arena", buffer key)
    scratch: dict  # layer position -> arena offset of its scratch


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_memory(graph, layers) -> MemoryPlan:
    inp, out = graph.inputs[0], graph.outputs[0]
    home: dict[int, tuple[str, int]] = {inp: ("input", inp)}
    for pos, layer in enumerate(layers):
        t_out = layer.op.outputs[0]
        src = layer.activation_inputs[0].index if layer.activation_inputs else None
        if layer.in_place and src is not None and t_out != out and home[src][0] != "output":
            home[t_out] = home[src]  # alias: same bytes, new shape
        elif t_out == out:
            home[t_out] = ("output", t_out)
        else:
            home[t_out] = ("arena", t_out)

    sizes: dict[int, int] = {}
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for pos, layer in enumerate(layers):
        for t in [graph.tensors[layer.op.outputs[0]]]:
            kind, key = home[t.index]
            if kind == "arena":
                sizes[key] = max(sizes.get(key, 0), t.nbytes)
                first.setdefault(key, pos)
                last[key] = max(last.get(key, pos), pos)
        for t in layer.activation_inputs:
            kind, key = home[t.index]
            if kind == "arena":
                last[key] = max(last.get(key, pos), pos)
    buffers = [Buffer(k, _align(sizes[k]), first[k], last[k]) for k in sizes]
    for pos, layer in enumerate(layers):
        if layer.scratch_bytes():
            buffers.append(Buffer(-1 - pos, _align(layer.scratch_bytes()), pos, pos))

    placed: list[tuple[Buffer, int]] = []
    offsets: dict[int, int] = {}
    for buf in sorted(buffers, key=lambda b: (-b.size, b.first)):
        live = sorted((off, off + b.size) for b, off in placed if b.first <= buf.last and buf.first <= b.last)
        offset = 0
        for lo, hi in live:
            if offset + buf.size <= lo:
                break
            offset = max(offset, hi)
        placed.append((buf, offset))
        offsets[buf.key] = offset
    arena = max((off + b.size for b, off in placed), default=0)
    scratch = {-1 - k: off for k, off in offsets.items() if k < 0}
    return MemoryPlan(arena, {k: v for k, v in offsets.items() if k >= 0}, home, scratch)
