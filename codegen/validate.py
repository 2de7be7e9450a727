"""Prove a parsed TFLite flatbuffer well-formed before anything reads it.

The reader parses the file into the schema's object API (``ModelT``); :func:`validate` checks
that object and returns what the IR needs (opcode names, options, constant bytes, the
quantization axis of every tensor). Every later stage may then index tensors, buffers and
opcodes without bounds checks and divide by scales without guards.

Each defect raises one :class:`InvalidModelError` whose message names the operator (index and
opcode), the tensor (index and name) and the offending value; ``kind`` is a short stable tag
for statistics (the fuzz bench counts by it).

What is checked, in order:

- buffers: data stored after the flatbuffer lies inside the file;
- tensors: known type, non-negative shape of a sane size, buffer index in range, constant data
  exactly shape x element size, quantization (finite scales > 0, as many zero points as scales,
  zero points inside the type's range, per-channel vectors as long as the quantized dimension,
  quantized dimension in range);
- operators: opcode index in range, tensor indices in range (-1 only for an absent optional
  input), builtin options absent or of the operator's own type (absent ones get the schema's
  defaults, as TFLite reads them), attributes finite and in range;
- data flow: model inputs written by no operator; every operator input a constant, a model
  input, a variable or written by an earlier operator; no tensor written twice; every model
  output written.

Validation is generic: an operator the generator does not know passes here (when its indices,
options type and generic attributes are sound) and is refused by the emitter lookup.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tinyml_prune.errors import ModelError

# TFLite TensorType name -> (IR dtype name, bits per element or None when not fixed-size).
_TYPE_INFO = {
    "FLOAT32": ("float32", 32), "FLOAT16": ("float16", 16), "INT32": ("int32", 32), "UINT8": ("uint8", 8),
    "INT64": ("int64", 64), "STRING": ("string", None), "BOOL": ("bool", 8), "INT16": ("int16", 16),
    "COMPLEX64": ("complex64", 64), "INT8": ("int8", 8), "FLOAT64": ("float64", 64),
    "COMPLEX128": ("complex128", 128), "UINT64": ("uint64", 64), "RESOURCE": ("resource", None),
    "VARIANT": ("variant", None), "UINT32": ("uint32", 32), "UINT16": ("uint16", 16), "INT4": ("int4", 4),
    "BFLOAT16": ("bfloat16", 16), "INT2": ("int2", 2), "UINT4": ("uint4", 4),
}
# Zero-point range per type; types not listed (wide integers, floats) must use zero point 0.
_ZERO_POINT_RANGE = {
    "int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "uint16": (0, 65535),
    "int4": (-8, 7), "uint4": (0, 15), "int2": (-2, 1),
}
MAX_TENSOR_BYTES = (1 << 31) - 1  # offsets and sizes in the generated C are 32-bit

# Operators whose builtin options type is not their own name + "Options".
_OPTIONS_EXCEPTIONS = {
    "AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions", "L2_POOL_2D": "Pool2DOptions",
    "L2_NORMALIZATION": "L2NormOptions",
    "MEAN": "ReducerOptions", "SUM": "ReducerOptions", "REDUCE_PROD": "ReducerOptions",
    "REDUCE_MAX": "ReducerOptions", "REDUCE_MIN": "ReducerOptions", "REDUCE_ANY": "ReducerOptions",
    "REDUCE_ALL": "ReducerOptions",
    "MAXIMUM": "MaximumMinimumOptions", "MINIMUM": "MaximumMinimumOptions",
    "UNIDIRECTIONAL_SEQUENCE_RNN": "SequenceRNNOptions", "CONV_3D_TRANSPOSE": "Conv3DOptions",
    "RANDOM_STANDARD_NORMAL": "RandomOptions", "RANDOM_UNIFORM": "RandomOptions", "MULTINOMIAL": "RandomOptions",
}

# Attribute rules beyond the generic ones, per options type: (field, predicate, requirement).
_ATTRIBUTE_RULES = {
    "SoftmaxOptions": (("beta", lambda v: v > 0, "must be > 0"),),
}


class InvalidModelError(ModelError):
    """A malformed model; ``kind`` names the class of defect (e.g. "tensor-index")."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class TensorInfo:
    dtype: str  # IR dtype name ("int8", "int32", ..., or "typeN" for an unknown one)
    shape: tuple[int, ...]
    data: bytes | None  # the constant's bytes, None for activations
    scale: np.ndarray | None  # float32; None without quantization
    zero_point: np.ndarray | None  # int64, same length as scale
    axis: int  # the quantized dimension (normalized into range)


