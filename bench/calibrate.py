"""Per-board calibration of ``--format auto``: kernel micro-benchmarks with exact instruction counts.

Run:  .venv/bin/python bench/calibrate.py                      # every QEMU board -> codegen/formats/costs/<board>.json
      .venv/bin/python bench/calibrate.py --boards qemu-m55    # one board
      .venv/bin/python bench/calibrate.py --check              # per layer of the 90 %-pruned fixtures:
                                                               # auto's choice vs dense, measured on each board

Every dense and sparse FC / CONV_2D kernel runs on random layers (densities 5-100 %, the shapes
of ``calibration_cases``) between the instruction-count markers of a bare-metal program, built
exactly as the board build builds its kernels: the board TOML's compiler flags (float ABI
included) and its kernel selection (mve/ then dsp/ then the portable reference). Each kernel's
cost ``per_work * work + per_output * outputs + per_input * pixels * taps + per_window * outputs * Kh * Kw
+ per_call`` is a non-negative least-squares fit of the relative error to those counts. Every case is checked bit-exact against the host reference kernels.

The Cortex-M0 code runs on QEMU's mps2-an385 machine (a Cortex-M3 with 4 MB of RAM) rather than
the 16 KB micro:bit: the same ARMv6-M instructions execute, so the counts are the M0's.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import jinja2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the case program and host reference kernels live with the tests

BOARDS = ["qemu-m0", "qemu-m3", "qemu-m4", "qemu-m7", "qemu-m33", "qemu-m55"]
# A machine big enough for the benchmark program when the board's own is not: (machine, flash, RAM origin).
HOST_MACHINE = {"qemu-m0": ("mps2-an385", 0x0, 0x20000000)}
# The program's .text/.rodata and .data/.bss must fit the linker script's 512 KB regions.


def board_setup(board: str):
    """(compiler flags, kernel directories most specific first, QEMU machine, flash, RAM origin)."""
    from tinyml_prune.boards import load

    cfg = load(board)
    if cfg.connection.kind != "qemu":
        raise SystemExit(f"{board} is not a QEMU board; calibrate on the QEMU board with the same core")
    machine, flash, ram = HOST_MACHINE.get(board, (cfg.connection.machine, cfg.flash.origin, cfg.ram.origin))
    return cfg, cfg.cpu_flags, [v for v in cfg.kernel_variants if v != "reference"], machine, flash, ram


def variant_name(variants: list[str]) -> str:
    return variants[0] if variants else "ref"


def kernel_sources(variants: list[str]) -> list[Path]:
    from tests.formats import ckernels as K

    chosen = {p.name: p for p in (K.KERNELS / "ref").glob("*.c")}
    for v in reversed(variants):
        chosen.update({p.name: p for p in (K.KERNELS / v).glob("*.c")})
    return sorted(chosen.values())


def run_cases(cases: list, board: str, work: Path, timeout: float = 900):
    """Build ``cases`` (tests/formats/qemu_runner.py Cases) as the board builds its kernels, run
    them under QEMU and return ok flags and exact instructions per case."""
    from tests.formats import ckernels as K
    from tests.formats import qemu_runner as Q
    from tinyml_prune.boards.insn_count import InsnCounter

    _, flags, variants, machine, flash, ram = board_setup(board)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Q.HERE), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    work.mkdir(parents=True, exist_ok=True)
    (work / "cases.c").write_text(env.get_template("cases.c.j2").render(
        cases=cases, max_out=max(c.out_size for c in cases), max_scratch=4096))
    elf = work / f"cases_{board}.elf"
    cmd = ["arm-none-eabi-gcc", *flags, "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror",
           "-ffunction-sections", "-fdata-sections", *[f"-I{K.KERNELS / v}" for v in variants],
           f"-I{K.KERNELS / 'include'}", f"-I{K.KERNELS / 'ref'}", str(Q.HERE / "startup.c"), str(work / "cases.c"),
           *map(str, kernel_sources(variants)), "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
           f"-Wl,--defsym=TR_FLASH={flash:#x},--defsym=TR_RAM={ram:#x}", f"-T{Q.HERE / 'link.ld'}",
           "-Wl,--gc-sections", "-o", str(elf)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"building the benchmark program for {board} failed:\n{r.stderr[-3000:]}")
    counter = InsnCounter(elf, work / "counts.txt")
    qemu = ["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none", "-serial", "null",
            "-semihosting-config", "enable=on,target=native", *counter.qemu_args(), "-kernel", str(elf)]
    proc = subprocess.run(qemu, capture_output=True, text=True, timeout=timeout)
    ok = [False] * len(cases)
    for m in re.finditer(r"case (\d+) (ok|FAIL)", proc.stdout + proc.stderr):
        ok[int(m.group(1))] = m.group(2) == "ok"
    counts = counter.counts()
    if len(counts) != len(cases):
        raise RuntimeError(f"{board}: {len(counts)} counts for {len(cases)} cases:\n{(proc.stdout + proc.stderr)[-2000:]}")
    return Q.Result(ok, counts, proc.stdout + proc.stderr)


# -- calibration ---------------------------------------------------------------------------------

def calibration_cases(lib, rng):
    from tests.formats import qemu_runner as Q
    from tests.formats.test_kernels_qemu import geom, random_layer

    x = lambda *s: rng.integers(-128, 128, s).astype(np.int8)  # noqa: E731
    batches = []  # one program per format (all of them overflow 512 KB of flash)
    for fmt in ("dense", "csr", "bitmask", "nm"):
        cases, meta = [], []
        batches.append((cases, meta))
        for density in ((1.0,) if fmt in ("dense", "nm") else (0.05, 0.2, 0.5)):
            for out, depth in ((16, 64), (64, 256), (32, 640), (8, 128), (128, 8), (64, 16)):
                layer = random_layer(rng, (out, depth), density=density, nm=fmt == "nm", rounding=1)
                cases.append(Q.fc_case(len(cases), lib, layer, x(1, depth), fmt=fmt))
                meta.append(("fc", fmt, layer, 1, out))
            for (oc, kh, kw, cin), hw, pad, stride in (
                    ((16, 1, 1, 32), (6, 5), 0, 1), ((32, 1, 1, 64), (5, 5), 0, 1), ((8, 3, 3, 8), (6, 6), 1, 1),
                    ((64, 1, 1, 64), (12, 5), 0, 1), ((32, 3, 3, 16), (8, 6), 1, 1), ((16, 5, 4, 1), (20, 8), 2, 1),
                    ((16, 3, 3, 3), (16, 16), 1, 2), ((32, 10, 4, 1), (25, 10), 2, 2), ((24, 3, 3, 24), (6, 6), 0, 1)):
                layer = random_layer(rng, (oc, kh, kw, cin), density=density, nm=fmt == "nm")
                g = geom((kh, kw), stride, (pad, pad), 1, hw)
                cases.append(Q.conv_case(len(cases), lib, layer, x(1, *hw, cin), g, fmt=fmt))
                meta.append(("conv", fmt, layer, g["out_hw"][0] * g["out_hw"][1], oc))
    return batches


def work_of(fmt, layer, pixels):
    from tinyml_prune.codegen import formats as F

    m = layer.w.reshape(layer.w.shape[0], -1)
    if fmt == "dense":
        return pixels * m.size
    if fmt == "nm":
        return pixels * F.get("nm").encode(m).arrays["values"].size
    return pixels * int(np.count_nonzero(m))


def nonneg_fit(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares of the *relative* error with every coefficient >= 0: the best fit over the
    subsets of free coefficients — clipping an unconstrained fit would distort the others, and
    an absolute fit lets the largest cases decide the small layers' intercepts."""
    a, y = a / y[:, None], np.ones_like(y)
    best, best_err = np.zeros(a.shape[1]), float(np.sum(y**2))
    for mask in range(1, 2 ** a.shape[1]):
        cols = [j for j in range(a.shape[1]) if mask >> j & 1]
        sol, *_ = np.linalg.lstsq(a[:, cols], y, rcond=None)
        if (sol < 0).any():
            continue
        coef = np.zeros(a.shape[1])
        coef[cols] = sol
        err = float(np.sum((a @ coef - y) ** 2))
        if err < best_err:
            best, best_err = coef, err
    return best


