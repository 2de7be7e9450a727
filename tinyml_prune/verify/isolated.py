"""The oracle in a child process: an interpreter that aborts cannot take the caller down.

TFLite's reference kernels end the whole process (``abort()`` inside a kernel's Prepare or Eval)
on some models that look valid, e.g. a SOFTMAX whose input scale is so small that its
multiplier underflows. :func:`isolated_reference_run` runs :func:`~.oracle.reference_run` in a
fresh Python (``python -m tinyml_prune.verify.isolated DIR``) and hands bytes and arrays over
through files in a temporary directory:

- ``model.tflite``, ``inputs.npy``, ``request.json`` (trace tensors, oracle) go in;
- ``result.npz`` (outputs, traces) comes back, or ``error.json`` (the class and message of the
  project error the oracle raised, raised again here unchanged);
- ``stage`` holds what the interpreter was doing, so a crash can say when it happened.

A child killed by a signal becomes :class:`~.oracle.OracleCrashed` (a one-line ``ModelError``).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from .. import errors
from .oracle import ORACLE_NAMES, OracleCrashed


def isolated_reference_run(tflite: bytes, inputs: np.ndarray, trace_tensors, oracle: str):
    with tempfile.TemporaryDirectory(prefix="tinyml-oracle-") as tmp:
        d = Path(tmp)
        (d / "model.tflite").write_bytes(tflite)
        np.save(d / "inputs.npy", np.asarray(inputs), allow_pickle=False)
        (d / "request.json").write_text(json.dumps({
            "trace_tensors": None if trace_tensors is None else [int(t) for t in trace_tensors],
            "oracle": oracle}))
        proc = subprocess.run([sys.executable, "-m", __name__, str(d)], capture_output=True, text=True,
                              env=_child_env())
        if proc.returncode < 0:
            raise OracleCrashed(_crash_message(oracle, -proc.returncode, d / "stage"))
        if (d / "error.json").is_file():
            raise _error_from(json.loads((d / "error.json").read_text()))
        if proc.returncode != 0 or not (d / "result.npz").is_file():
            tail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
            raise RuntimeError(f"the oracle's child process failed: {tail}")
        with np.load(d / "result.npz", allow_pickle=False) as z:
            outputs = z["outputs"]
            n_traced = int(z["n_traced"])
            traces = [[z[f"trace_{i}_{j}"] for j in range(n_traced)] for i in range(int(z["n_traces"]))]
    return outputs, traces


def _child_env() -> dict:
    """This process's environment, with the package importable in the child however it was found."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _crash_message(oracle: str, signum: int, stage_file: Path) -> str:
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    stage = stage_file.read_text().strip() if stage_file.is_file() else ""
    when = f" while {stage}" if stage else ""
    return (f"{ORACLE_NAMES[oracle]} crashed on this model ({name}){when}; its kernels cannot run it, so "
            f"the generated C cannot be checked against them")


def _error_from(record: dict) -> Exception:
    cls = getattr(errors, record.get("class", ""), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.TinymlError)):
        from . import oracle

        cls = getattr(oracle, record.get("class", ""), None)
        if not (isinstance(cls, type) and issubclass(cls, errors.TinymlError)):
            cls = errors.ModelError
    return cls(record["message"])


def _child(d: Path) -> int:
    import warnings

    from .oracle import reference_run

    warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
    request = json.loads((d / "request.json").read_text())
    stage = os.open(d / "stage", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)

    def progress(what: str) -> None:  # written straight to the file: it survives an abort
        os.lseek(stage, 0, os.SEEK_SET)
        os.ftruncate(stage, 0)
        os.write(stage, what.encode())

    inputs = np.load(d / "inputs.npy", allow_pickle=False)
    try:
        outputs, traces = reference_run((d / "model.tflite").read_bytes(), inputs, request["trace_tensors"],
                                        request["oracle"], progress=progress)
    except errors.TinymlError as e:
        (d / "error.json").write_text(json.dumps({"class": type(e).__name__, "message": str(e)}))
        return 3
    finally:
        os.close(stage)
    arrays = {f"trace_{i}_{j}": a for i, row in enumerate(traces) for j, a in enumerate(row)}
    np.savez(d / "result.partial.npz", outputs=outputs, n_traces=len(traces),
             n_traced=len(traces[0]) if traces else 0, **arrays)
    os.replace(d / "result.partial.npz", d / "result.npz")
    return 0


if __name__ == "__main__":
    sys.exit(_child(Path(sys.argv[1])))
