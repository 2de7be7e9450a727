"""Read the int8 weights of a .tflite back, per Conv/DepthwiseConv/Conv2DTranspose/Dense layer.

The flatbuffer is read by the code generator's reader (no interpreter needed); each weighted
operator maps to the Keras layer it came from by the layer name inside the weight tensor's name (``model/quant_conv1/Conv2D;...`` or ``model/conv1/Conv2D``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..codegen.tflite_reader import read_tflite
from ..errors import ModelError

# TRANSPOSE_CONV's inputs are (output shape, weights, input[, bias]): weights are input 1 too.
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")


@dataclass(frozen=True)
class TfliteWeight:
    op: str
    tensor_name: str
    values: np.ndarray  # int8, TFLite layout: Conv [O,H,W,I], DW [1,H,W,C*M], FC [O,I]
    scales: np.ndarray
    quantized_dimension: int


def read_weights(tflite: bytes) -> list[TfliteWeight]:
    """Every weighted operator's weight tensor, in execution order."""
    graph = read_tflite(bytes(tflite), "the .tflite")
    out = []
    for op in graph.operators:
        if op.opcode not in WEIGHTED_OPS or len(op.inputs) < 2 or op.inputs[1] < 0:
            continue
        t = graph.tensors[op.inputs[1]]
        if t.data is None or t.dtype != "int8":
            raise ModelError(f"{op.opcode} weight tensor {t.name!r} is not constant int8 "
                             "(not a full-integer model)")
        q = t.quant
        out.append(TfliteWeight(
            op=op.opcode,
            tensor_name=t.name,
            values=t.data,
            scales=np.asarray(q.scale if q is not None else [], np.float32),
            quantized_dimension=int(q.axis) if q is not None else 0,
        ))
    return out


def layer_of(weight: TfliteWeight, layer_names) -> str | None:
    """The Keras layer name embedded in the weight tensor's name (longest match wins).

    Layer names may contain "/" themselves (MobileNetV3: ``expanded_conv/depthwise``), so a
    name matches whole path components, optionally behind tfmot's ``quant_`` prefix."""
    hits = []
    for piece in weight.tensor_name.split(";"):
        for n in layer_names:
            if re.search(r"(^|/)(quant_)?" + re.escape(n) + r"(/|$)", piece):
                hits.append(n)
    return max(hits, key=len) if hits else None


def keras_to_tflite_layout(kind: str, kernel: np.ndarray) -> np.ndarray:
    """A Keras kernel in the TFLite weight layout (input channels last, contiguous)."""
    if kind == "Conv2D":  # [H,W,I,O] -> [O,H,W,I]
        return np.transpose(kernel, (3, 0, 1, 2))
    if kind == "Conv1D":  # [W,I,O] -> CONV_2D [O,1,W,I]
        return np.transpose(kernel, (2, 0, 1))[:, None]
    if kind == "Conv2DTranspose":  # [H,W,O,I] -> TRANSPOSE_CONV [O,H,W,I]
        return np.transpose(kernel, (2, 0, 1, 3))
    if kind == "DepthwiseConv1D":  # [W,C,M] -> [1,1,W,C*M]
        w, c, m = kernel.shape
        return kernel.reshape(1, 1, w, c * m)
    if kind == "DepthwiseConv2D":  # [H,W,C,M] -> [1,H,W,C*M]
        h, w, c, m = kernel.shape
        return kernel.reshape(1, h, w, c * m)
    if kind == "Dense":  # [I,O] -> [O,I]
        return kernel.T
    raise ValueError(kind)
