"""Build small int8 TFLite flatbuffers directly with the TFLite schema (no converter).

Tests use this to sweep each operator's parameter space quickly: a model is a list of
tensors and operators; the TFLite interpreter (BUILTIN_REF) is the oracle.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import flatbuffers
import numpy as np

_TYPES = {"float32": 0, "int32": 2, "uint8": 3, "int8": 9, "int64": 4}


def schema():
    from tinyml_prune.codegen.schema import schema as s

    return s()


@dataclass
class T:
    shape: tuple
    dtype: str = "int8"
    scale: list | None = None
    zero_point: list | None = None
    axis: int = 0
    data: np.ndarray | None = None
    name: str = ""


@dataclass
class Op:
    opcode: str
    inputs: list
    outputs: list
    options: object = None
    options_type: str | None = None  # BuiltinOptions member name, e.g. "Conv2DOptions"


@dataclass
class ModelSpec:
    tensors: list = field(default_factory=list)
    ops: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)

    def add(self, t: T) -> int:
        if not t.name:
            t.name = f"t{len(self.tensors)}"
        self.tensors.append(t)
        return len(self.tensors) - 1


def build(spec: ModelSpec) -> bytes:
    s = schema()
    model = s.ModelT()
    model.version = 3
    model.description = "tinyml-prune test model"
    model.buffers = [s.BufferT()]
    sg = s.SubGraphT()
    sg.tensors = []
    for t in spec.tensors:
        tt = s.TensorT()
        tt.name = t.name
        tt.shape = np.array(t.shape, dtype=np.int32)
        tt.type = _TYPES[t.dtype]
        tt.buffer = 0
        if t.data is not None:
            b = s.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(t.data, dtype=t.dtype).tobytes(), dtype=np.uint8)
            model.buffers.append(b)
            tt.buffer = len(model.buffers) - 1
        if t.scale is not None:
            q = s.QuantizationParametersT()
            q.scale = np.asarray(t.scale, dtype=np.float32)
            q.zeroPoint = np.asarray(t.zero_point if t.zero_point is not None else [0] * len(t.scale),
                                     dtype=np.int64)
            q.quantizedDimension = t.axis
            tt.quantization = q
        sg.tensors.append(tt)
    codes, sg.operators = [], []
    for op in spec.ops:
        code = getattr(s.BuiltinOperator, op.opcode)
        if code not in codes:
            codes.append(code)
        o = s.OperatorT()
        o.opcodeIndex = codes.index(code)
        o.inputs = np.array(op.inputs, dtype=np.int32)
        o.outputs = np.array(op.outputs, dtype=np.int32)
        if op.options is not None:
            o.builtinOptionsType = getattr(s.BuiltinOptions, op.options_type)
            o.builtinOptions = op.options
        sg.operators.append(o)
    sg.inputs = np.array(spec.inputs, dtype=np.int32)
    sg.outputs = np.array(spec.outputs, dtype=np.int32)
    model.subgraphs = [sg]
    model.operatorCodes = []
    for code in codes:
        oc = s.OperatorCodeT()
        oc.builtinCode = code
        oc.deprecatedBuiltinCode = min(code, 127)
        oc.version = 1
        model.operatorCodes.append(oc)
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def options(name: str, **fields):
    s = schema()
    o = getattr(s, f"{name}T")()
    for k, v in fields.items():
        setattr(o, k, v)
    return o
