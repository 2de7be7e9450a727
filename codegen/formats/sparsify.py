"""Magnitude-prune a quantized .tflite in place, for measuring the sparse formats on
third-party int8 models that have no Keras source (accuracy is not retrained; only the
kernels' speed, size and bit-exactness against TFLite on the same pruned model matter).

``unstructured``: per layer, zero the smallest-magnitude ``sparsity`` fraction of each
CONV_2D / FULLY_CONNECTED filter. ``2:4``: the two largest of every four along each
output channel's Kh·Kw·Cin row (as tfmot groups them).
"""
from __future__ import annotations

import numpy as np

from tinyml_prune import nm

from ..tflite_patch import replace_buffers
from ..tflite_reader import read_tflite
from .base import FormatError

GEMM_OPS = ("CONV_2D", "FULLY_CONNECTED")


def prune_unstructured(w: np.ndarray, sparsity: float) -> np.ndarray:
    m = w.reshape(w.shape[0], -1)
    k = int(round(sparsity * m.size))
    if k == 0:
        return w.copy()
    order = np.argsort(np.abs(m.astype(np.int16)).reshape(-1), kind="stable")
    flat = m.reshape(-1).copy()
    flat[order[:k]] = 0
    return flat.reshape(w.shape)


def prune_tflite(tflite: bytes, mode: str, sparsity: float = 0.9) -> bytes:
    if mode not in ("unstructured", "2:4"):
        raise FormatError(f"pruning mode must be 'unstructured' or '2:4', got {mode!r}")
    graph = read_tflite(tflite)
    new = {}
    for op in graph.operators:
        if op.opcode not in GEMM_OPS:
            continue
        w = graph.tensors[op.inputs[1]]
        if w.data is None or w.data.dtype != np.int8:
            continue
        if mode == "2:4":
            new[w.index] = nm.prune(w.data.reshape(w.shape[0], -1), 2, 4).reshape(w.shape)
        else:
            new[w.index] = prune_unstructured(w.data, sparsity)
    return replace_buffers(tflite, new)


def mask_channels(tflite: bytes, fraction: float, zero_bias: bool = True) -> bytes:
    """Zero the ``fraction`` lowest-L1 output channels of every CONV_2D / FULLY_CONNECTED
    but the last one (the classifier) — weights, and with ``zero_bias`` their bias entries:
    a channel-masked model for measuring ``--format slim`` on third-party models."""
    if not 0.0 <= fraction < 1.0:
        raise FormatError(f"channel fraction {fraction} must be in [0, 1)")
    graph = read_tflite(tflite)
    gemms = [op for op in graph.operators if op.opcode in GEMM_OPS]
    new = {}
    for op in gemms[:-1]:
        w = graph.tensors[op.inputs[1]]
        if w.data is None or w.data.dtype != np.int8:
            continue
        rows = w.data.reshape(w.shape[0], -1)
        gone = np.argsort(np.abs(rows.astype(np.int32)).sum(axis=1), kind="stable")[: int(fraction * len(rows))]
        masked = rows.copy()
        masked[gone] = 0
        new[w.index] = masked.reshape(w.shape)
        b = graph.tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        if zero_bias and b is not None and b.data is not None:
            bias = b.data.copy()
            bias[gone] = 0
            new[b.index] = bias
    return replace_buffers(tflite, new)
