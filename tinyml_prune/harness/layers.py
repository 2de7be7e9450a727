"""Per-layer profiling on a board: what each generated layer costs, exactly on QEMU.

The generated ``model.c`` calls ``TP_LAYER_MARK(i)`` after layer ``i``; only a build with
``-DTP_PROFILE_LAYERS`` turns that into a call of the runtime's ``tp_mark_layer`` (normal
builds are unchanged). That variant is built into ``DIR/build-layers/`` beside the normal
``DIR/build/``, never over it.

Each run marks, in order: two calibration marks, the start of the run, then layers 0..n-2
from the generated code and, on real boards, layer n-1 from the runtime after the model
returns.

- QEMU (exact): the instruction-count plugin records the running count at each mark and
  leaves the marker's own body out, so a mark costs exactly its call site, one ``bl``
  (the marker preserves every register, so the mark clobbers only ``lr`` and the flags),
  which the calibration pair measures. Layer ``i`` = count at mark ``i`` − count at mark
  ``i-1`` (0 at ``tp_mark_begin``) − one mark; the last layer has no mark and ends at
  ``tp_mark_end``, the end of the region. So the layers sum to the profiling build's
  whole-inference count minus ``(n_layers − 1)`` marks — which is the normal build's count
  whenever GCC compiles the layer sequence (``tp_model_invoke``, or ``tp_model_run`` for
  models whose I/O is outside the arena) the same apart from the ``bl``s. The one difference
  seen: the longer profiling build can push a status check's target out of ``cbz``/``cbnz``
  range, and GCC then spends one more instruction (``cmp`` + branch) on it; the report's
  ``sum_minus_whole`` shows it (tests/layer_profile counts these relaxations).
- Real boards: the firmware stores the cycle counter (DWT, or SysTick on M0+) at each mark;
  the ``LAYERS`` command returns them, and the calibration pair's difference (the mark's own
  cycles) is subtracted from every layer.
"""
from __future__ import annotations

import json
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BoardError, ModelError, TinymlError

LAYERS_BUILD = "build-layers"
DEFINE = "-DTP_PROFILE_LAYERS"
MARKS_BEFORE = 3  # calibration pair + start of the run


def _build_options(root: Path) -> tuple[str, str]:
    """The normal build's -O level and kernel choice, so both variants compile alike."""
    try:
        info = json.loads((root / "board" / "board.json").read_text())
        return info.get("opt", "-O2"), info.get("kernels", "auto")
    except (OSError, ValueError):
        return "-O2", "auto"


