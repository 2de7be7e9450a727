"""Graph passes between the reader and the op emitters.

Each pass takes a :class:`Graph` and returns a new one with the same tensor indices (so a
tensor can always be named by its index in the user's .tflite file):

- ``strip_float_boundary``: a model converted with float input/output starts with QUANTIZE
  (float32 -> int8) and ends with DEQUANTIZE (int8 -> float32). The int8 graph in between is
  what runs on the board; the boundary conversion is recorded in ``graph.extra["float_io"]``
  and generated as a separate float entry point.
- ``fold_constants``: operators whose outputs are known at code generation (every input
  constant, or only static shapes read, e.g. SHAPE) are evaluated by their emitter's
  ``fold`` hook; their outputs become constant tensors and the operators disappear.
- registered rewrites (``REWRITES``): exact local rewrites such as fusing a zero-point PAD
  into the following convolution; each is a function ``Graph -> Graph``.
- ``drop_dead``: operators none of whose outputs reach a graph output.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from tinyml_prune.errors import ModelError

from .ir import Graph, Operator

Rewrite = Callable[[Graph], Graph]
REWRITES: list[tuple[str, Rewrite]] = []


def rewrite(name: str):
    """Register an exact graph rewrite, run after constant folding, in registration order."""

    def deco(fn: Rewrite) -> Rewrite:
        REWRITES.append((name, fn))
        return fn

    return deco


def consumers(graph: Graph, tensor: int) -> list[Operator]:
    return [op for op in graph.operators if tensor in op.inputs]


def producer(graph: Graph, tensor: int) -> Operator | None:
    return next((op for op in graph.operators if tensor in op.outputs), None)


def with_ops(graph: Graph, operators: list[Operator], **changes) -> Graph:
    """A copy of ``graph`` with ``operators`` (and any other field changed)."""
    return replace(graph, operators=list(operators), extra=dict(graph.extra), **changes)


def strip_float_boundary(graph: Graph) -> Graph:
    """Move float32 graph inputs/outputs across their QUANTIZE/DEQUANTIZE ops."""
    ops = list(graph.operators)
    inputs, outputs = list(graph.inputs), list(graph.outputs)
    float_io = {"inputs": {}, "outputs": {}}
    for k, t_index in enumerate(inputs):
        t = graph.tensors[t_index]
        users = consumers(graph, t_index)
        if t.dtype != "float32" or len(users) != 1 or users[0].opcode != "QUANTIZE" or t_index in outputs:
            continue
        q_out = graph.tensors[users[0].outputs[0]]
        if q_out.dtype != "int8" or q_out.quant is None:
            continue
        inputs[k] = q_out.index
        float_io["inputs"][k] = dict(tensor=t_index, name=t.name)
        ops.remove(users[0])
    for k, t_index in enumerate(outputs):
        t = graph.tensors[t_index]
        prod = producer(graph, t_index)
        if t.dtype != "float32" or prod is None or prod.opcode != "DEQUANTIZE":
            continue
        src = graph.tensors[prod.inputs[0]]
        if src.dtype != "int8" or src.quant is None or src.index in graph.inputs:
            continue
        outputs[k] = src.index
        float_io["outputs"][k] = dict(tensor=t_index, name=t.name)
        if not any(t_index in op.inputs for op in ops if op is not prod):
            ops.remove(prod)
    g = with_ops(graph, ops, inputs=tuple(inputs), outputs=tuple(outputs))
    if float_io["inputs"] or float_io["outputs"]:
        g.extra["float_io"] = float_io
    return g


def fold_constants(graph: Graph) -> Graph:
    """Evaluate operators whose outputs their emitter can compute at code generation."""
    from .ops import EMITTERS

    tensors = list(graph.tensors)
    kept = []
    view = replace(graph, tensors=tensors)
    for op in graph.operators:
        cls = EMITTERS.get(op.opcode)
        values = cls.fold(op, view) if cls is not None else None
        if values is None or any(o in graph.outputs for o in op.outputs):
            kept.append(op)
            continue
        for t_index, v in zip(op.outputs, values):
            t = tensors[t_index]
            if np.size(v) != t.size:  # the model declares an output shape the operator cannot produce
                raise ModelError(f"operator {op.index} ({op.opcode}) computes {np.size(v)} values for tensor "
                                 f"'{t.name}', whose shape {list(t.shape)} holds {t.size}")
            tensors[t_index] = replace(t, data=np.asarray(v, dtype=np.dtype(t.dtype)).reshape(t.shape))
    return replace(view, operators=kept, extra=dict(graph.extra))


def _resolve_shape(target, size: int) -> tuple[int, ...] | None:
    target = np.asarray(target)
    if not np.issubdtype(target.dtype, np.integer):  # not a shape (a hostile model's float operand)
        return None
    dims = [int(d) for d in target.reshape(-1)]
    if dims.count(-1) > 1 or any(d < -1 for d in dims):
        return None
    known = int(np.prod([d for d in dims if d != -1], dtype=np.int64)) if dims else 1
    if -1 in dims:
        if known == 0 or size % known:
            return None
        dims[dims.index(-1)] = size // known
    return tuple(dims) if int(np.prod(dims, dtype=np.int64)) == size else None


def infer_shapes(graph: Graph) -> Graph:
    """Output shapes the converter could only record as placeholders (a dimension that was
    dynamic in Keras, e.g. after a Dense on a 3-D tensor): once the shape operands are folded,
    RESHAPE and FULLY_CONNECTED outputs are recomputed from their inputs, in graph order."""
    tensors = list(graph.tensors)
    changed = []
    for op in graph.operators:
        if not op.outputs or op.outputs[0] < 0:
            continue
        out = tensors[op.outputs[0]]
        shape = None
        if op.opcode == "RESHAPE" and op.inputs:
            src = tensors[op.inputs[0]]
            target = tensors[op.inputs[1]].data if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
            if target is None and op.options is not None and getattr(op.options, "newShape", None) is not None:
                target = op.options.newShape
            if target is not None:
                shape = _resolve_shape(target, src.size)
        elif op.opcode == "FULLY_CONNECTED" and len(op.inputs) > 1:
            src, filt = tensors[op.inputs[0]], tensors[op.inputs[1]]
            keep = bool(getattr(op.options, "keepNumDims", False)) if op.options is not None else False
            if len(filt.shape) == 2 and filt.shape[1] and src.size % filt.shape[1] == 0 and not keep:
                shape = (src.size // filt.shape[1], filt.shape[0])
        if shape is not None and shape != out.shape and out.size != int(np.prod(shape, dtype=np.int64)):
            tensors[op.outputs[0]] = replace(out, shape=shape)
            changed.append(f"tensor {out.index} ('{out.name}'): {list(out.shape)} -> {list(shape)}")
    if not changed:
        return graph
    g = replace(graph, tensors=tensors, extra=dict(graph.extra))
    g.extra["inferred_shapes"] = changed
    return g


def drop_dead(graph: Graph) -> Graph:
    """Remove operators none of whose outputs is needed for a graph output."""
    needed = set(graph.outputs)
    kept = []
    for op in reversed(graph.operators):
        if any(o in needed for o in op.outputs):
            kept.append(op)
            needed.update(i for i in op.inputs if i >= 0)
    kept.reverse()
    return with_ops(graph, kept) if len(kept) != len(graph.operators) else graph


def run_passes(graph: Graph) -> Graph:
    from . import rewrites  # noqa: F401  (registers the built-in rewrites)

    graph = strip_float_boundary(graph)
    graph = fold_constants(graph)
    graph = infer_shapes(graph)
    for _, fn in REWRITES:
        graph = fn(graph)
    return drop_dead(graph)
