"""Host-emulated verification: generated C vs. TFLite's reference kernels, byte for byte."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, ModelError, TinymlError
from .oracle import ORACLES, OracleCrashed, model_io, reference_run

__all__ = ["VerifyFailed", "Mismatch", "VerifyResult", "verify_host", "random_inputs", "load_inputs", "reference_run",
           "model_io", "ORACLES", "OracleCrashed"]


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
    notes: tuple[str, ...] = ()  # e.g. the oracle ran a corrected copy of the model

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


def oracle_model(tflite: bytes, oracle: str = "tflite", isolate: bool = False) -> tuple[bytes, tuple[str, ...]]:
    """The model as the oracle will run it: the user's bytes, or, when the oracle rejects them
    for a known converter defect, a corrected copy (and what was corrected)."""
    from .oracle import fix_known_converter_defects

    try:
        reference_run(tflite, np.zeros((0, 1), np.int8), oracle=oracle, isolate=isolate)
        return tflite, ()
    except OracleCrashed:
        raise
    except ModelError as e:
        fixed, notes = fix_known_converter_defects(tflite)
        if not notes:
            raise
        try:
            reference_run(fixed, np.zeros((0, 1), np.int8), oracle=oracle, isolate=isolate)
        except ModelError:
            raise e from None
        return fixed, tuple(f"the oracle rejects the model as it is ({e}); it runs a copy corrected for a "
                            f"known converter defect: {n}" for n in notes)


def verify_host(tflite: bytes, inputs: np.ndarray, options=None, workdir: str | Path | None = None,
                source: str = "model", cc: str = "gcc", sanitize: bool = True, oracle: str = "tflite",
                isolate: bool = False) -> VerifyResult:
    """Generate C for ``tflite``, build it for the host, run ``inputs`` and compare with the oracle
    (TFLite BUILTIN_REF, or TFLite Micro with ``oracle="tflm"``). With ``isolate`` the oracle runs
    in a child process, so an interpreter that aborts on the model raises :class:`OracleCrashed`
    (one line) instead of ending this process."""
    from tinyml_prune.codegen import CodegenOptions, generate

    from .host import compile_host, run_host

    options = options or CodegenOptions()
    with tempfile.TemporaryDirectory(prefix="tinyml-verify-") as tmp:
        root = Path(workdir) if workdir else Path(tmp)
        result = generate(tflite, root / "model", options, force=True, source=source)
        reference, notes = oracle_model(tflite, oracle, isolate)
        exe = compile_host(root / "model", root / "tp_host", cc=cc, sanitize=sanitize)
        got, _ = run_host(exe, inputs, root)
        expected, _ = reference_run(reference, inputs, oracle=oracle, isolate=isolate)
        diff = np.any(got != expected, axis=1)
        matched = int(len(inputs) - diff.sum())
        mismatch = None
        if diff.any():
            first = int(np.argmax(diff))
            if oracle == "tflite":
                mismatch = _locate(reference, result.program, inputs[first:first + 1], exe, root, first, isolate)
            else:
                i = int(np.argmax(got[first] != expected[first]))
                mismatch = Mismatch(first, -1, -1, "model output", "packed outputs", i, int(expected[first, i]),
                                    int(got[first, i]))
        return VerifyResult(len(inputs), matched, mismatch, int((got != expected).sum()), notes)


def _locate(tflite, program, one_input, exe, root, input_index, isolate=False) -> Mismatch:
    """Re-run one input with per-layer traces to name the first layer that differs."""
    from .host import run_host

    outs = [(e, t) for e in program.emitters for t in e.op.outputs]
    _, trace = run_host(exe, one_input, root, trace=True)
    _, ref = reference_run(tflite, one_input, [t for _, t in outs], isolate=isolate)
    for (layer, got), expected, (e, t_index) in zip(trace, ref[0], outs):
        if program.slim is not None:  # the slimmed C computes only the kept channels
            expected = program.slim.select(t_index, expected)
        bad = np.flatnonzero(got != expected)
        if bad.size:
            i = int(bad[0])
            t = program.graph.tensors[t_index]
            return Mismatch(input_index, layer, e.op.index, e.op.opcode, t.name, i, int(expected[i]), int(got[i]))
    raise AssertionError("outputs differ but no layer trace does")
