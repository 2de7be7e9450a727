"""Per model: what 2:4 buys on a GPU (modeled) and on our Cortex-M kernels (measured).

    .venv/bin/python bench/ampere.py [--measure] [--board qemu-m4] [--digits] [--part P] [--batch N]
                                     [MODEL.tflite ...]

Each model is made 2:4 first: the MLPerf Tiny fixtures by pruning their int8 GEMM weights in a
copy of the flatbuffer (magnitude, no retraining), the digits CNN (``--digits``) by pruning the
trained float model along input channels before PTQ. Then, per model: GEMM layers that are 2:4,
weight bytes dense → values + metadata, the modeled GPU speed-up (launch floor included, at
``--part``/``--batch``), layer-by-layer
bit-exactness of the emulated path, and — with ``--measure`` — the measured speed-up of the
generated C on a QEMU board: the model generated with ``nm`` (our 2:4 Cortex-M kernels)
on its 2:4 layers vs ``--format dense``, each layer profiled exactly
(``tinyml_prune/harness/layers.py``, the same path as ``tinyml profile --per-layer``), printed
per model and per layer next to the Ampere modeled speed-up. Without ``--measure`` (or when a
build fails) that column prints "unavailable"; nothing is estimated in its place.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures" / "mlperf_tiny"
sys.path.insert(0, str(REPO))

from tinyml_prune.ampere.prune import prune_model_2to4  # noqa: E402
from tinyml_prune.ampere.report import ampere_section  # noqa: E402
from tinyml_prune.errors import TinymlError  # noqa: E402


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


def measured_layers(model: Path, board_name: str, work: Path, runs: int = 3) -> dict:
    """Per-layer dense vs 2:4 counts on the board (exact on QEMU), as ampere_section takes them."""
    import numpy as np

    from tinyml_prune.boards import load, make_board
    from tinyml_prune.harness.layers import measure_dense_vs_2to4
    from tinyml_prune.quantize.ptq import make_interpreter, run_tflite

    data = model.read_bytes()
    config = load(board_name)
    board = make_board(config, exact=True) if config.emulated else make_board(config)
    shape = tuple(make_interpreter(data).get_input_details()[0]["shape"][1:])
    x = np.random.default_rng(0).integers(-128, 128, (runs, *shape), dtype=np.int8)
    expected = run_tflite(data, x, quantized_input=True).reshape(runs, -1)
    counts = measure_dense_vs_2to4(data, board, work / model.stem, x, expected)
    if counts is None:
        raise RuntimeError("no 2:4 layer the nm format accepts")
    if not counts["bit_exact"]:
        raise RuntimeError(f"the board's outputs differ from TFLite on {board_name}")
    return counts


def layer_table(section: dict) -> list[str]:
    unit = "instructions"
    out = [f"  {'op':>4} {'layer':18} {'2:4':>4} {'dense ' + unit:>19} {'2:4 ' + unit:>17} {'measured':>9} "
           f"{'Ampere':>7}"]
    for r in section["layers"]:
        b = r.get("board")
        if r["status"] == "unsupported" or not b:
            continue
        amp = r.get("modeled_speedup")
        out.append(f"  {r['index']:>4} {r['op'][:18]:18} {'yes' if r['status'] == '2:4' else 'no':>4} "
                   f"{b['dense']:>19,} {b['sparse']:>17,} {b['speedup']:>8.2f}x "
                   f"{(f'{amp:.2f}x' if amp else '—'):>7}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", type=Path)
    ap.add_argument("--measure", action="store_true", help="build and run dense vs nm C on a QEMU board")
    ap.add_argument("--board", default="qemu-m4")
    ap.add_argument("--digits", action="store_true", help="also train, 2:4-prune and PTQ the digits CNN")
    ap.add_argument("--part", default="a100-sxm4-40gb", help="GPU part of the cost model")
    ap.add_argument("--batch", type=int, default=1, help="samples per kernel launch in the cost model")
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
    per_layer = []
    for m in models:
        measured, counts = "unavailable", None
        if args.measure:
            try:
                counts = measured_layers(m, args.board, work)
                d, sp = counts["model"]["dense"], counts["model"]["sparse"]
                measured = f"{d / sp:.2f}x ({d:,} -> {sp:,} insn)"
            except (TinymlError, RuntimeError) as e:
                measured = "unavailable: " + str(e).strip().splitlines()[-1][:60]
        s = ampere_section(m, samples=2, board=counts, part=args.part, batch=args.batch)
        mm = s["model"]
        print(f"{m.stem:28} {mm['layers_2to4']:>4} of {mm['gemm_layers']:<4} "
              f"{mm['weight_bytes_dense']:>11,} -> {mm['weight_bytes_2to4']:<10,} "
              f"{mm['modeled_speedup']:>14.2f}x {'yes' if mm['bit_exact'] else 'NO':>9} {measured:>30}")
        if counts:
            per_layer += [f"{m.stem} on {args.board} (exact, per layer; dense elsewhere):", *layer_table(s), ""]
    if per_layer:
        print("\nPer layer: board-measured vs Ampere-modeled 2:4 speed-up")
        print("\n".join(per_layer))
    print(f"\nGPU: {s['part']['name']}, launch floor {s['part']['launch_us']:.2f} µs per kernel + tile-quantized "
          f"roofline (docs/ampere.md); batch {args.batch}. work dir {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
