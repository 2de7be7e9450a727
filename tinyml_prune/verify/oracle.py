"""The oracles the generated code is compared with, byte for byte.

- ``tflite``: TensorFlow Lite's interpreter with its reference kernels (BUILTIN_REF), LiteRT
  (``ai_edge_litert``) where it is installed, TensorFlow's own otherwise.
- ``tflm``: TensorFlow Lite Micro's interpreter (the ``tflite-micro`` package), which rounds
  like CMSIS-NN; compare it with code generated with ``--rounding tflm``.

Both take the packed int8 inputs of the generated API (:func:`model_io`) and return the
packed int8 outputs. Models converted with float inputs/outputs get each int8 input
dequantized (their QUANTIZE gives the same int8 back) and each float output quantized back
(their DEQUANTIZE is exact and invertible), so every oracle sees the user's own model.
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError, ModelError

ORACLES = ("tflite", "tflm")
ORACLE_NAMES = {"tflite": "TFLite's interpreter", "tflm": "TensorFlow Lite Micro's interpreter"}


class OracleCrashed(ModelError):
    """The oracle's interpreter killed its (child) process on this model, e.g. an abort inside a
    reference kernel: the model cannot be checked against it."""


def model_io(tflite: bytes) -> dict:
    """The generated API's view of the model's inputs and outputs (packed int8 buffers)."""
    from tinyml_prune.codegen import read_tflite
    from tinyml_prune.codegen.generate import io_tensors
    from tinyml_prune.codegen.passes import run_passes

    graph = run_passes(read_tflite(tflite))
    io = io_tensors(graph)
    io["float_io"] = graph.extra.get("float_io", {})
    io["input_bytes"] = sum(t["size"] for t in io["inputs"])
    io["output_bytes"] = sum(t["size"] for t in io["outputs"])
    return io


def fix_known_converter_defects(tflite: bytes) -> tuple[bytes, list[str]]:
    """A copy the interpreter accepts, and what was changed: older converters wrote a
    quantized_dimension beyond the rank of 1-D per-tensor parameters (the parameters have one
    entry, so the dimension means nothing; TFLite now rejects it)."""
    from tinyml_prune.codegen.tflite_reader import _schema

    import flatbuffers

    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    fixed = []
    for sg in model.subgraphs or []:
        for i, t in enumerate(sg.tensors or []):
            q = t.quantization
            rank = len(t.shape) if t.shape is not None else 0
            if q is not None and q.scale is not None and q.quantizedDimension >= max(rank, 1):
                fixed.append(f"tensor {i} ('{t.name.decode() if isinstance(t.name, bytes) else t.name}'): "
                             f"quantized_dimension {q.quantizedDimension} -> 0 (rank {rank})")
                q.quantizedDimension = 0
    if not fixed:
        return tflite, []
    b = flatbuffers.Builder(len(tflite) + 1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output()), fixed


def _dequantize(q: np.ndarray, t: dict) -> np.ndarray:
    return (np.float64(np.float32(t["scale"])) * (q.astype(np.int64) - t["zero_point"])).astype(np.float32)


def _requantize(f: np.ndarray, t: dict) -> np.ndarray:
    q = np.round(f.astype(np.float64) / np.float64(np.float32(t["scale"]))) + t["zero_point"]
    return np.clip(q, -128, 127).astype(np.int8)


def tflite_interpreter():
    """(Interpreter class, BUILTIN_REF resolver): LiteRT's when installed (no TensorFlow start-up),
    TensorFlow's otherwise; both run the same reference kernels."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        return Interpreter, OpResolverType.BUILTIN_REF
    except ImportError:
        from ..kerasenv import tf

        return tf.lite.Interpreter, tf.lite.experimental.OpResolverType.BUILTIN_REF


