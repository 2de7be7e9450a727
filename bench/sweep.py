"""Wall time of one sensitivity sweep on each executor: this process, local worker processes,
and embedded Ray, on this machine.

    .venv/bin/python bench/sweep.py [--model M.keras] [--ratios 0.3,0.6,0.9] [--recovery-epochs 0]
                                    [--cpus 2] [--out out/bench/sweep]

Without --model the digits CNN is trained here (40 epochs, seed 0). Every executor starts from
an empty cache, so every unit is computed. Ray's start-up (``ray.init``) is timed apart from
the sweep on it; the per-unit seconds come from the cache rows (time inside a worker, TF
warm). The script also checks that every executor wrote the same sens.json. Writes sweep.json
and sweep.md into --out.
"""
from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tinyml_prune.executors import ExecutorSpec  # noqa: E402
from tinyml_prune.sensitivity.sweep import SweepConfig, run_sweep  # noqa: E402
from tinyml_prune.sensitivity.work import model_blob, read_cache  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--ratios", default="0.3,0.6,0.9")
    ap.add_argument("--recovery-epochs", type=int, default=0)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "out" / "bench" / "sweep"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    if args.model:
        model_path = args.model
    else:
        from tinyml_prune import data, models

        model_path = str(work / "digits_cnn.keras")
        models.train("cnn", data.load_digits(), models.TrainConfig(epochs=40)).save(model_path)
    cfg = SweepConfig(ratios=tuple(float(r) for r in args.ratios.split(",")), recovery_epochs=args.recovery_epochs)

    runs = []

    def timed(name, spec, startup=0.0):
        t0 = time.perf_counter()
        cache = work / f"cache-{name}"
        res = run_sweep(model_path, "digits", cfg, cache_dir=cache, progress=False, executor=spec)
        wall = time.perf_counter() - t0
        rows = read_cache(next(cache.glob("*.jsonl"))).values()
        runs.append({"executor": name, "describe": spec.describe(), "units": res["computed"],
                     "wall_s": round(wall, 2), "startup_s": round(startup, 2),
                     "unit_s_mean": round(sum(r["seconds"] for r in rows) / max(1, len(rows)), 3),
                     "sens": json.dumps(res, sort_keys=True)})
        print(f"{name:<12} {res['computed']} units  {wall:6.1f} s  (+{startup:.1f} s start-up)", flush=True)

    timed("in-process", ExecutorSpec("local", jobs=1))
    timed("local-2", ExecutorSpec("local", jobs=args.cpus))
    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    startup = time.perf_counter() - t0
    timed("ray-embedded", ExecutorSpec("ray", cpus=args.cpus), startup)
    ray.shutdown()

    same = len({r.pop("sens") for r in runs}) == 1
    payload = len(pickle.dumps(model_blob(model_path))) + len(pickle.dumps(__import__("tinyml_prune.data",
                                                                                       fromlist=["x"]).load_digits()))
    result = {"model": model_path, "settings": {"ratios": list(cfg.ratios), "recovery_epochs": cfg.recovery_epochs,
                                                "cpus": args.cpus},
              "payload_bytes": payload, "identical_sens_json": same, "runs": runs}
    (out / "sweep.json").write_text(json.dumps(result, indent=2) + "\n")
    base = runs[0]["wall_s"]
    lines = ["| executor | units | wall (s) | start-up (s) | vs in-process | mean unit (s, in worker) |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in runs:
        lines.append(f"| {r['describe']} | {r['units']} | {r['wall_s']:.1f} | {r['startup_s']:.1f} | "
                     f"{(r['wall_s'] + r['startup_s']) / base:.2f}x | {r['unit_s_mean']:.2f} |")
    lines.append(f"\npayload (model file + data, pickled): {payload / 1024:.0f} KiB; identical sens.json: {same}")
    (out / "sweep.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
