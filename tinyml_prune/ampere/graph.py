"""Just enough of a .tflite flatbuffer for the 2:4 path: operators, tensors, constant buffers.

Also patches constant buffers in a copy of the flatbuffer (used to prune a model's int8 weights
2:4 in place, without re-converting).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError

TFLITE_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8}
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
PADDINGS = {0: "SAME", 1: "VALID"}


def _schema():
    from tinyml_prune.codegen.schema import schema

    return schema()


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple
    dtype: type
    scale: np.ndarray          # float32 per channel (or one value); empty if not quantized
    zero_point: np.ndarray
    quantized_dimension: int
    buffer: int
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


def load_bytes(model) -> bytes:
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    path = os.fspath(model)
    if not os.path.exists(path):
        raise ModelError(f"{path}: no such file")
    with open(path, "rb") as f:
        return f.read()


def read(model) -> Graph:
    """Parse the first subgraph of a .tflite (path or bytes)."""
    buf = load_bytes(model)
    s = _schema()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelError("not a TFLite flatbuffer (missing the TFL3 identifier)")
    try:
        m = s.Model.GetRootAs(buf, 0)
        sg = m.Subgraphs(0)
        names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
        tensors = tuple(_tensor(m, sg.Tensors(i), i) for i in range(sg.TensorsLength()))
        ops = []
        for i in range(sg.OperatorsLength()):
            o = sg.Operators(i)
            oc = m.OperatorCodes(o.OpcodeIndex())
            code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
            name = names.get(code, f"OP_{code}")
            ops.append(Op(i, name, tuple(int(x) for x in o.InputsAsNumpy()),
                          tuple(int(x) for x in o.OutputsAsNumpy()), _options(s, name, o)))
        return Graph(tensors, tuple(ops), tuple(int(x) for x in sg.InputsAsNumpy()),
                     tuple(int(x) for x in sg.OutputsAsNumpy()))
    except ModelError:
        raise
    except Exception as e:  # a truncated or corrupt flatbuffer raises anything
        raise ModelError(f"cannot parse the TFLite flatbuffer: {type(e).__name__}: {e}") from None


def _tensor(m, t, i: int) -> Tensor:
    q = t.Quantization()
    scale = q.ScaleAsNumpy() if q is not None and not q.ScaleIsNone() else np.zeros(0)
    zp = q.ZeroPointAsNumpy() if q is not None and not q.ZeroPointIsNone() else np.zeros(0)
    dtype = TFLITE_TYPES.get(t.Type())
    data = None
    b = m.Buffers(t.Buffer())
    if dtype is not None and b is not None and b.DataLength() > 0:
        data = np.frombuffer(b.DataAsNumpy().tobytes(), dtype=dtype).reshape(tuple(t.ShapeAsNumpy()))
    return Tensor(i, t.Name().decode(), tuple(int(x) for x in t.ShapeAsNumpy()) if t.ShapeLength() else (),
                  dtype, np.asarray(scale, np.float32), np.asarray(zp, np.int64),
                  int(q.QuantizedDimension()) if q is not None else 0, int(t.Buffer()), data)


def _options(s, name: str, o) -> dict:
    table = o.BuiltinOptions()
    if name == "CONV_2D" and table is not None:
        opt = s.Conv2DOptions()
        opt.Init(table.Bytes, table.Pos)
        return {"padding": PADDINGS[opt.Padding()], "stride": (opt.StrideH(), opt.StrideW()),
                "dilation": (opt.DilationHFactor(), opt.DilationWFactor()),
                "activation": ACTIVATIONS.get(opt.FusedActivationFunction(), "UNKNOWN")}
    if name == "FULLY_CONNECTED" and table is not None:
        opt = s.FullyConnectedOptions()
        opt.Init(table.Bytes, table.Pos)
        return {"activation": ACTIVATIONS.get(opt.FusedActivationFunction(), "UNKNOWN"),
                "keep_num_dims": bool(opt.KeepNumDims()), "weights_format": int(opt.WeightsFormat())}
    if name == "FULLY_CONNECTED":
        return {"activation": "NONE", "keep_num_dims": False, "weights_format": 0}
    return {}


def replace_buffers(model, new_data: dict[int, np.ndarray]) -> bytes:
    """A copy of the flatbuffer with constant tensors (by tensor index) overwritten in place.

    The new arrays must have the same dtype and size as the old ones (pruning keeps both).
    """
    buf = bytearray(load_bytes(model))
    s = _schema()
    m = s.Model.GetRootAs(buf, 0)
    sg = m.Subgraphs(0)
    for ti, arr in new_data.items():
        t = sg.Tensors(ti)
        b = m.Buffers(t.Buffer())
        raw = np.ascontiguousarray(arr).tobytes()
        o = b._tab.Offset(4)       # Buffer.data
        if o == 0 or b._tab.VectorLen(o) != len(raw):
            raise ModelError(f"tensor {ti} ({t.Name().decode()}): constant buffer is absent or holds "
                             f"{b.DataLength()} bytes, not {len(raw)}")
        start = b._tab.Vector(o)
        buf[start:start + len(raw)] = raw
    return bytes(buf)
