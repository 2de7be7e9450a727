"""Hutchinson Hessian-vector products in float32 vs float16: time and memory per HVP, and how
well the fp16 per-channel traces rank channels like the fp32 ones.

    .venv/bin/python bench/hessian.py [--probes 32] [--out out/bench/hessian]

Runs on a GPU when TensorFlow sees one (CUDA_VISIBLE_DEVICES unset), on the CPU otherwise.
Models: the digits CNN (trained here) and the fixture str_ww_ref_model.h5 (probe inputs).
Memory: each (model, dtype, HVP mode) is timed in a fresh subprocess; on GPU the device's peak
allocation, on CPU the peak growth of the resident set over the timed HVPs (after one warm-up call that
traces the function), sampled every millisecond.
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


def rss_mb() -> float:
    """Current resident set size (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2 ** 20


class RssSampler:
    """Peak current-RSS over a block, sampled every millisecond by a thread."""

    def __enter__(self):
        import threading

        self.base = self.peak = rss_mb()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.001)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss_mb())


def time_hvp(model, layers, ctx, dtype, mode, reps):
    gpu = bool(tf.config.list_logical_devices("GPU"))
    cm = _compute_model(model, dtype)
    variables = [kernel_variable(cm.get_layer(l.name)) for l in layers]
    hvp = make_hvp(cm, variables, ctx.x, ctx.y, ctx.per_sample_loss, mode)
    vs = [tf.ones(v.shape, v.dtype) for v in variables]
    if gpu:
        tf.config.experimental.reset_memory_stats("GPU:0")
    hvp(vs)  # trace and warm up outside the measurement
    with RssSampler() as rss:
        t0 = time.perf_counter()
        for _ in range(reps):
            out = hvp(vs)
        _ = [o.numpy() for o in out]
        ms = (time.perf_counter() - t0) / reps * 1e3
    mem = (tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2 ** 20) if gpu else rss.peak - rss.base
    return ms, mem


def child(model_path, x_path, dtype, mode, reps):
    """One measurement in this (fresh) process; prints JSON."""
    model = load_model(model_path)
    ctx = make_context(model, np.load(x_path))
    ms, mem = time_hvp(model, prunable_layers(model), ctx, dtype, mode, reps)
    print(json.dumps({"ms": ms, "mem": mem}))


def measure(model, x, dtype, mode, reps, tmp):
    import subprocess

    mp, xp = Path(tmp) / "m.keras", Path(tmp) / "x.npy"
    if not mp.exists():
        model.save(mp)
        np.save(xp, x)
    r = subprocess.run([sys.executable, __file__, "--child", str(mp), str(xp), dtype, mode, str(reps)],
                       check=True, capture_output=True, text=True)
    d = json.loads(r.stdout.strip().splitlines()[-1])
    return d["ms"], d["mem"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probes", type=int, default=32)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=str(REPO / "out" / "bench" / "hessian"))
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        mp, xp, dtype, mode, reps = args.child
        return child(mp, xp, dtype, mode, int(reps))
    import tempfile

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
        tmp = tempfile.mkdtemp(prefix="hessian-bench-")
        for dtype in ("float32", "float16"):
            for mode in ("forward_over_reverse", "reverse_over_reverse"):
                ms, mem = measure(model, x, dtype, mode, args.reps, tmp)
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
    md = ["| model | device | params | HVP fp32 fwd-over-rev ms | fp32 rev-over-rev ms | fp16 fwd-over-rev ms | "
          "fp16 rev-over-rev ms | peak mem fp32 / fp16 MB | Spearman ρ channel traces |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['model']} | {r['device']} | {r['params']} | {r['float32_forward_over_reverse_ms']} | "
                  f"{r['float32_reverse_over_reverse_ms']} | {r['float16_forward_over_reverse_ms']} | "
                  f"{r['float16_reverse_over_reverse_ms']} | {r['float32_forward_over_reverse_mem_mb']} / "
                  f"{r['float16_forward_over_reverse_mem_mb']} | {r['spearman_channel_traces']} |")
    (out / "hessian.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
