"""Profile a built model on a board: latency, memory, accuracy and bit-exactness vs TFLite.

The expected outputs come from TFLite's reference kernels (BUILTIN_REF) on the same int8
inputs the board receives, so ``bit_exact`` compares every output byte. A run that fails
part-way still writes its report (``complete: false`` and the error) before re-raising.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..artifacts import sha256_bytes
from ..errors import BoardError, DataError, ModelError, TinymlError
from .elfsize import elf_sizes
from .protocol import Client
from ..ampere.report import section_or_error
from .report import write_report

PER_RUN_TIMEOUT_S = 30.0
SECONDS_PER_MAC = 2e-5  # at -icount shift=0 QEMU runs some 10-30 M instructions/s


@dataclass(frozen=True)
class ProfileConfig:
    n: int | None = None  # samples; default: the whole test set with data, else 10
    data: str | None = None  # 'digits' or .npz; None -> seeded random inputs
    seed: int = 0
    tflite: str | None = None  # the source model (found in DIR or beside it when omitted)
    timeout_s: float | None = None  # per reply; default grows with the model's MACs
    per_layer: bool = False  # also build DIR/build-layers and measure every layer (harness/layers.py)
    layer_runs: int = 3  # inferences of the per-layer profiling build


def find_tflite(root: Path, sha256: str, explicit: str | None) -> bytes:
    if explicit:
        if not Path(explicit).is_file():
            raise ModelError(f"--tflite {explicit} is not a file")
        blob = Path(explicit).read_bytes()
        if sha256_bytes(blob) != sha256:
            raise ModelError(f"{explicit} is not the model {root} was generated from (sha256 differs)")
        return blob
    for candidate in sorted([*root.glob("*.tflite"), *root.parent.glob("*.tflite")]):
        if not candidate.is_file():  # a directory that happens to be named *.tflite
            continue
        blob = candidate.read_bytes()
        if sha256_bytes(blob) == sha256:
            return blob
    raise ModelError(f"cannot find the .tflite {root} was generated from (sha256 {sha256[:12]}…) in "
                     f"{root} or {root.parent}; pass --tflite MODEL.tflite")


def make_inputs(tflite: bytes, cfg: ProfileConfig):
    """(int8 inputs [n, ...] packed as the generated API takes them, labels or None)."""
    from ..verify import model_io

    io = model_io(tflite)
    if cfg.data is None:
        n = cfg.n or 10
        rng = np.random.default_rng(cfg.seed)
        return rng.integers(-128, 128, (n, io["input_bytes"]), dtype=np.int8), None
    from .. import data

    if len(io["inputs"]) != 1:
        raise DataError(f"--data feeds one input; this model has {len(io['inputs'])} (profile it with random inputs)")
    t = io["inputs"][0]
    shape = tuple(t["shape"][1:])
    ds = data.load(cfg.data)
    if tuple(ds.x_test.shape[1:]) != shape:
        raise DataError(f"{cfg.data}: test inputs have shape {ds.x_test.shape[1:]}, the model expects {shape}")
    n = min(cfg.n or len(ds.x_test), len(ds.x_test))
    from ..quantize.ptq import quantize_input  # the same quantization as the accuracy figures

    q = quantize_input(ds.x_test[:n], {"quantization": (t["scale"], t["zero_point"]), "dtype": np.int8})
    return q.astype(np.int8).reshape(n, -1), ds.y_test[:n]


def _ampere(tflite: bytes, x: np.ndarray) -> dict:
    """The emulated Ampere 2:4 path of the same model on the same inputs (single-input int8
    models: the emulation reads the model's one input tensor)."""
    from ..verify import model_io

    io = model_io(tflite)
    if len(io["inputs"]) != 1 or io["float_io"]:
        return {"error": "the Ampere emulation takes models with one int8 input and int8 outputs"}
    try:
        return section_or_error(tflite, inputs=x.reshape(len(x), *io["inputs"][0]["shape"][1:]))
    except Exception as e:  # noqa: BLE001 - an emulation defect must not cost the board measurement
        return {"error": f"the Ampere emulation failed on this model ({type(e).__name__}: {e})"}


def to_latency(ticks: list[int], board, exact: list[int] | None = None) -> dict:
    c = board.config
    if not ticks:
        return {"unit": c.latency_unit, "median": None, "min": None, "max": None}
    if exact:
        vals = list(exact)
        out = {"unit": "instructions", "resolution": 1, "counter": "qemu-tcg-plugin"}
    elif c.latency_unit == "instructions":
        per_tick = 1e9 / c.clock_hz  # -icount shift=0: 1 ns of guest time per instruction
        vals = [int(round(t * per_tick)) for t in ticks]
        out = {"unit": "instructions", "resolution": round(per_tick, 2), "counter": "systick-icount"}
    else:
        vals = list(ticks)
        out = {"unit": "cycles", "counter": "dwt" if c.timer == "dwt" else "systick"}
    med = statistics.median(vals)
    out.update(median=int(med) if float(med).is_integer() else med, min=min(vals), max=max(vals))
    if out["unit"] == "cycles":
        out["median_us"] = med / c.clock_hz * 1e6
    return out


def profile(root: str | Path, board, cfg: ProfileConfig = ProfileConfig(), out: str | Path | None = None,
            progress=None) -> dict:
    """Flash ``root``'s ELF to ``board``, run inferences, write and return the report."""
    from ..verify import reference_run
    from tinyml_prune.boards.project import read_manifest

    root = Path(root)
    manifest = read_manifest(root)
    elf = root / "build" / "firmware.elf"
    sizes = elf_sizes(elf)
    tflite = find_tflite(root, manifest["model_sha256"], cfg.tflite)
    x, y = make_inputs(tflite, cfg)
    expected = reference_run(tflite, x.reshape(len(x), -1))[0]
    report = _new_report(root, board, manifest, sizes, cfg, expected, y)
    # The emulated Ampere 2:4 path of the same model, checked on the same inputs.
    report["ampere_2to4"] = _ampere(tflite, x[:4])
    out = Path(out) if out else root / "report.json"
    timeout = cfg.timeout_s or PER_RUN_TIMEOUT_S + SECONDS_PER_MAC * int(manifest.get("macs", 0))
    ticks, exact, outputs = [], [], []
    t0 = time.monotonic()
    try:
        _run_inferences(board, elf, manifest, x, timeout, progress, report, ticks, exact, outputs)
        report["complete"] = True
    except (TinymlError, KeyboardInterrupt) as e:
        report["error"] = "interrupted" if isinstance(e, KeyboardInterrupt) else str(e)
        raise
    finally:
        board.close()
        _summarise(report, board, ticks, exact if len(exact) == len(ticks) else None, outputs, expected, y)
        report["elapsed_s"] = round(time.monotonic() - t0, 2)
        write_report(report, out)
    if cfg.per_layer:
        from .layers import add_layer_profile

        try:
            add_layer_profile(report, root, board, tflite, x, expected,
                              exact if len(exact) == len(ticks) else None, cfg.layer_runs, timeout)
        except (TinymlError, KeyboardInterrupt) as e:
            report["layers_error"] = "interrupted" if isinstance(e, KeyboardInterrupt) else str(e)
            raise
        finally:
            report["elapsed_s"] = round(time.monotonic() - t0, 2)
            write_report(report, out)
    return report


def _new_report(root: Path, board, manifest: dict, sizes, cfg: ProfileConfig, expected, y) -> dict:
    """The report before anything ran on the board: what was built, and TFLite's accuracy."""
    c = board.config
    return {
        "board": c.name, "core": c.core, "clock_hz": c.clock_hz, "emulated": c.emulated,
        "model_sha256": manifest["model_sha256"], "format": manifest.get("format"),
        "opt": _read_opt(root), "latency": None,
        "flash_bytes": sizes.flash_bytes, "ram_bytes": None, "arena_bytes": int(manifest["arena_bytes"]),
        "stack_peak_bytes": None, "accuracy": None,
        "tflite_accuracy": float((expected.argmax(1) == y).mean()) if y is not None else None,
        "n": 0, "bit_exact": None, "mismatched_outputs": None, "sizes": sizes.as_dict(),
        "inputs": cfg.data or f"random int8 (seed {cfg.seed})", "complete": False,
    }


def _run_inferences(board, elf: Path, manifest: dict, x, timeout: float, progress, report: dict,
                    ticks: list, exact: list, outputs: list) -> None:
    """Flash, check the model on the board, run every input; ``ticks``, ``exact`` and ``outputs`` grow
    as it goes (so that a failure keeps what was measured) and the memory figures go into ``report``.
    The caller closes the board."""
    c = board.config
    count_exact = getattr(board, "exact_count", None)
    board.flash(elf)
    board.open()
    client = Client(board, timeout=timeout)
    info = client.info()
    if info.get("sha256") != manifest["model_sha256"]:
        raise BoardError(f"{c.name} runs model {info.get('sha256', '?')[:12]}…, not {manifest['model_sha256'][:12]}…")
    for i in range(len(x)):
        r = client.run(x[i].tobytes())
        if r.status != 0:
            raise BoardError(f"{c.name}: tp_model_run returned {r.status} on sample {i}")
        ticks.append(r.ticks)
        if count_exact is not None and count_exact() is not None:
            exact.append(count_exact())
        outputs.append(np.frombuffer(r.output, np.int8))
        if progress:
            progress(i + 1, len(x))
    mem = client.memory()
    report["stack_peak_bytes"] = mem.stack_peak_bytes
    report["ram_bytes"] = mem.static_ram_bytes + mem.stack_peak_bytes
    if mem.protocol_bytes is not None:
        # As TFLM is measured: the image's static RAM and peak stack, without our protocol buffers.
        report["protocol_bytes"] = mem.protocol_bytes
        report["ram_bytes_without_protocol"] = report["ram_bytes"] - mem.protocol_bytes
    if c.emulated:
        client.exit()


def _summarise(report, board, ticks, exact, outputs, expected, y):
    n = len(outputs)
    report["n"] = n
    report["latency"] = to_latency(ticks, board, exact)
    if exact:  # the SysTick figure too, as a cross-check of the exact count
        report["latency_systick"] = to_latency(ticks, board)
    if n:
        got = np.stack(outputs)
        mismatched = int((got != expected[:n]).sum())
        report["mismatched_outputs"] = mismatched
        report["bit_exact"] = mismatched == 0 and report["complete"]
        if y is not None:
            report["accuracy"] = float((got.argmax(1) == y[:n]).mean())
            report["tflite_accuracy"] = float((expected[:n].argmax(1) == y[:n]).mean())


def _read_opt(root: Path) -> str | None:
    import json

    try:
        return json.loads((root / "board" / "board.json").read_text()).get("opt")
    except (OSError, ValueError):
        return None