@dataclass(frozen=True)
class OperatorInfo:
    opcode: str
    options: object  # the options object (schema defaults when the file has none) or None


@dataclass(frozen=True)
class CheckedModel:
    tensors: list[TensorInfo]
    operators: list[OperatorInfo]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def _schema():
    from .schema import schema

    return schema()


def _enum(cls) -> dict[str, int]:
    return {k: v for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


@lru_cache(maxsize=1)
def _tables():
    s = _schema()
    opcodes = {v: k for k, v in _enum(s.BuiltinOperator).items()}
    types = {v: _TYPE_INFO.get(k, (k.lower(), None)) for k, v in _enum(s.TensorType).items()}
    options1 = {v: k for k, v in _enum(s.BuiltinOptions).items()}
    options2 = {v: k for k, v in _enum(s.BuiltinOptions2).items()} if hasattr(s, "BuiltinOptions2") else {}
    by_key1 = {k.lower(): k for k in options1.values() if k != "NONE"}
    by_key2 = {k.lower(): k for k in options2.values() if k != "NONE"}
    expected: dict[str, tuple[int, str]] = {}  # opcode name -> (union 1 or 2, options type name)
    for name in opcodes.values():
        want = _OPTIONS_EXCEPTIONS.get(name)
        key = (want or name.replace("_", "") + "Options").lower()
        if key in by_key1:
            expected[name] = (1, by_key1[key])
        elif key in by_key2:
            expected[name] = (2, by_key2[key])
    return dict(opcodes=opcodes, types=types, options1=options1, options2=options2, expected=expected,
                activations=set(_enum(s.ActivationFunctionType).values()), paddings=_enum(s.Padding))


def expected_options(opcode: str) -> str | None:
    """The builtin options type TFLite's schema gives ``opcode`` (None: it has none we know)."""
    e = _tables()["expected"].get(opcode)
    return e[1] if e else None


def opcode_name(code: int) -> str:
    return _tables()["opcodes"].get(code, f"BUILTIN_{code}")


def _text(b) -> str:
    if b is None:
        return ""
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)


def _ints(v) -> tuple[int, ...]:
    return () if v is None else tuple(int(x) for x in v)


