"""Per model: what 2:4 buys on an Ampere GPU (modeled) and on our Cortex-M kernels (measured).

    .venv/bin/python bench/ampere.py [--measure] [--board qemu-m4] [--digits] [MODEL.tflite ...]

Each model is made 2:4 first: the MLPerf Tiny fixtures by pruning their int8 GEMM weights in a
copy of the flatbuffer (magnitude, no retraining), the digits CNN (``--digits``) by pruning the
trained float model along input channels before PTQ. Then, per model: GEMM layers that are 2:4,
weight bytes dense → values + metadata, the A100 modeled speed-up, layer-by-layer
bit-exactness of the emulated path, and — with ``--measure`` — the measured speed-up of the
generated C on a QEMU board: ``tinyml codegen --format nm`` (our 2:4 Cortex-M kernels, issue #6)
vs ``--format dense``, exact instruction counts per inference. Without ``--measure`` (or when a
build fails) that column prints "unavailable"; nothing is estimated in its place.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures" / "mlperf_tiny"
sys.path.insert(0, str(REPO))

from tinyml_prune.ampere.prune import prune_model_2to4  # noqa: E402
from tinyml_prune.ampere.report import ampere_section  # noqa: E402


def digits_2to4(work: Path) -> Path:
    from tinyml_prune import data, models
    from tinyml_prune.ampere.prune import prune_keras_2to4
    from tinyml_prune.quantize import convert_ptq

    ds = data.load_digits()
    model = models.train("cnn", ds, models.TrainConfig(epochs=20))
    prune_keras_2to4(model)
    path = work / "digits_cnn_2to4.tflite"
    path.write_bytes(convert_ptq(model, ds.calibration(200)))
    return path


def tinyml(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "tinyml_prune.cli", *args], check=True, capture_output=True, text=True)


def measured_instructions(model: Path, fmt: str, board: str, work: Path) -> float:
    out = work / f"{model.stem}_{fmt}"
    tinyml("codegen", str(model), "-o", str(out), "--format", fmt)
    tinyml("build", str(out), "--board", board)
    tinyml("profile", str(out), "--board", board, "-n", "2", "--tflite", str(model))
    report = json.loads((out / "report.json").read_text())
    if not report.get("bit_exact"):
        raise RuntimeError(f"{fmt} build of {model.name} is not bit-exact on {board}")
    return float(report["latency"]["median"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", type=Path)
    ap.add_argument("--measure", action="store_true", help="build and run dense vs nm C on a QEMU board")
    ap.add_argument("--board", default="qemu-m4")
    ap.add_argument("--digits", action="store_true", help="also train, 2:4-prune and PTQ the digits CNN")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ampere-bench-"))
    sources = list(args.models) or [p for p in (FIXTURES / n for n in
                                                ("kws_ref_model.tflite", "ad01_int8.tflite", "str_ww_ref_model.tflite"))
                                    if p.exists()]
    models = []
    for src in sources:
        dst = work / f"{src.stem}_2to4.tflite"
        dst.write_bytes(prune_model_2to4(src))
        models.append(dst)
    if args.digits:
        models.append(digits_2to4(work))
    head = (f"{'model':28} {'2:4 layers':>10} {'weights B dense -> 2:4':>24} {'Ampere modeled':>15} "
            f"{'bit-exact':>9} {'Cortex-M measured (' + args.board + ')':>30}")
    print(head)
    print("-" * len(head))
    for m in models:
        s = ampere_section(m, samples=2)
        mm = s["model"]
        measured = "unavailable"
        if args.measure:
            try:
                dense = measured_instructions(m, "dense", args.board, work)
                sparse = measured_instructions(m, "nm", args.board, work)
                measured = f"{dense / sparse:.2f}x ({dense:,.0f} -> {sparse:,.0f} insn)"
            except (subprocess.CalledProcessError, RuntimeError) as e:
                err = getattr(e, "stderr", "") or str(e)
                measured = "unavailable: " + err.strip().splitlines()[-1][:60]
        print(f"{m.stem:28} {mm['layers_2to4']:>4} of {mm['gemm_layers']:<4} "
              f"{mm['weight_bytes_dense']:>11,} -> {mm['weight_bytes_2to4']:<10,} "
              f"{mm['modeled_speedup']:>14.2f}x {'yes' if mm['bit_exact'] else 'NO':>9} {measured:>30}")
    print(f"\nAmpere: {s['part']['name']}, tile-quantized roofline (docs/ampere.md); batch 1. work dir {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
