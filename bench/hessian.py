"""Hutchinson Hessian-vector products in float32 vs float16: time and memory per HVP, and how
well the fp16 per-channel traces rank channels like the fp32 ones.

    .venv/bin/python bench/hessian.py [--probes 32] [--out out/bench/hessian]

Runs on a GPU when TensorFlow sees one (CUDA_VISIBLE_DEVICES unset), on the CPU otherwise.
Models: the digits CNN (trained here) and the fixture str_ww_ref_model.h5 (probe inputs).
Memory: on GPU the device's peak allocation; on CPU the growth of the process's peak RSS over
the HVP runs (a coarse upper bound, shared with everything else in the process).
Per-channel trace = Hutchinson trace of each output channel's diagonal block (same probes, same
seed, for both dtypes); rank correlation = Spearman over all channels of all pruned layers.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures" / "mlperf_tiny"
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from tinyml_prune import data, models  # noqa: E402
from tinyml_prune.kerasenv import tf  # noqa: E402
from tinyml_prune.modelio import load_model  # noqa: E402
from tinyml_prune.pruning.criteria import make_context  # noqa: E402
from tinyml_prune.pruning.criteria.hessian import _compute_model, hutchinson, make_hvp  # noqa: E402
from tinyml_prune.pruning.layers import kernel_variable, prunable_layers  # noqa: E402
from tinyml_prune.pruning.probe_data import probe_dataset  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_hvp(model, layers, ctx, dtype, mode, reps):
    cm = _compute_model(model, dtype)
    variables = [kernel_variable(cm.get_layer(l.name)) for l in layers]
    hvp = make_hvp(cm, variables, ctx.x, ctx.y, ctx.per_sample_loss, mode)
    vs = [tf.ones(v.shape, v.dtype) for v in variables]
    hvp(vs)  # trace
    gpu = bool(tf.config.list_logical_devices("GPU"))
    if gpu:
        tf.config.experimental.reset_memory_stats("GPU:0")
    rss0 = peak_rss_mb()
    t0 = time.perf_counter()
    for _ in range(reps):
        out = hvp(vs)
    _ = [o.numpy() for o in out]
    ms = (time.perf_counter() - t0) / reps * 1e3
    mem = (tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2 ** 20) if gpu else peak_rss_mb() - rss0
    return ms, mem


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probes", type=int, default=32)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=str(REPO / "out" / "bench" / "hessian"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
    ds = data.load_digits()
    cases = {"digits_cnn": (models.train("cnn", ds, models.TrainConfig(epochs=20)), ds.x_train[:256])}
    if (FIXTURES / "str_ww_ref_model.h5").exists():
        m = load_model(FIXTURES / "str_ww_ref_model.h5")
        cases["str_ww"] = (m, probe_dataset(m, 256, 1)[0])
    rows = []
    for name, (model, x) in cases.items():
        ctx = make_context(model, x)
        layers = [l for l in prunable_layers(model)]
        row = {"model": name, "device": device, "batch": len(x), "params": int(sum(kernel_variable(l).shape.num_elements() for l in layers))}
        traces = {}
        for dtype in ("float32", "float16"):
            for mode in ("forward_over_reverse", "reverse_over_reverse"):
                ms, mem = time_hvp(model, layers, ctx, dtype, mode, args.reps)
                row[f"{dtype}_{mode}_ms"] = round(ms, 2)
                row[f"{dtype}_{mode}_mem_mb"] = round(mem, 1)
            res = hutchinson(model, layers, ctx.x, ctx.y, ctx.per_sample_loss, dtype,
                             args.probes, args.probes, seed=0)
            traces[dtype] = np.concatenate([res.channel_trace(l) for l in layers])
            row[f"{dtype}_layer_traces"] = {k: round(v, 4) for k, v in res.trace.items()}
        row["channels"] = int(len(traces["float32"]))
        row["spearman_channel_traces"] = round(float(spearmanr(traces["float32"], traces["float16"]).statistic), 4)
        row["max_rel_trace_diff"] = round(float(np.max(np.abs(traces["float16"] - traces["float32"])
                                                       / (np.abs(traces["float32"]).max() + 1e-12))), 5)
        rows.append(row)
        print(json.dumps(row), flush=True)
    (out / "hessian.json").write_text(json.dumps(rows, indent=1) + "\n")
    md = ["| model | device | HVP fp32 fwd-over-rev ms | fp32 rev-over-rev ms | fp16 fwd-over-rev ms | "
          "fp16 rev-over-rev ms | peak mem fp32 / fp16 MB | Spearman ρ channel traces |",
          "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['model']} | {r['device']} | {r['float32_forward_over_reverse_ms']} | "
                  f"{r['float32_reverse_over_reverse_ms']} | {r['float16_forward_over_reverse_ms']} | "
                  f"{r['float16_reverse_over_reverse_ms']} | {r['float32_forward_over_reverse_mem_mb']} / "
                  f"{r['float16_forward_over_reverse_mem_mb']} | {r['spearman_channel_traces']} |")
    (out / "hessian.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