def build_layers(root: str | Path, board, opt: str | None = None, kernels: str | None = None) -> Path:
    """Build ``root``'s per-layer profiling variant into ``root/build-layers``; its ELF."""
    from tinyml_prune.boards.base import BUILD_TIMEOUT_S
    from tinyml_prune.boards.project import write_project

    root = Path(root)
    o, k = _build_options(root)
    project = write_project(root, board.config, opt or o, kernels or k)  # also refreshes the Makefile
    board.check_fit(project)
    cmd = ["make", "-C", str(root), f"OPT={opt or o}", f"BUILD={LAYERS_BUILD}", f"EXTRA_CFLAGS={DEFINE}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    except FileNotFoundError:
        raise BoardError("`make` is not installed") from None
    except subprocess.TimeoutExpired:
        raise BoardError(f"make in {root} took longer than {BUILD_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        board._raise_build_failure(project, proc.stdout + proc.stderr)
    return root / LAYERS_BUILD / "firmware.elf"


def split_exact(marks: tuple[int, ...] | list[int], total: int, n_layers: int) -> tuple[list[int], int]:
    """(per-layer instructions, marker overhead) from one region of the QEMU plugin: the
    calibration pair, the start, and a mark after every layer but the last, which ends at
    ``tp_mark_end`` (the region's end)."""
    if len(marks) != n_layers - 1 + MARKS_BEFORE:
        raise BoardError(f"expected {n_layers - 1 + MARKS_BEFORE} layer marks per inference, the counter saw "
                         f"{len(marks)} (is the ELF a -DTP_PROFILE_LAYERS build of this model?)")
    overhead = marks[1] - marks[0]
    at = [0, *marks[MARKS_BEFORE:], total + overhead]  # the region starts at 0; no mark at its end
    return [at[i + 1] - at[i] - overhead for i in range(n_layers)], overhead


def split_ticks(ticks: list[int], bits: int, n_layers: int, last_marked: bool = True) -> tuple[list, int]:
    """(per-layer ticks, marker overhead) from the firmware's timestamps (a counter of
    ``bits`` bits counting up, differences taken modulo its range). On QEMU the runtime does
    not mark the last layer (``last_marked=False``): its entry is None."""
    if len(ticks) != n_layers + MARKS_BEFORE:
        raise BoardError(f"the firmware reported {len(ticks)} layer timestamps, expected {n_layers + MARKS_BEFORE}")
    mod = 1 << bits
    overhead = (ticks[1] - ticks[0]) % mod
    at = ticks[MARKS_BEFORE - 1:]  # start of the run, then one per layer
    out = [(at[i + 1] - at[i]) % mod - overhead for i in range(n_layers)]
    if not last_marked:
        out[-1] = None
    return out, overhead


@dataclass
class LayerProfile:
    unit: str  # "instructions" or "cycles"
    counter: str  # "qemu-tcg-plugin", "systick-icount", "dwt", "systick"
    marker_overhead: int  # per mark, in `unit`, already subtracted
    runs: list[list[int]] = field(default_factory=list)  # per inference, per layer
    timer_runs: list[list[int]] = field(default_factory=list)  # QEMU: the firmware's SysTick view, in instructions
    totals: list[int] = field(default_factory=list)  # the profiling build's whole-inference counts
    bit_exact: bool | None = None

    def median(self) -> list[int]:
        """Per layer, the median run (the lower one of an even count: always a measured value)."""
        return [statistics.median_low(col) for col in zip(*self.runs)]

    def as_dict(self) -> dict:
        return dict(unit=self.unit, counter=self.counter, marker_overhead=self.marker_overhead, n=len(self.runs),
                    runs=self.runs, profiling_build_totals=self.totals, timer_runs=self.timer_runs or None,
                    bit_exact=self.bit_exact)


def measure_layers(root: str | Path, board, inputs: np.ndarray, expected: np.ndarray | None = None,
                   timeout: float = 30.0, elf: Path | None = None) -> LayerProfile:
    """Run ``inputs`` through ``root``'s profiling build on ``board``: per-layer counts."""
    from tinyml_prune.boards.project import read_manifest

    root = Path(root)
    manifest = read_manifest(root)
    n_layers = len(manifest["layers"])
    elf = elf or root / LAYERS_BUILD / "firmware.elf"
    if not elf.exists():
        raise BoardError(f"{elf} does not exist: build the per-layer variant first")
    _check_profiling_elf(elf, root)
    c = board.config
    exact = bool(getattr(board, "exact", False))
    if c.emulated and not exact:
        raise BoardError(f"{c.name}: per-layer profiling on an emulated board needs the exact instruction "
                         "counter (--counter exact)")
    if hasattr(board, "count_layers"):
        board.count_layers = exact
    per_tick = 1e9 / c.clock_hz if c.latency_unit == "instructions" else 1  # -icount shift=0: 1 ns / instruction
    prof = LayerProfile(unit=c.latency_unit, counter="qemu-tcg-plugin" if exact else
                        ("systick-icount" if c.latency_unit == "instructions" else c.timer),
                        marker_overhead=0)
    outputs = []
    try:
        client = _open_checked(board, elf, root, manifest, n_layers, timeout)
        for i, x in enumerate(inputs):
            r = client.run(np.asarray(x, np.int8).tobytes())
            if r.status != 0:
                raise BoardError(f"{c.name}: tp_model_run returned {r.status} on sample {i} (profiling build)")
            outputs.append(np.frombuffer(r.output, np.int8))
            _record_layers(prof, client, board, n_layers, per_tick, exact, i)
        if c.emulated:
            client.exit()
    finally:
        board.close()
        if hasattr(board, "count_layers"):
            board.count_layers = False
    if expected is not None and outputs:
        prof.bit_exact = bool((np.stack(outputs) == np.asarray(expected)[:len(outputs)].reshape(len(outputs), -1)).all())
    return prof


def _open_checked(board, elf: Path, root: Path, manifest: dict, n_layers: int, timeout: float):
    """Flash the profiling build, open the board and check that it runs this model, per layer."""
    from .protocol import Client

    c = board.config
    board.flash(elf)
    board.open()
    client = Client(board, timeout=timeout)
    info = client.info()
    if info.get("sha256") != manifest["model_sha256"]:
        raise BoardError(f"{c.name} runs model {info.get('sha256', '?')[:12]}…, not {manifest['model_sha256'][:12]}…")
    if info.get("layers") != str(n_layers):
        raise BoardError(f"{elf} is not a per-layer profiling build of {root} "
                         f"(firmware reports layers={info.get('layers')}, the model has {n_layers})")
    return client


def _record_layers(prof: LayerProfile, client, board, n_layers: int, per_tick: float, exact: bool,
                   i: int) -> None:
    """Sample ``i``'s per-layer counts into ``prof`` (the exact counter when the board has one, else
    the firmware's timer); the marker cost must be the same on every sample."""
    c = board.config
    bits, ticks = client.layers()
    tick_layers, tick_overhead = split_ticks(ticks, bits, n_layers, last_marked=not c.emulated)
    if exact:
        region = board.counter.regions()[-1]
        layers, overhead = split_exact(region.marks, region.total, n_layers)
        prof.totals.append(region.total)
        prof.timer_runs.append([None if t is None else round(t * per_tick) for t in tick_layers])
    else:
        layers = [round(t * per_tick) for t in tick_layers]
        overhead = round(tick_overhead * per_tick)
    if prof.runs and overhead != prof.marker_overhead:
        raise BoardError(f"{c.name}: the layer marker cost {overhead} {prof.unit} on sample {i}, "
                         f"{prof.marker_overhead} before")
    prof.marker_overhead = overhead
    prof.runs.append(layers)


def _check_profiling_elf(elf: Path, root: Path) -> None:
    from tinyml_prune.boards.insn_count import LAYER_SYMBOL, symbol

    try:
        symbol(elf, LAYER_SYMBOL)
    except BoardError:
        raise BoardError(f"{elf} is not a per-layer profiling build of {root} (no {LAYER_SYMBOL}; "
                         f"build it with `make BUILD={LAYERS_BUILD} EXTRA_CFLAGS={DEFINE}`)") from None


def layer_rows(manifest: dict, prof: LayerProfile) -> list[dict]:
    """``report.json``'s ``layers``: one row per generated layer."""
    unit = prof.unit
    rows = []
    for layer, count in zip(manifest["layers"], prof.median()):
        macs = int(layer.get("macs") or 0)
        row = {"layer": layer["layer"], "index": layer["operator"], "op": layer["op"], "name": layer["output"],
               "format": layer.get("format", manifest.get("format")), unit: count, "macs": macs,
               f"{unit}_per_mac": round(count / macs, 3) if macs else None}
        pred = layer.get("predicted")
        if pred:  # auto: the cost model's prediction for the format it chose (kernel only)
            row["predicted"] = round(pred.get(row["format"], float("nan")))
            row["predicted_dense"] = round(pred["dense"]) if "dense" in pred else None
        rows.append(row)
    return rows


def layers_markdown(rows: list[dict], prof: dict) -> str:
    unit = prof["unit"]
    has_pred = any("predicted" in r for r in rows)
    head = f"| # | op | operator | layer | format | {unit} | MACs | {unit}/MAC | share |"
    sep = "|---|---|---|---|---|---:|---:|---:|---:|"
    if has_pred:
        head += " auto predicted | measured / predicted |"
        sep += "---:|---:|"
    total = sum(r[unit] for r in rows) or 1
    lines = [f"### Per layer ({unit}, {prof['counter']}, median of {prof['n']} inference(s))", "", head, sep]
    for r in rows:
        name = r["name"] if len(r["name"]) <= 32 else r["name"][:29] + "..."
        ipm = "—" if r[f"{unit}_per_mac"] is None else f"{r[f'{unit}_per_mac']:.2f}"
        line = (f"| {r['layer']} | {r['op']} | {r['index']} | {name} | {r['format']} | {r[unit]:,} | {r['macs']:,} | "
                f"{ipm} | {100 * r[unit] / total:.1f} % |")
        if has_pred:
            p = r.get("predicted")
            line += (f" {p:,} | {r[unit] / p:.2f} |" if p else " — | — |")
        lines.append(line)
    lines.append(f"| | | | **total** | | **{sum(r[unit] for r in rows):,}** | {sum(r['macs'] for r in rows):,} | | |"
                 + (" | |" if has_pred else ""))
    note = (f"Each layer ends with the `bl tp_mark_layer` after its kernel call and status check (the last "
            f"one with the return from `tp_model_run`); the first includes the call into `tp_model_run`. One "
            f"mark costs {prof['marker_overhead']} {unit}, subtracted from every layer")
    if prof["counter"] == "qemu-tcg-plugin":
        note += " (the QEMU plugin leaves the marker's own body out, so only its call site remains)"
    diff = prof.get("sum_minus_whole")
    if diff:
        note += (f"; per inference the layers sum to the normal build's whole-inference count "
                 + ("exactly" if not any(diff) else f"{', '.join(f'{d:+d}' for d in diff)} {unit}"))
    lines += ["", note + ".", ""]
    if has_pred:
        lines += ["`auto predicted`: the cost model's instructions for the chosen format's kernel "
                  "(codegen/formats/costmodel.py), from manifest.json.", ""]
    return "\n".join(lines)


# -- Ampere side by side: the same model dense and 2:4, per layer, on the board -------------

def nm_layers(tflite: bytes) -> tuple[tuple[int, str], ...]:
    """Per-layer format overrides putting ``nm`` (2:4) on every CONV_2D/FC the format accepts."""
    from tinyml_prune.codegen import read_tflite
    from tinyml_prune.codegen.formats import get
    from tinyml_prune.codegen.formats.select import SPARSE_OPS

    graph = read_tflite(tflite, "model")
    nm = get("nm")
    out = []
    for op in graph.operators:
        if op.opcode in SPARSE_OPS:
            w = graph.tensors[op.inputs[1]].data
            if w is not None and nm.accepts(w.reshape(w.shape[0], -1)):
                out.append((op.index, "nm"))
    return tuple(out)


def measure_dense_vs_2to4(tflite: bytes, board, work: str | Path, inputs: np.ndarray,
                          expected: np.ndarray | None = None, opt: str | None = None, kernels: str | None = None,
                          timeout: float = 30.0, progress=None) -> dict | None:
    """Board-measured per-layer counts of ``tflite`` generated dense and with 2:4 (``nm``)
    on its 2:4 layers, as ``ampere_section(board=...)`` takes them; None without 2:4 layers."""
    from tinyml_prune.codegen import CodegenOptions, generate

    overrides = nm_layers(tflite)
    if not overrides:
        return None
    work = Path(work)
    per_variant = {}
    for variant, options in (("dense", CodegenOptions(format="dense")),
                             ("sparse", CodegenOptions(format="dense", layer_formats=overrides))):
        if progress:
            progress(variant)
        d = work / variant
        try:
            res = generate(tflite, d, options, force=True, source="model.tflite")
        except TinymlError as e:
            raise ModelError(f"generating the {variant} variant for the 2:4 comparison failed: {e}") from None
        build_layers(d, board, opt, kernels)
        prof = measure_layers(d, board, inputs, expected, timeout=timeout)
        per_variant[variant] = (res.manifest, prof)
    out: dict = {}
    (dm, dp), (sm, sp) = per_variant["dense"], per_variant["sparse"]
    nm_ops = {i for i, _ in overrides}
    for ld, ls, cd, cs in zip(dm["layers"], sm["layers"], dp.median(), sp.median()):
        if ld["op"] in ("CONV_2D", "FULLY_CONNECTED"):
            out[str(ld["operator"])] = {"dense": cd, "sparse": cs, "format": ls["format"],
                                        "nm": ld["operator"] in nm_ops}
    out["model"] = {"dense": sum(dp.median()), "sparse": sum(sp.median())}
    out["unit"] = dp.unit
    out["counter"] = dp.counter
    out["bit_exact"] = None if expected is None else bool(dp.bit_exact and sp.bit_exact)
    m = out["model"]
    out["source"] = (f"{board.config.name}, {dp.unit} per layer ({dp.counter}, median of {len(dp.runs)} input(s)) "
                     f"of this model generated `--format dense` vs `nm` on its {len(nm_ops)} 2:4 layer(s) "
                     f"(dense elsewhere); whole model {m['dense']:,} → {m['sparse']:,} {dp.unit} "
                     f"({m['dense'] / m['sparse']:.2f}×)"
                     + ("" if out["bit_exact"] is None else f", bit-exact: {'yes' if out['bit_exact'] else 'NO'}"))
    return out


def add_layer_profile(report: dict, root: str | Path, board, tflite: bytes, inputs: np.ndarray,
                      expected: np.ndarray, whole: list[int] | None, runs: int = 3, timeout: float = 30.0,
                      progress=None) -> dict:
    """Add ``layers`` (and, for a model with 2:4 layers, the board-measured column of the
    Ampere section) to a profile ``report``, in place."""
    from tinyml_prune.boards.project import read_manifest

    from ..ampere.report import section_or_error

    root = Path(root)
    manifest = read_manifest(root)
    n = max(1, min(runs, len(inputs)))
    if progress:
        progress("build-layers")
    build_layers(root, board)
    if progress:
        progress("layers")
    prof = measure_layers(root, board, inputs[:n], expected[:n], timeout=timeout)
    report["layers"] = layer_rows(manifest, prof)
    report["layer_profile"] = prof.as_dict()
    if whole and prof.counter == "qemu-tcg-plugin":
        # Exact on QEMU: the layers of each inference add up to the normal build's count.
        report["layer_profile"]["sum_minus_whole"] = [sum(r) - w for r, w in zip(prof.runs, whole)]
    amp = report.get("ampere_2to4") or {}
    if amp.get("model", {}).get("layers_2to4"):
        counts = measure_dense_vs_2to4(tflite, board, root / LAYERS_BUILD / "ampere", inputs[:n],
                                       expected[:n], timeout=timeout, progress=progress)
        if counts:
            report["ampere_board_counts"] = counts
            report["ampere_2to4"] = section_or_error(tflite, inputs=inputs[:4], board=counts)
    return report