def calibrate(board: str, work: Path) -> dict:
    from tests.formats import ckernels as K

    cfg, _, variants, machine, _, _ = board_setup(board)
    lib = K.build(work, "ref")
    groups: dict[str, list] = {}
    n = 0
    for k, (cases, meta) in enumerate(calibration_cases(lib, np.random.default_rng(0))):
        res = run_cases(cases, board, work / f"{board}-{k}")
        bad = [c.kernel for c, ok in zip(cases, res.ok) if not ok]
        if bad:
            raise RuntimeError(f"{board}: kernels differ from the reference: {bad[:5]}")
        n += len(cases)
        for (op, fmt, layer, pixels, oc), count in zip(meta, res.instructions):
            cols = layer.w[0].size  # taps: Kh*Kw*Cin (FC: the depth); no window for FC
            window = int(np.prod(layer.w.shape[1:-1])) if op == "conv" else 0
            groups.setdefault(f"{op}_{fmt}", []).append(
                (work_of(fmt, layer, pixels), pixels * oc, pixels * cols, pixels * oc * window, count))
    kernels = {}
    for key, pts in groups.items():
        a = np.array([[w, o, i, t, 1.0] for w, o, i, t, _ in pts], float)
        y = np.array([c for *_, c in pts], float)
        coef = nonneg_fit(a, y)
        rel = np.abs(a @ coef - y) / y
        kernels[key] = dict(per_work=round(float(coef[0]), 4), per_output=round(float(coef[1]), 2),
                            per_input=round(float(coef[2]), 3), per_window=round(float(coef[3]), 3),
                            per_call=round(float(coef[4]), 1),
                            max_rel_error=round(float(rel.max()), 3))
    return {"board": board, "core": cfg.core, "variant": variant_name(variants), "machine": machine,
            "kernels": kernels, "cases": n,
            "note": "instructions = per_work*work + per_output*outputs + per_input*pixels*taps "
                    "+ per_window*outputs*Kh*Kw (conv only) + per_call; "
                    "work = MACs (dense), stored weights x pixels (sparse); taps = Kh*Kw*Cin (FC: the depth); "
                    "fitted by bench/calibrate.py"}


