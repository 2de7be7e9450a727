"""The 2:4 path's view of a .tflite: the code generator's IR, with the fields a GEMM needs.

The flatbuffer is read (and validated) once, by ``codegen.tflite_reader``; this module only
reshapes that IR into per-tensor quantization arrays and a plain options dict per operator.
Buffer patching lives in ``codegen.tflite_patch``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..codegen.tflite_reader import activation_name, load_bytes, padding_name, read_tflite

__all__ = ["Graph", "Op", "Tensor", "load_bytes", "read"]


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple
    dtype: type | None         # numpy scalar type, e.g. np.int8
    scale: np.ndarray          # float32 per channel (or one value); empty if not quantized
    zero_point: np.ndarray
    quantized_dimension: int
    data: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Op:
    index: int
    name: str                  # builtin name, e.g. "CONV_2D"
    inputs: tuple
    outputs: tuple
    options: dict


@dataclass(frozen=True)
class Graph:
    tensors: tuple
    ops: tuple
    inputs: tuple
    outputs: tuple


def read(model) -> Graph:
    """The first subgraph of a .tflite (path or bytes)."""
    ir = read_tflite(load_bytes(model))
    tensors = tuple(_tensor(t) for t in ir.tensors)
    ops = tuple(Op(o.index, o.opcode, o.inputs, o.outputs, _options(o.opcode, o.options)) for o in ir.operators)
    return Graph(tensors, ops, tuple(ir.inputs), tuple(ir.outputs))


def _tensor(t) -> Tensor:
    try:
        dtype = np.dtype(t.dtype).type
    except TypeError:
        dtype = None
    q = t.quant
    scale = np.asarray(q.scale if q is not None else [], np.float32)
    zp = np.asarray(q.zero_point if q is not None else [], np.int64)
    return Tensor(t.index, t.name, tuple(t.shape), dtype, scale, zp, int(q.axis) if q is not None else 0, t.data)


def _options(opcode: str, o) -> dict:
    if opcode == "CONV_2D" and o is not None:
        return {"padding": padding_name(o.padding), "stride": (o.strideH, o.strideW),
                "dilation": (o.dilationHFactor, o.dilationWFactor),
                "activation": activation_name(o.fusedActivationFunction)}
    if opcode == "FULLY_CONNECTED" and o is not None:
        return {"activation": activation_name(o.fusedActivationFunction),
                "keep_num_dims": bool(o.keepNumDims), "weights_format": int(o.weightsFormat)}
    if opcode == "FULLY_CONNECTED":
        return {"activation": "NONE", "keep_num_dims": False, "weights_format": 0}
    return {}
