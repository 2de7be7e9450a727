"""End-to-end pipeline benchmark: dense vs 2:4 vs 50 % channels vs 80 % unstructured vs auto.

For the digits CNN and the ResNet-style digits model: prune (with fine-tuning) -> our
sparsity-preserving QAT -> int8 .tflite -> code generator. Reports float and int8 test
accuracy, weights, MACs (zeros skipped), generated weight bytes (codegen, csr for the
unstructured/auto variants, nm for 2:4, dense otherwise) and wall time per stage.
Goal: int8 within 1 point of the dense float model for 2:4, 50 % channels and 80 %.

Run: ``.venv/bin/python bench/pipeline.py [--quick] [--models cnn,resnet] [--variants ...]``;
writes bench/pipeline.{json,md} (``--out`` to write elsewhere).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tinyml_prune import data, models  # noqa: E402
from tinyml_prune.codegen.generate import CodegenOptions, build_program  # noqa: E402
from tinyml_prune.codegen.tflite_reader import read_tflite  # noqa: E402
from tinyml_prune.pruning import auto  # noqa: E402
from tinyml_prune.pruning.api import prune  # noqa: E402
from tinyml_prune.pruning.config import FinetuneConfig, PruneConfig  # noqa: E402
from tinyml_prune.quantize.qat import QATConfig  # noqa: E402
from tinyml_prune.quantize.quantize_report import model_summary, quantize_with_report  # noqa: E402
from tinyml_prune.sensitivity.sweep import SweepConfig, run_sweep  # noqa: E402

VARIANTS = ("dense", "2:4", "channel 50%", "unstructured 80% global", "auto accuracy-drop=0.01")


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - t0, 1)


def weight_bytes(tflite: bytes, fmt: str) -> int:
    p = build_program(read_tflite(tflite, "bench"), CodegenOptions(format=fmt))
    return int(p.weight_bytes + p.param_bytes)


def run_model(arch: str, ds, epochs: int, ft_epochs: int, qat_epochs: int, workdir: Path,
              variants=VARIANTS) -> list[dict]:
    dense, t_train = timed(lambda: models.train(arch, ds, models.TrainConfig(epochs=epochs)))
    path = workdir / f"{arch}.keras"
    dense.save(path)
    ft = FinetuneConfig(epochs=ft_epochs)
    rows = []
    for variant in variants:
        stages = {"train": t_train}
        auto_info = None
        if variant == "dense":
            pruned, fmt = dense, "dense"
            stages["prune"] = 0.0
        elif variant == "2:4":
            (pruned, _), stages["prune"] = timed(lambda: prune(dense, PruneConfig(granularity="nm", nm=(2, 4),
                                                                                  finetune=ft), ds))
            fmt = "auto"  # codegen picks per layer: a Cin=1 stem has no 2:4 groups
        elif variant == "channel 50%":
            (pruned, _), stages["prune"] = timed(lambda: prune(dense, PruneConfig(granularity="channel", sparsity=0.5,
                                                                                  finetune=ft), ds))
            fmt = "dense"
        elif variant == "unstructured 80% global":
            # global scope: 80% of every layer would leave the 144-weight Cin=1 stem 29 weights
            (pruned, _), stages["prune"] = timed(lambda: prune(dense, PruneConfig(sparsity=0.8, scope="global",
                                                                                  finetune=ft), ds))
            fmt = "csr"
        else:
            sens, stages["sensitivity"] = timed(lambda: run_sweep(
                str(path), "digits", SweepConfig(), cache_dir=workdir / "cache", progress=False))
            sens_path = workdir / f"{arch}.sens.json"
            sens_path.write_text(json.dumps(sens))
            req = auto.AutoRequest(auto.parse_budget("accuracy-drop=0.01"), "sensitivity", str(sens_path))
            auto_info, stages["allocate"] = timed(lambda: auto.choose_ratios(dense, ds, req))
            cfg = auto.apply_to_config(PruneConfig(finetune=ft), auto_info, dense)
            (pruned, _), stages["prune"] = timed(lambda: prune(dense, cfg, ds))
            fmt = "csr"
        (tfl, rep), stages["qat"] = timed(lambda: quantize_with_report(pruned, ds, QATConfig(epochs=qat_epochs)))
        nbytes, stages["codegen"] = timed(lambda: weight_bytes(tfl, fmt))
        s = model_summary(pruned, tfl)
        rows.append({
            "model": arch, "variant": variant, "float": rep["float"], "int8": rep["int8"],
            "params": s["params_nonzero"], "macs": s["macs_effective"], "format": fmt, "weight_bytes": nbytes,
            "weight_bytes_dense": weight_bytes(tfl, "dense"),
            "zeros_identical": all(r["zeros_identical"] for r in rep["layers"]),
            "seconds": stages, "auto_ratios": auto_info["ratios"] if auto_info else None,
        })
        print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| model | variant | float acc | int8 acc | int8 − dense float | weights ≠0 | MACs (zeros skipped) | "
             "weight bytes (format) | zeros kept | seconds per stage |", "|" + "---|" * 10]
    base = {r["model"]: r["float"] for r in rows if r["variant"] == "dense"}
    for r in rows:
        st = ", ".join(f"{k} {v}" for k, v in r["seconds"].items())
        lines.append(f"| {r['model']} | {r['variant']} | {r['float']:.4f} | {r['int8']:.4f} | "
                     f"{100 * (r['int8'] - base[r['model']]):+.2f} pt | {r['params']:,} | {r['macs']:,} | "
                     f"{r['weight_bytes']:,} ({r['format']}) | {'yes' if r['zeros_identical'] else 'NO'} | {st} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer epochs (smoke run)")
    ap.add_argument("--models", default="cnn,resnet")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help="comma-separated subset of: " + ", ".join(VARIANTS).replace("%", "%%") + " (dense is always run)")
    ap.add_argument("--out", default=str(HERE / "pipeline"), help="writes OUT.json and OUT.md")
    args = ap.parse_args()
    variants = [v.strip() for v in args.variants.split(",")]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        ap.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    variants = ["dense"] + [v for v in VARIANTS if v in variants and v != "dense"]
    epochs, ft_epochs, qat_epochs = (10, 1, 1) if args.quick else (40, 8, 3)
    ds = data.load_digits()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.models.split(","):
            rows += run_model(arch, ds, epochs, ft_epochs, qat_epochs, Path(tmp), variants)
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()