# -- auto's choice per layer, measured --------------------------------------------------------------

def layer_cases(programs: dict, lib, rng, start: int = 0):
    """Cases for every FC / CONV_2D layer of a model built with ``--format auto`` for several
    targets (``programs``: label -> Program, all of the same model, so the same slimmed layers):
    one case per layer and format among dense and the formats the targets chose, on random
    inputs of the layer's shape. Returns the cases and, per case, (operator, opcode, format,
    {label: choice})."""
    from tests.formats import ckernels as K
    from tests.formats import qemu_runner as Q

    cases, info = [], []
    first = next(iter(programs.values()))
    for pos, e in enumerate(first.emitters):
        if e.op.opcode not in ("CONV_2D", "FULLY_CONNECTED"):
            continue
        choices = {label: p.emitters[pos].weight_format for label, p in programs.items()}
        w = e.graph.tensors[e.op.inputs[1]].data
        bias = np.zeros(w.shape[0], np.int32) if e.bias is None else e.bias.data
        mult = next(a.values for a in e.arrays if a.name.endswith("_multiplier"))
        shift = next(a.values for a in e.arrays if a.name.endswith("_shift"))
        layer = K.Layer(w, bias, mult, shift, e.input_offset, e.output_offset, act=tuple(e.act),
                        rounding=1 if e.rounding == "TP_ROUND_SINGLE" else 0)
        for fmt in dict.fromkeys(["dense", *sorted(choices.values())]):
            i = start + len(cases)
            if e.op.opcode == "FULLY_CONNECTED":
                x = rng.integers(-128, 128, (e.rows, e.depth)).astype(np.int8)
                cases.append(Q.fc_case(i, lib, layer, x, fmt=fmt))
            else:
                x = rng.integers(-128, 128, e.in_dims).astype(np.int8)
                g = dict(stride=e.stride, padding=tuple(e.pad), dilation=e.dilation, out_hw=tuple(e.out_dims[1:3]))
                cases.append(Q.conv_case(i, lib, layer, x, g, fmt=fmt))
            info.append((e.op.index, e.op.opcode, fmt, choices))
    return cases, info


def auto_program(tflite: bytes, board: str | None, name: str = "model"):
    from tinyml_prune.boards import load
    from tinyml_prune.codegen import CodegenOptions, build_program, read_tflite
    from tinyml_prune.codegen.formats.costmodel import Target

    target = Target.from_board(load(board)) if board else None
    return build_program(read_tflite(tflite, name), CodegenOptions(format="auto", target=target), name)


