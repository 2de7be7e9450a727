"""Build the slimmed graph: every tensor loses its dropped features, weights their rows and
columns, biases their entries (plus the folded constants), per-channel scales their entries."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..ir import Graph, Quantization, Tensor
from .analysis import Analysis


def kept_features(an: Analysis) -> dict[int, np.ndarray]:
    """Tensor index -> kept feature indices, for the tensors that lose some."""
    keep = {}
    for t, w in an.f.width.items():
        gone = [j for j in range(w) if an.f.node(t, j) in an.dropped]
        if gone:
            keep[t] = np.setdiff1d(np.arange(w), gone)
    return keep


def _slice_quant(q: Quantization | None, rows: np.ndarray) -> Quantization | None:
    if q is None or not q.per_channel:
        return q
    return Quantization(q.scale[rows], q.zero_point[rows], q.axis)


def rewrite(an: Analysis, keep: dict[int, np.ndarray]) -> Graph:
    g = an.g
    tensors = list(g.tensors)
    for t, k in keep.items():
        old = tensors[t]
        tensors[t] = replace(old, shape=(*old.shape[:-1], len(k)))
    operators = []
    for op in g.operators:
        inputs = list(op.inputs)
        if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and op.inputs[0] in an.f.width:
            inputs = _rewrite_gemm(an, op, keep, tensors)
        elif op.opcode == "ADD" and len(op.inputs) > 1 and g.tensors[op.inputs[1]].is_constant \
                and op.outputs[0] in keep:
            b = g.tensors[op.inputs[1]]
            tensors[b.index] = replace(b, shape=(*b.shape[:-1], len(keep[op.outputs[0]])),
                                       data=np.ascontiguousarray(b.data[..., keep[op.outputs[0]]]))
        elif op.opcode == "RESHAPE" and op.outputs[0] in keep and len(op.inputs) > 1:
            s = g.tensor(op.inputs[1])
            out_shape = tensors[op.outputs[0]].shape
            if s is not None and s.is_constant and s.data.size == len(out_shape):
                tensors[s.index] = replace(s, data=np.asarray(out_shape, s.data.dtype).reshape(s.data.shape))
        operators.append(op if tuple(inputs) == op.inputs else replace(op, inputs=tuple(inputs)))
    return Graph(tensors, operators, g.inputs, g.outputs, g.sha256, g.description, dict(g.extra))


def _rewrite_gemm(an: Analysis, op, keep, tensors: list[Tensor]) -> list[int]:
    g = an.g
    inputs = list(op.inputs)
    t_in, t_out = op.inputs[0], op.outputs[0]
    filt = g.tensors[op.inputs[1]]
    bias = g.tensor(op.inputs[2]) if len(op.inputs) > 2 else None
    fold = an.folds.get(op.index)
    w = filt.data
    rows = keep.get(t_out, np.arange(an.f.width[t_out]))
    if op.opcode == "DEPTHWISE_CONV_2D":
        new_w = w[..., rows]  # its input channels go with their outputs (same group)
    elif op.opcode == "CONV_2D":
        cols = keep.get(t_in, np.arange(an.f.width[t_in]))
        new_w = w[rows][..., cols]
    else:
        width = an.f.width[t_in]
        kept_in = np.zeros(width, bool)
        kept_in[keep.get(t_in, np.arange(width))] = True
        new_w = w[rows][:, kept_in[np.arange(w.shape[1]) % width]]
    if new_w.shape != w.shape:
        tensors[filt.index] = replace(filt, shape=new_w.shape, data=np.ascontiguousarray(new_w),
                                      quant=_slice_quant(filt.quant, rows))
    if fold is None and bias is None:
        return inputs
    b = np.zeros(w.shape[0] if op.opcode != "DEPTHWISE_CONV_2D" else w.shape[3], np.int64) \
        if bias is None else bias.data.astype(np.int64).reshape(-1)
    if fold is not None:
        b = b + fold
    new_b = b[rows].astype(np.int32)
    if bias is None:
        tensors.append(Tensor(len(tensors), f"{g.tensors[t_out].name}/slim_bias", new_b.shape, "int32", None, new_b))
        inputs = inputs + [-1] * (3 - len(inputs))
        inputs[2] = len(tensors) - 1
    elif new_b.shape != bias.data.shape or fold is not None:
        tensors[bias.index] = replace(bias, shape=new_b.shape, data=new_b, quant=_slice_quant(bias.quant, rows))
    return inputs
