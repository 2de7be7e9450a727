"""Read an int8 TFLite flatbuffer into the IR, with the TFLite schema (no interpreter).

The parsed schema object is proved well-formed by :mod:`.validate` first, so the IR (and every
stage after it) only ever sees in-range indices, consistent quantization and sound options.
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache

import numpy as np

from tinyml_prune.errors import ModelError

from .validate import _schema, _text, validate


def load_bytes(model) -> bytes:
    """The flatbuffer's bytes from a path or from bytes already in memory."""
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    path = os.fspath(model)
    if not os.path.exists(path):
        raise ModelError(f"{path}: no such file")
    with open(path, "rb") as f:
        return f.read()


@lru_cache(maxsize=1)
def _enum_names() -> dict:
    s = _schema()
    names = {}
    for kind, cls in (("activation", s.ActivationFunctionType), ("padding", s.Padding)):
        names[kind] = {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}
    return names


def activation_name(code: int) -> str:
    """The schema's name of a fused activation code ("NONE", "RELU", "RELU6", ...)."""
    return _enum_names()["activation"].get(int(code), f"UNKNOWN_{code}")


def padding_name(code: int) -> str:
    """The schema's name of a padding code ("SAME" or "VALID")."""
    return _enum_names()["padding"].get(int(code), f"UNKNOWN_{code}")


def read_tflite(data: bytes, source: str = "model") -> "Graph":
    """Parse ``data`` (the .tflite bytes) into a :class:`Graph`; errors name the problem."""
    from .ir import Graph, Operator, Quantization, Tensor

    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(f"{source} is not a TFLite flatbuffer (no 'TFL3' identifier in its first 8 bytes)")
    schema = _schema()
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception as e:  # the generated parser raises anything on corrupt offsets
        raise ModelError(f"{source} is a corrupt or truncated TFLite flatbuffer ({type(e).__name__}: {e})") from None
    checked = validate(model, bytes(data), source)

    tensors = []
    for i, (t, info) in enumerate(zip(model.subgraphs[0].tensors or [], checked.tensors)):
        quant = None
        if info.scale is not None:
            quant = Quantization(info.scale, info.zero_point, info.axis)
        const = None
        if info.data is not None and info.dtype in _NUMPY_TYPES:
            const = np.frombuffer(info.data, dtype=np.dtype(info.dtype)).reshape(info.shape).copy()
        tensors.append(Tensor(i, _text(t.name), info.shape, info.dtype, quant, const))

    operators = []
    for k, (op, info) in enumerate(zip(model.subgraphs[0].operators or [], checked.operators)):
        ins = tuple(int(x) for x in (op.inputs if op.inputs is not None else []))
        outs = tuple(int(x) for x in (op.outputs if op.outputs is not None else []))
        operators.append(Operator(k, info.opcode, ins, outs, info.options))

    return Graph(
        tensors=tensors,
        operators=operators,
        inputs=checked.inputs,
        outputs=checked.outputs,
        sha256=hashlib.sha256(data).hexdigest(),
        description=_text(model.description),
    )


# Types whose constants become numpy arrays in the IR (the others keep only their shape).
_NUMPY_TYPES = {"float32", "float16", "int32", "uint8", "int64", "bool", "int16", "complex64", "int8",
                "float64", "complex128", "uint64", "uint32", "uint16"}
