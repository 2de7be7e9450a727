"""Weight formats × models × QEMU boards: exact instructions, flash, RAM, and ratios.

Run:  .venv/bin/python bench/formats.py               # the table (and bench/formats.png)
      .venv/bin/python bench/formats.py --calibrate   # refit codegen/formats/costs/<board>.json (bench/calibrate.py)
      .venv/bin/python bench/formats.py --auto-check  # per-layer predicted vs measured for auto

Models are the MLPerf Tiny fixtures, dense and magnitude-pruned in the flatbuffer (90 %
unstructured for CSR/bitmask/auto, 2:4 for N:M). Every cell is one inference on seeded
random inputs through the board harness, checked bit-exact against TFLite BUILTIN_REF.
"dense-ref" builds the portable kernels, every other row the board's optimized variant.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the kernel micro-benchmark runner lives with its tests
FIXTURES = REPO.parent / "shared" / "fixtures" / "mlperf_tiny"
BOARDS = ["qemu-m4", "qemu-m7", "qemu-m33", "qemu-m55", "qemu-m0"]
MODELS = ["kws_ref_model", "ad01_int8"]
# TFLM + CMSIS-NN on qemu-m4, measured outside this repository (docs/baselines.md): instructions, flash, non-model flash, RAM
TFLM = {"kws_ref_model": (7_697_918, 134_008, 134_008 - 53_936, 24_648),
        "ad01_int8": (583_054, 325_956, 325_956 - 276_976, 4_356)}
# row name -> (pruning, format, kernels)
CONFIGS = {
    "dense-ref": (None, "dense", "reference"),
    "dense-opt": (None, "dense", "auto"),
    "csr@90%": ("unstructured", "csr", "auto"),
    "bitmask@90%": ("unstructured", "bitmask", "auto"),
    "nm 2:4": ("2:4", "nm", "auto"),
    "auto@90%": ("unstructured", "auto", "auto"),
    "slim@50%ch": ("channel", "slim", "auto"),  # 50 % of the channels masked (weights and bias)
}


def model_bytes(name: str, pruning: str | None) -> bytes:
    from tinyml_prune.codegen.formats.sparsify import prune_tflite

    from tinyml_prune.codegen.formats.sparsify import mask_channels

    t = (FIXTURES / f"{name}.tflite").read_bytes()
    if pruning == "channel":
        return mask_channels(t, 0.5)
    return t if pruning is None else prune_tflite(t, pruning, 0.9)


def measure(tflite: bytes, fmt: str, kernels: str, board_name: str, work: Path) -> dict:
    from tinyml_prune.boards import load, make_board
    from tinyml_prune.codegen import CodegenOptions, generate
    from tinyml_prune.errors import FitError
    from tinyml_prune.harness.profile import ProfileConfig, profile

    root = work / f"m-{time.monotonic_ns()}"
    src = root.with_suffix(".tflite")
    src.write_bytes(tflite)
    from tinyml_prune.codegen.formats.costmodel import Target

    config = load(board_name)
    res = generate(tflite, root, CodegenOptions(format=fmt, target=Target.from_board(config)))
    board = make_board(config, exact=True)
    try:
        board.build(root, kernels=kernels)
    except FitError as e:
        return {"error": str(e).split(": ", 1)[-1][:60]}
    r = profile(root, board, ProfileConfig(n=1, seed=0, tflite=str(src)))
    weights = res.manifest["weight_bytes"]
    return {"instructions": r["latency"]["median"], "flash": r["flash_bytes"], "ram": r["ram_bytes"],
            "arena": r["arena_bytes"], "bit_exact": r["bit_exact"], "weight_bytes": weights,
            "filter_bytes": filter_bytes(res.program)}


def filter_bytes(program) -> int:
    """Bytes of the conv/FC weight matrices alone (dense int8 or their encoded arrays)."""
    total = 0
    for e in program.emitters:
        if e.op.opcode in ("CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D"):
            total += sum(a.nbytes for a in e.arrays if a.kind == "weights" and "bias" not in a.name)
    return total


def table(models, boards, work: Path) -> list[dict]:
    rows = []
    for name in models:
        if not (FIXTURES / f"{name}.tflite").exists():
            print(f"skipping {name}: fixture absent", file=sys.stderr)
            continue
        for board in boards:
            for cfg, (pruning, fmt, kernels) in CONFIGS.items():
                m = measure(model_bytes(name, pruning), fmt, kernels, board, work)
                rows.append(dict(model=name, board=board, config=cfg, **m))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def render(rows: list[dict]) -> str:
    out = ["| model | board | format | instructions | flash B | filter B | RAM B | ×dense-ref | ×dense-opt | ×TFLM (m4) | bit-exact |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    base = {(r["model"], r["board"], r["config"]): r for r in rows}
    for r in rows:
        if "error" in r:
            out.append(f"| {r['model']} | {r['board']} | {r['config']} | does not fit: {r['error']} | | | | | | | |")
            continue
        ref = base.get((r["model"], r["board"], "dense-ref"), {})
        opt = base.get((r["model"], r["board"], "dense-opt"), {})
        ratio = lambda b: f"{r['instructions'] / b['instructions']:.2f}" if b.get("instructions") else "–"  # noqa: E731
        tflm = f"{r['instructions'] / TFLM[r['model']][0]:.2f}" if r["board"] == "qemu-m4" else "–"
        out.append(f"| {r['model']} | {r['board']} | {r['config']} | {r['instructions']:,} | {r['flash']:,} | "
                   f"{r['filter_bytes']:,} | {r['ram']:,} | {ratio(ref)} | {ratio(opt)} | {tflm} | {r['bit_exact']} |")
    return "\n".join(out)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m4 = [r for r in rows if r["board"] == "qemu-m4" and "instructions" in r]
    models = sorted({r["model"] for r in m4})
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4), squeeze=False)
    for ax, name in zip(axes[0], models):
        rs = [r for r in m4 if r["model"] == name]
        ax.bar([r["config"] for r in rs], [r["instructions"] / 1e6 for r in rs], color="tab:blue")
        ax.axhline(TFLM[name][0] / 1e6, color="tab:red", ls="--", label="TFLM+CMSIS-NN")
        ax.set_title(f"{name} on qemu-m4")
        ax.set_ylabel("M instructions / inference")
        ax.tick_params(axis="x", rotation=30)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


# -- cost-model calibration and the auto check (kernel micro-benchmarks on QEMU) -----------------

def auto_check(name: str, work: Path) -> list[dict]:
    """Per FC/CONV layer of the 90 %-pruned model: auto's choice, predicted and measured
    instructions of dense and of the choice (each layer run alone on qemu-m4)."""
    from tests.formats import ckernels as K
    from tests.formats import qemu_runner as Q
    from tinyml_prune.codegen import CodegenOptions, build_program, read_tflite
    from tinyml_prune.boards import load
    from tinyml_prune.codegen.formats.costmodel import Target, predictions

    t = model_bytes(name, "unstructured")
    program = build_program(read_tflite(t, name), CodegenOptions(format="auto", target=Target.from_board(load("qemu-m4"))), name)
    lib = K.build(work, "ref")
    rng = np.random.default_rng(0)
    cases, info = [], []
    for e in program.emitters:
        if e.op.opcode not in ("CONV_2D", "FULLY_CONNECTED"):
            continue
        w = e.graph.tensors[e.op.inputs[1]].data
        pred = predictions(e, w, "qemu-m4")
        bias = np.zeros(w.shape[0], np.int32) if e.bias is None else e.bias.data
        mult = next(a.values for a in e.arrays if a.name.endswith("_multiplier"))
        shift = next(a.values for a in e.arrays if a.name.endswith("_shift"))
        layer = K.Layer(w, bias, mult, shift, e.input_offset, e.output_offset, act=tuple(e.act),
                        rounding=1 if e.rounding == "TP_ROUND_SINGLE" else 0)
        for fmt in sorted({"dense", e.weight_format}):
            if e.op.opcode == "FULLY_CONNECTED":
                x = rng.integers(-128, 128, (e.rows, e.depth)).astype(np.int8)
                cases.append(Q.fc_case(len(cases), lib, layer, x, fmt=fmt))
            else:
                x = rng.integers(-128, 128, e.in_dims).astype(np.int8)
                g = dict(stride=e.stride, padding=tuple(e.pad), dilation=e.dilation, out_hw=tuple(e.out_dims[1:3]))
                cases.append(Q.conv_case(len(cases), lib, layer, x, g, fmt=fmt))
            info.append((e.op.index, e.op.opcode, e.weight_format, fmt, pred.get(fmt)))
    res = Q.run(cases, "dsp", "m4", work / f"auto-{name}", timeout=900)
    rows = []
    for (idx, op, choice, fmt, pred), ok, count in zip(info, res.ok, res.instructions):
        rows.append(dict(model=name, operator=idx, op=op, choice=choice, format=fmt, predicted=pred, measured=count,
                         bit_exact=ok))
    return rows


def main(argv=None) -> int:
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", default=",".join(BOARDS))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--auto-check", action="store_true")
    ap.add_argument("--png", default=str(REPO / "bench" / "formats.png"))
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-formats-"))
    try:
        if args.calibrate:
            import calibrate as per_board  # bench/calibrate.py: every QEMU board, or --boards

            return per_board.main(["--boards", args.boards] if args.boards != ",".join(BOARDS) else [])
        if args.auto_check:
            print("| model | op | layer | auto's choice | kernel | predicted | measured | bit-exact |")
            print("|---|---|---|---|---|---:|---:|---|")
            for name in args.models.split(","):
                for r in auto_check(name, work):
                    pred = f"{r['predicted']:,.0f}" if r["predicted"] is not None else "–"
                    print(f"| {r['model']} | {r['op']} | {r['operator']} | {r['choice']} | {r['format']} | {pred} | "
                          f"{r['measured']:,} | {r['bit_exact']} |", flush=True)
            return 0
        rows = table(args.models.split(","), args.boards.split(","), work)
        print(render(rows))
        plot(rows, Path(args.png))
        (work / "rows.json").write_text(json.dumps(rows))
        shutil.copy(work / "rows.json", REPO / "bench" / "formats.json")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
