"""Magnitude-prune a quantized .tflite in place, for measuring the sparse formats on
third-party int8 models that have no Keras source (accuracy is not retrained; only the
kernels' speed, size and bit-exactness against TFLite on the same pruned model matter).

``unstructured``: per layer, zero the smallest-magnitude ``sparsity`` fraction of each
CONV_2D / FULLY_CONNECTED filter. ``2:4``: the two largest of every four along each
output channel's Kh·Kw·Cin row (as tfmot groups them).
"""
from __future__ import annotations

import numpy as np

from tinyml_prune.ampere.format import prune_2to4
from tinyml_prune.ampere.graph import read, replace_buffers

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
    graph = read(tflite)
    new = {}
    for op in graph.ops:
        if op.name not in GEMM_OPS:
            continue
        w = graph.tensors[op.inputs[1]]
        if w.data is None or w.data.dtype != np.int8:
            continue
        if mode == "2:4":
            new[w.index] = prune_2to4(w.data.reshape(w.shape[0], -1)).reshape(w.shape)
        else:
            new[w.index] = prune_unstructured(w.data, sparsity)
    return replace_buffers(tflite, new)
