"""Host-emulated verification: generated C vs. TFLite's reference kernels, byte for byte."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, TinymlError

__all__ = ["VerifyFailed", "Mismatch", "VerifyResult", "verify_host", "random_inputs", "load_inputs", "reference_run",
           "model_io"]


class VerifyFailed(TinymlError):
    """Generated C and TFLite disagree (exit code 1: a result, not a usage error)."""

    exit_code = 1


@dataclass(frozen=True)
class Mismatch:
    input_index: int
    layer: int  # position in the generated sequence
    operator: int  # TFLite operator index
    opcode: str
    tensor: str
    index: int  # flat index inside the layer's output
    expected: int
    got: int

    def __str__(self) -> str:
        return (f"input {self.input_index}: layer {self.layer} (operator {self.operator} {self.opcode}, "
                f"tensor '{self.tensor}') index {self.index}: expected {self.expected}, got {self.got}")


@dataclass(frozen=True)
class VerifyResult:
    n: int
    matched: int
    mismatch: Mismatch | None
    mismatched_bytes: int

    @property
    def ok(self) -> bool:
        return self.matched == self.n


def random_inputs(shape: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    """``n`` seeded uniform int8 inputs of the model's input ``shape``."""
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=(n, *shape), dtype=np.int16).astype(np.int8)


def load_inputs(path: str | Path, shape: tuple[int, ...], scale: float, zero_point: int) -> np.ndarray:
    """Inputs from an .npz (key ``x``, ``x_test`` or the only array): int8 as is, float quantized."""
    try:
        with np.load(path) as z:
            keys = list(z.keys())
            key = next((k for k in ("x", "x_test", "inputs") if k in keys), keys[0] if len(keys) == 1 else None)
            if key is None:
                raise DataError(f"{path}: expected an array named x, x_test or inputs (found {', '.join(keys)})")
            x = z[key]
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read inputs ({e})") from None
    per_sample = int(np.prod(shape))
    if x.size % per_sample:
        raise DataError(f"{path}: array '{key}' with shape {list(x.shape)} does not split into inputs of "
                        f"shape {list(shape)}")
    x = x.reshape(-1, *shape)
    if x.dtype == np.int8:
        return x
    if np.issubdtype(x.dtype, np.floating):
        return np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)
    raise DataError(f"{path}: array '{key}' is {x.dtype}; expected int8 or float inputs")


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


def reference_run(tflite: bytes, inputs: np.ndarray, trace_tensors: list[int] | None = None):
    """Outputs of TFLite's BUILTIN_REF kernels for packed int8 ``inputs`` (one row per sample,
    the model's inputs back to back), plus (optionally) the listed tensors per input.

    A model converted with float inputs gets each int8 input dequantized (its QUANTIZE gives
    the same int8 back); outputs are read from the int8 tensors the generated code produces,
    so a model with float outputs is compared before its DEQUANTIZE."""
    from ..kerasenv import tf

    io = model_io(tflite)
    float_in = {int(k): v["tensor"] for k, v in io["float_io"].get("inputs", {}).items()}
    interp = tf.lite.Interpreter(
        model_content=tflite,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=bool(trace_tensors) or bool(io["float_io"].get("outputs")),
    )
    interp.allocate_tensors()
    details = {d["index"]: d for d in interp.get_input_details()}
    outputs, traces = [], []
    for x in inputs:
        flat = np.ascontiguousarray(x).reshape(-1)
        if flat.size != io["input_bytes"]:
            raise DataError(f"an input has {flat.size} values; the model takes {io['input_bytes']}")
        for k, t in enumerate(io["inputs"]):
            q = flat[t["offset"]:t["offset"] + t["size"]]
            d = details[float_in.get(k, t["tensor"])]
            if d["dtype"] == np.float32:
                value = (np.float64(np.float32(t["scale"])) * (q.astype(np.int64) - t["zero_point"])).astype(np.float32)
            else:
                value = q.astype(d["dtype"])
            interp.set_tensor(d["index"], value.reshape(d["shape"]))
        interp.invoke()
        outputs.append(np.concatenate([interp.get_tensor(t["tensor"]).reshape(-1) for t in io["outputs"]]))
        if trace_tensors:
            traces.append([interp.get_tensor(t).reshape(-1).copy() for t in trace_tensors])
    return np.stack(outputs), traces


def verify_host(tflite: bytes, inputs: np.ndarray, options=None, workdir: str | Path | None = None,
                source: str = "model", cc: str = "gcc", sanitize: bool = True) -> VerifyResult:
    """Generate C for ``tflite``, build it for the host, run ``inputs`` and compare with TFLite."""
    from tinyml_prune.codegen import CodegenOptions, generate

    from .host import compile_host, run_host

    options = options or CodegenOptions()
    with tempfile.TemporaryDirectory(prefix="tinyml-verify-") as tmp:
        root = Path(workdir) if workdir else Path(tmp)
        result = generate(tflite, root / "model", options, force=True, source=source)
        exe = compile_host(root / "model", root / "tp_host", cc=cc, sanitize=sanitize)
        got, _ = run_host(exe, inputs, root)
        expected, _ = reference_run(tflite, inputs)
        diff = np.any(got != expected, axis=1)
        matched = int(len(inputs) - diff.sum())
        mismatch = None
        if diff.any():
            first = int(np.argmax(diff))
            mismatch = _locate(tflite, result.program, inputs[first:first + 1], exe, root, first)
        return VerifyResult(len(inputs), matched, mismatch, int((got != expected).sum()))


def _locate(tflite, program, one_input, exe, root, input_index) -> Mismatch:
    """Re-run one input with per-layer traces to name the first layer that differs."""
    from .host import run_host

    outs = [(e, t) for e in program.emitters for t in e.op.outputs]
    _, trace = run_host(exe, one_input, root, trace=True)
    _, ref = reference_run(tflite, one_input, [t for _, t in outs])
    for (layer, got), expected, (e, t_index) in zip(trace, ref[0], outs):
        if program.slim is not None:  # the slimmed C computes only the kept channels
            expected = program.slim.select(t_index, expected)
        bad = np.flatnonzero(got != expected)
        if bad.size:
            i = int(bad[0])
            t = program.graph.tensors[t_index]
            return Mismatch(input_index, layer, e.op.index, e.op.opcode, t.name, i, int(expected[i]), int(got[i]))
    raise AssertionError("outputs differ but no layer trace does")