class _TFLite:
    def __init__(self, tflite: bytes, preserve: bool):
        interpreter, ref = tflite_interpreter()
        try:
            self.interp = interpreter(model_content=tflite, experimental_op_resolver_type=ref,
                                      experimental_preserve_all_tensors=preserve)
            self.interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelError(f"TFLite's interpreter rejects this model: {first}") from None
        self.inputs = {d["index"]: d for d in self.interp.get_input_details()}

    def set(self, tensor: int, value: np.ndarray):
        d = self.inputs[tensor]
        self.interp.set_tensor(tensor, value.astype(d["dtype"]).reshape(d["shape"]))

    def run(self):
        self.interp.invoke()

    def get(self, tensor: int) -> np.ndarray:
        return self.interp.get_tensor(tensor).reshape(-1).copy()


class _TFLM:
    def __init__(self, tflite: bytes, graph_inputs, graph_outputs):
        try:
            from tflite_micro.python.tflite_micro import runtime
        except ImportError:
            raise ModelError("the tflm oracle needs the tflite-micro package (pip install tflite-micro)") from None
        try:
            self.interp = runtime.Interpreter.from_bytes(tflite)
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"TensorFlow Lite Micro rejects this model: {str(e).strip()[:200]}") from None
        self.in_pos = {t: k for k, t in enumerate(graph_inputs)}
        self.out_pos = {t: k for k, t in enumerate(graph_outputs)}

    def set(self, tensor: int, value: np.ndarray):
        k = self.in_pos[tensor]
        d = self.interp.get_input_details(k)
        self.interp.set_input(value.astype(d["dtype"]).reshape(d["shape"]), k)

    def run(self):
        self.interp.invoke()

    def get(self, tensor: int) -> np.ndarray:
        return np.asarray(self.interp.get_output(self.out_pos[tensor])).reshape(-1).copy()


def reference_run(tflite: bytes, inputs: np.ndarray, trace_tensors: list[int] | None = None,
                  oracle: str = "tflite", isolate: bool = False, progress=None):
    """The oracle's packed int8 outputs for packed int8 ``inputs`` (one row per sample), plus
    (TFLite only) the listed tensors per input.

    With ``isolate`` the interpreter runs in a child process (the same function, same results, the
    same errors), so a model on which the interpreter aborts gives :class:`OracleCrashed` instead
    of taking this process down; it costs one Python start (~0.3 s). ``progress`` (in process
    only) is called with what the interpreter is about to do."""
    from tinyml_prune.codegen import read_tflite

    if oracle not in ORACLES:
        raise ValueError(f"oracle must be one of {ORACLES}")
    if isolate:
        from .isolated import isolated_reference_run

        return isolated_reference_run(tflite, inputs, trace_tensors, oracle)
    step = progress or (lambda what: None)
    io = model_io(tflite)
    fio = io["float_io"]
    float_in = {int(k): v["tensor"] for k, v in fio.get("inputs", {}).items()}
    float_out = {int(k): v["tensor"] for k, v in fio.get("outputs", {}).items()}
    step("preparing the model")
    if oracle == "tflm":
        if trace_tensors:
            raise ModelError("per-layer traces come from TFLite's interpreter only")
        g = read_tflite(tflite)
        runner = _TFLM(tflite, g.inputs, g.outputs)
    elif oracle == "tflite":
        runner = _TFLite(tflite, preserve=bool(trace_tensors))
    else:
        raise ValueError(f"oracle must be one of {ORACLES}")
    outputs, traces = [], []
    for n, x in enumerate(inputs):
        flat = np.ascontiguousarray(x).reshape(-1)
        if flat.size != io["input_bytes"]:
            raise DataError(f"an input has {flat.size} values; the model takes {io['input_bytes']}")
        for k, t in enumerate(io["inputs"]):
            q = flat[t["offset"]:t["offset"] + t["size"]]
            runner.set(float_in[k], _dequantize(q, t)) if k in float_in else runner.set(t["tensor"], q)
        step(f"running input {n}")
        runner.run()
        step(f"reading the outputs of input {n}")
        outs = [_requantize(runner.get(float_out[k]), t) if k in float_out else runner.get(t["tensor"])
                for k, t in enumerate(io["outputs"])]
        outputs.append(np.concatenate(outs).astype(np.int8))
        if trace_tensors:
            traces.append([runner.get(t) for t in trace_tensors])
    return (np.stack(outputs) if outputs else np.zeros((0, io["output_bytes"]), np.int8)), traces
