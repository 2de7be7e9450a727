"""Read an int8 TFLite flatbuffer into the IR, with the TFLite schema (no interpreter)."""
from __future__ import annotations

import hashlib

import numpy as np

from tinyml_prune.errors import ModelError

# TFLite TensorType enum -> numpy dtype name (only those a model we accept can contain,
# plus the common ones so errors can name them).
_TENSOR_TYPES = {
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool",
    7: "int16", 9: "int8", 10: "float64", 15: "uint32", 16: "uint16", 17: "int4",
}


def _schema():
    # The dotted import of this module fails; the from-import works (see FACTS.md).
    from tensorflow.lite.python import schema_py_generated as schema

    return schema


def _opcode_names(schema) -> dict[int, str]:
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}


def _decode_str(b) -> str:
    if b is None:
        return ""
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)


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
    if not model.subgraphs:
        raise ModelError(f"{source} has no subgraph")
    if len(model.subgraphs) > 1:
        raise ModelError(f"{source} has {len(model.subgraphs)} subgraphs; only single-subgraph models are supported")
    sg = model.subgraphs[0]
    names = _opcode_names(schema)
    buffers = model.buffers or []

    tensors = []
    for i, t in enumerate(sg.tensors or []):
        dtype = _TENSOR_TYPES.get(t.type, f"type{t.type}")
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
        q = t.quantization
        quant = None
        if q is not None and q.scale is not None and len(q.scale) > 0:
            zp = q.zeroPoint if q.zeroPoint is not None else np.zeros(len(q.scale))
            quant = Quantization(np.asarray(q.scale, dtype=np.float32), np.asarray(zp, dtype=np.int64),
                                 int(q.quantizedDimension))
        const = None
        if 0 < t.buffer < len(buffers):
            buf = buffers[t.buffer]
            raw = None
            if buf.data is not None and len(buf.data) > 0:
                raw = np.asarray(buf.data, dtype=np.uint8).tobytes()
            elif getattr(buf, "offset", 0) and buf.offset > 1:  # large models store data after the flatbuffer
                end = buf.offset + buf.size
                if end > len(data):
                    raise ModelError(f"{source}: tensor {i} data lies beyond the end of the file (truncated?)")
                raw = data[buf.offset:end]
            if raw is not None:
                if not dtype.startswith("type") and dtype != "int4":
                    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
                    arr = np.frombuffer(raw, dtype=np.dtype(dtype))
                    if arr.size != n:
                        raise ModelError(f"{source}: tensor {i} ('{_decode_str(t.name)}') has {arr.size} values "
                                         f"for shape {list(shape)}")
                    const = arr.reshape(shape).copy()
        tensors.append(Tensor(i, _decode_str(t.name), shape, dtype, quant, const))

    operators = []
    codes = model.operatorCodes or []
    for i, op in enumerate(sg.operators or []):
        if op.opcodeIndex >= len(codes):
            raise ModelError(f"{source}: operator {i} refers to missing opcode {op.opcodeIndex}")
        oc = codes[op.opcodeIndex]
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        name = names.get(code, f"BUILTIN_{code}")
        if name == "CUSTOM":
            name = f"CUSTOM({_decode_str(oc.customCode)})"
        ins = tuple(int(x) for x in (op.inputs if op.inputs is not None else []))
        outs = tuple(int(x) for x in (op.outputs if op.outputs is not None else []))
        for x in ins + outs:
            if x >= len(tensors):
                raise ModelError(f"{source}: operator {i} ({name}) refers to missing tensor {x}")
        operators.append(Operator(i, name, ins, outs, op.builtinOptions))

    return Graph(
        tensors=tensors,
        operators=operators,
        inputs=tuple(int(x) for x in (sg.inputs if sg.inputs is not None else [])),
        outputs=tuple(int(x) for x in (sg.outputs if sg.outputs is not None else [])),
        sha256=hashlib.sha256(data).hexdigest(),
        description=_decode_str(model.description),
    )