class _Checker:
    def __init__(self, model, data: bytes, source: str):
        self.m, self.data, self.source = model, data, source
        self.t = _tables()

    def fail(self, kind: str, msg: str):
        raise InvalidModelError(kind, f"{self.source}: {msg}")

    # -- naming -----------------------------------------------------------------------------
    def tname(self, i: int) -> str:
        return f"tensor {i} '{_text(self.sg.tensors[i].name)}'"

    def oname(self, k: int) -> str:
        return f"operator {k} ({self.opcodes[k]})" if k < len(self.opcodes) else f"operator {k}"

    # -- the checks ---------------------------------------------------------------------------
    def run(self) -> CheckedModel:
        m = self.m
        subgraphs = m.subgraphs or []
        if not subgraphs:
            self.fail("subgraph", "has no subgraph")
        if len(subgraphs) > 1:
            raise ModelError(f"{self.source} has {len(subgraphs)} subgraphs; only single-subgraph models "
                             "are supported")
        self.sg = subgraphs[0]
        self.buffers = m.buffers or []
        self.codes = m.operatorCodes or []
        self.opcodes = []
        for k, op in enumerate(self.sg.operators or []):
            idx = int(op.opcodeIndex)
            if not 0 <= idx < len(self.codes):
                self.fail("opcode-index", f"operator {k} refers to opcode {idx}, but the model has "
                                          f"{len(self.codes)} opcodes")
            oc = self.codes[idx]
            name = opcode_name(max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode)))
            if name == "CUSTOM":
                name = f"CUSTOM({_text(oc.customCode)})"
            self.opcodes.append(name)
        self.check_buffers()
        tensors = [self.check_tensor(i, t) for i, t in enumerate(self.sg.tensors or [])]
        self.tensors = tensors
        inputs, outputs = self.check_io()
        operators = [self.check_operator(k, op) for k, op in enumerate(self.sg.operators or [])]
        self.check_dataflow(inputs, outputs)
        return CheckedModel(tensors, operators, inputs, outputs)

    def check_buffers(self):
        for b, buf in enumerate(self.buffers):
            offset, size = int(getattr(buf, "offset", 0) or 0), int(getattr(buf, "size", 0) or 0)
            if offset > 1 and offset + size > len(self.data):
                self.fail("buffer-bounds", f"buffer {b} data (offset {offset}, {size} bytes) lies beyond the end "
                                           f"of the {len(self.data)}-byte file (truncated?)")

    def check_tensor(self, i: int, t) -> TensorInfo:
        where = self.tname(i)
        type_info = self.t["types"].get(int(t.type))
        if type_info is None:
            self.fail("tensor-type", f"{where} has unknown type {int(t.type)}")
        dtype, bits = type_info
        shape = _ints(t.shape)
        if any(d < 0 for d in shape):
            self.fail("tensor-shape", f"{where} has negative dimension in shape {list(shape)}")
        count = math.prod(shape)
        if bits is not None and count * bits > 8 * MAX_TENSOR_BYTES:
            self.fail("tensor-shape", f"{where} has shape {list(shape)} ({count} elements); larger than 2 GiB")
        b = int(t.buffer)
        if not 0 <= b < len(self.buffers):
            self.fail("buffer-index", f"{where} refers to buffer {b}, but the model has {len(self.buffers)} buffers")
        data = self.buffer_bytes(b) if b > 0 else None
        if data is None and b > 0 and count == 0:
            data = b""  # an empty constant (e.g. MEAN's axes = []): nothing to store
        if data is not None and t.sparsity is not None:
            raise ModelError(f"{self.source}: {where} is stored sparse (TFLite sparsity); sparse constant "
                             "tensors are not supported")
        if data is not None and bits is not None:
            want = (count * bits + 7) // 8
            if len(data) != want:
                self.fail("buffer-length", f"{where} has {len(data)} bytes of data in buffer {b}; its shape "
                                           f"{list(shape)} of {dtype} needs {want}")
        scale, zp, axis = self.check_quantization(where, dtype, shape, t.quantization)
        return TensorInfo(dtype, shape, data, scale, zp, axis)

    def buffer_bytes(self, b: int) -> bytes | None:
        buf = self.buffers[b]
        if buf.data is not None and len(buf.data) > 0:
            return np.asarray(buf.data, dtype=np.uint8).tobytes()
        offset, size = int(getattr(buf, "offset", 0) or 0), int(getattr(buf, "size", 0) or 0)
        if offset > 1:  # large models store data after the flatbuffer (bounds checked above)
            return self.data[offset:offset + size]
        return None

    def check_quantization(self, where: str, dtype: str, shape, q):
        if q is None or q.scale is None or len(q.scale) == 0:
            return None, None, 0
        scale = np.asarray(q.scale, dtype=np.float32).reshape(-1)
        zp = np.asarray(q.zeroPoint if q.zeroPoint is not None else [], dtype=np.int64).reshape(-1)
        bad = np.flatnonzero(~(np.isfinite(scale) & (scale > 0)))
        if bad.size:
            self.fail("quant-scale", f"{where} has quantization scale {float(scale[bad[0]])!r}"
                                     f"{f' (channel {int(bad[0])})' if scale.size > 1 else ''}; scales must be "
                                     "finite and > 0")
        if zp.size != scale.size:
            self.fail("quant-length", f"{where} has {scale.size} quantization scales but {zp.size} zero points")
        lo, hi = _ZERO_POINT_RANGE.get(dtype, (0, 0))
        bad = np.flatnonzero((zp < lo) | (zp > hi))
        if bad.size:
            allowed = f"inside [{lo}, {hi}]" if lo != hi else "0"
            self.fail("quant-zero-point", f"{where} ({dtype}) has zero point {int(zp[bad[0]])}; it must be {allowed}")
        axis = int(q.quantizedDimension)
        rank = len(shape)
        if axis < 0 or (rank and axis >= rank):
            # Older converters wrote an out-of-range dimension on 1-D tensors; their only axis is
            # meant whenever the scale count makes that unambiguous.
            if axis >= rank == 1 and scale.size in (1, shape[0]):
                axis = 0
            else:
                self.fail("quant-axis", f"{where} has quantized dimension {axis}, outside its {rank} dimensions "
                                        f"(shape {list(shape)})")
        if not rank:
            axis = 0
        if scale.size > 1 and (not rank or scale.size != shape[axis]):
            self.fail("quant-length", f"{where} has {scale.size} quantization scales along dimension {axis}, "
                                      f"which has {shape[axis] if rank else 1} entries (shape {list(shape)})")
        return scale, zp, axis

    def check_io(self):
        n = len(self.tensors)
        res = []
        for role, ids in (("input", self.sg.inputs), ("output", self.sg.outputs)):
            ids = _ints(ids)
            for k, i in enumerate(ids):
                if not 0 <= i < n:
                    self.fail("io-index", f"model {role} {k} refers to tensor {i}, but the model has {n} tensors")
            res.append(ids)
        return res[0], res[1]

    def check_operator(self, k: int, op) -> OperatorInfo:
        where, n = self.oname(k), len(self.tensors)
        for role, ids, optional in (("input", op.inputs, True), ("output", op.outputs, False),
                                    ("intermediate", op.intermediates, True)):
            for j, i in enumerate(_ints(ids)):
                if (i == -1 and optional) or 0 <= i < n:
                    continue
                hint = "; only -1 (an absent optional input) may be negative" if i < 0 else ""
                self.fail("tensor-index", f"{where} {role} {j} refers to tensor {i}, but the model has {n} "
                                          f"tensors{hint}")
        options = self.check_options(k, op)
        return OperatorInfo(self.opcodes[k], options)

    def check_options(self, k: int, op):
        where = self.oname(k)
        s = _schema()
        expected = self.t["expected"].get(self.opcodes[k])
        found = None
        for union, type_field, value_field, names in ((1, "builtinOptionsType", "builtinOptions", "options1"),
                                                        (2, "builtinOptions2Type", "builtinOptions2", "options2")):
            code = int(getattr(op, type_field, 0) or 0)
            if code == 0:
                continue
            name = self.t[names].get(code)
            if name is None:
                self.fail("options-type", f"{where} has builtin options of unknown type {code}")
            if expected is not None and (union, name) != expected:
                self.fail("options-type", f"{where} has builtin options {name}; {self.opcodes[k]} takes "
                                          f"{expected[1]}")
            value = getattr(op, value_field, None)
            if value is None:
                self.fail("options-missing", f"{where} declares builtin options {name} but has none")
            found = (name, value)
        if found is None:
            if expected is None:
                return None
            # TFLite reads absent options as defaults; check those like written ones.
            found = (expected[1], getattr(s, expected[1] + "T")())
            absent = True
        else:
            absent = False
        name, value = found
        self.check_attributes(where, name, value, absent)
        return value

    def check_attributes(self, where: str, name: str, o, absent: bool):
        def bad(field: str, v, requirement: str):
            prefix = f"has no {name} and its default {field} {v!r}" if absent else f"{name}.{field} is {v!r}"
            self.fail("options-value", f"{where}: {prefix}; {requirement}")

        for field, v in vars(o).items():
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                continue
            low = field.lower()
            if isinstance(v, (float, np.floating)):
                if not math.isfinite(v):
                    bad(field, float(v), "it must be finite")
                continue
            v = int(v)
            if field == "padding" and v not in self.t["paddings"].values():
                bad(field, v, f"padding must be one of {self.t['paddings']}")
            elif field == "fusedActivationFunction" and v not in self.t["activations"]:
                bad(field, v, f"the fused activation must be one of {sorted(self.t['activations'])}")
            elif (low.startswith("stride") or (low.startswith("dilation") and low.endswith("factor"))
                  or low in ("filterheight", "filterwidth")) and v < 1:
                bad(field, v, "it must be >= 1")
            elif "subgraph" in low and not 0 <= v < len(self.m.subgraphs):
                bad(field, v, f"the model has {len(self.m.subgraphs)} subgraph(s)")
        for field, ok, requirement in _ATTRIBUTE_RULES.get(name, ()):
            v = getattr(o, field)
            if not ok(v):
                bad(field, v, f"{field} {requirement}")

    def check_dataflow(self, inputs, outputs):
        tensors, ops = self.tensors, self.sg.operators or []
        writer: dict[int, int] = {}
        for k, op in enumerate(ops):
            for i in _ints(op.outputs):
                if writer.get(i) == k:
                    self.fail("graph-writer", f"{self.oname(k)} lists {self.tname(i)} twice among its outputs")
                if i in writer:
                    self.fail("graph-writer", f"{self.oname(k)} writes {self.tname(i)}, which "
                                              f"{self.oname(writer[i])} writes too")
                writer[i] = k
        for i in sorted(set(inputs) | set(writer)):
            t = tensors[i]
            if t.dtype not in ("int32", "int64") and 0 in t.shape:
                self.fail("tensor-shape", f"{self.tname(i)} has shape {list(t.shape)} with no elements; "
                                          "empty activations are not supported")
        for k, i in enumerate(inputs):
            if i in writer:
                self.fail("graph-input", f"model input {k} ({self.tname(i)}) is written by {self.oname(writer[i])}")
        variables = {i for i, t in enumerate(self.sg.tensors or []) if t.isVariable}
        ready = set(inputs) | variables | {i for i, t in enumerate(tensors) if t.data is not None}
        for k, op in enumerate(ops):
            for j, i in enumerate(_ints(op.inputs)):
                if i < 0 or i in ready:
                    continue
                if i in writer and writer[i] >= k:
                    why = "itself" if writer[i] == k else f"the later {self.oname(writer[i])}"
                    self.fail("graph-order", f"{self.oname(k)} input {j} reads {self.tname(i)} before it is "
                                             f"written (by {why})")
                self.fail("graph-source", f"{self.oname(k)} input {j} reads {self.tname(i)}, which is neither a "
                                          "constant nor a model input nor written by any operator")
            for i in _ints(op.outputs):
                if tensors[i].data is not None:
                    self.fail("graph-writer", f"{self.oname(k)} writes {self.tname(i)}, which is a constant")
                ready.add(i)
        for k, i in enumerate(outputs):
            if i not in writer and i not in inputs:
                self.fail("graph-output", f"model output {k} ({self.tname(i)}) is written by no operator")


def validate(model, data: bytes, source: str = "model") -> CheckedModel:
    """Check the parsed ``model`` (a schema ``ModelT``) read from ``data``; raise one
    :class:`InvalidModelError` naming the first defect, else return what the IR is built from."""
    return _Checker(model, data, source).run()