def check_models(models: dict[str, bytes], board: str, work: Path, targets=("board", None)) -> list[dict]:
    """Per FC / CONV_2D layer of each model: the format ``auto`` chose for each of ``targets``
    ("board": ``board`` itself; None: no board) and the exact instructions of dense and of each
    chosen format measured on ``board`` (one program). Rows: model, operator, op, choices
    {target label: format}, measured {format: instructions}, bit_exact."""
    from tests.formats import ckernels as K

    lib = K.build(work, "ref")
    rng = np.random.default_rng(0)
    batches, size = [([], [])], 0  # programs of at most ~200 KB of filters (the linker script has 512 KB)
    for name, tflite in models.items():
        programs = {("board" if t == "board" else "none"): auto_program(tflite, board if t == "board" else t, name)
                    for t in targets}
        nbytes = sum(e.graph.tensors[e.op.inputs[1]].data.size for e in next(iter(programs.values())).emitters
                     if e.op.opcode in ("CONV_2D", "FULLY_CONNECTED"))
        if size and size + nbytes > 200_000:
            batches.append(([], []))
            size = 0
        size += nbytes
        cases, info = batches[-1]
        c, i = layer_cases(programs, lib, rng, start=len(cases))
        cases += c
        info += [(name, *t) for t in i]
    rows: dict[tuple, dict] = {}
    for k, (cases, info) in enumerate(batches):
        res = run_cases(cases, board, work / f"check-{board}-{k}")
        for (name, idx, op, fmt, choices), ok, count in zip(info, res.ok, res.instructions):
            row = rows.setdefault((name, idx), dict(model=name, board=board, operator=idx, op=op, choices=choices,
                                                    measured={}, bit_exact=True))
            row["measured"][fmt] = count
            row["bit_exact"] &= ok
    return list(rows.values())


def fixture_models() -> dict[str, bytes]:
    from tinyml_prune.codegen.formats.sparsify import prune_tflite

    fixtures = REPO.parent / "shared" / "fixtures" / "mlperf_tiny"
    return {f"{n}@90%": prune_tflite((fixtures / f"{n}.tflite").read_bytes(), "unstructured", 0.9)
            for n in ("kws_ref_model", "ad01_int8") if (fixtures / f"{n}.tflite").exists()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", default=",".join(BOARDS))
    ap.add_argument("--check", action="store_true", help="measure auto's per-layer choices instead of calibrating")
    ap.add_argument("--dry-run", action="store_true", help="print the tables, do not write them")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="calibrate-") as tmp:
        work = Path(tmp)
        if args.check:
            print("| board | model | op | layer | dense | auto (board) | auto (no board) | bit-exact |")
            print("|---|---|---|---|---:|---|---|---|")
            models = fixture_models()
            for board in args.boards.split(","):
                for r in check_models(models, board, work):
                    d, cell = r["measured"]["dense"], {}
                    for label, fmt in r["choices"].items():
                        cell[label] = f"{fmt} {r['measured'][fmt] / d:.2f}×" if fmt != "dense" else "dense"
                    print(f"| {board} | {r['model']} | {r['op']} | {r['operator']} | {d:,} | {cell['board']} | "
                          f"{cell['none']} | {r['bit_exact']} |", flush=True)
            return 0
        from tinyml_prune.artifacts import write_text
        from tinyml_prune.codegen.formats.costmodel import COSTS

        for board in args.boards.split(","):
            cal = calibrate(board, work)
            text = json.dumps(cal, indent=2) + "\n"
            if not args.dry_run:
                write_text(COSTS / f"{board}.json", text)
            worst = max(k["max_rel_error"] for k in cal["kernels"].values())
            print(f"{board} ({cal['core']}, {cal['variant']} kernels, {cal['cases']} cases): worst fit error "
                  f"{worst:.1%}", flush=True)
            for key, k in cal["kernels"].items():
                print(f"  {key:<13} {k['per_work']:>8.4f}/work {k['per_output']:>8.2f}/output "
                      f"{k['per_input']:>7.3f}/input {k['per_window']:>7.3f}/window {k['per_call']:>9.1f}/call  (max error {k['max_rel_error']:.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
