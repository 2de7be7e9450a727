"""Compile a generated model with the host gcc (strict warnings, ASan + UBSan) and run it."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

from ..errors import TinymlError

CFLAGS = ("-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-fno-omit-frame-pointer",
          "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-DTP_MODEL_TRACE")


class HostBuildError(TinymlError):
    """The host compiler rejected the generated C."""


def host_main() -> Path:
    from tinyml_prune.firmware import ROOT

    return ROOT / "host" / "tp_host_main.c"


def compile_host(gen_dir: str | Path, exe: str | Path, cc: str = "gcc", sanitize: bool = True,
                 extra_sources=(), host_main_source: bool = True) -> Path:
    """Build the generated model with the host compiler; ``extra_sources`` (e.g. a main of
    your own, then ``host_main_source=False``) are compiled with it."""
    gen_dir, exe = Path(gen_dir), Path(exe)
    if shutil.which(cc) is None:
        raise HostBuildError(f"host C compiler '{cc}' not found on PATH")
    manifest = json.loads((gen_dir / "manifest.json").read_text())
    flags = [f for f in CFLAGS if sanitize or not f.startswith("-fsanitize")]
    cmd = [cc, *flags, *[f"-I{gen_dir / d}" for d in manifest["include_dirs"]],
           *[str(gen_dir / s) for s in manifest["sources"]], *([str(host_main())] if host_main_source else []),
           *[str(x) for x in extra_sources], "-lm", "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        msg = "\n".join(proc.stderr.strip().splitlines()[:20])
        raise HostBuildError(f"host compile of {gen_dir} failed:\n{msg}")
    return exe


def run_host(exe: str | Path, inputs: np.ndarray, workdir: str | Path, trace: bool = False):
    """Outputs (N, output_size) int8, and with ``trace`` the per-layer outputs of every input."""
    workdir = Path(workdir)
    inp, out, tr = workdir / "inputs.bin", workdir / "outputs.bin", workdir / "trace.bin"
    inputs = np.ascontiguousarray(inputs, dtype=np.int8)
    inp.write_bytes(inputs.tobytes())
    cmd = [str(exe), str(inp), str(out)] + ([str(tr)] if trace else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env={"ASAN_OPTIONS": "detect_leaks=0"})
    if proc.returncode != 0:
        msg = "\n".join(proc.stderr.strip().splitlines()[:30])
        raise TinymlError(f"generated model crashed or failed on the host (exit {proc.returncode}):\n{msg}")
    outputs = np.frombuffer(out.read_bytes(), dtype=np.int8).reshape(len(inputs), -1)
    if not trace:
        return outputs, None
    return outputs, _read_trace(tr.read_bytes())


def _read_trace(data: bytes) -> list[tuple[int, np.ndarray]]:
    records, pos = [], 0
    while pos < len(data):
        layer, size = np.frombuffer(data[pos:pos + 8], dtype=np.int32)
        pos += 8
        records.append((int(layer), np.frombuffer(data[pos:pos + size], dtype=np.int8).copy()))
        pos += int(size)
    return records
