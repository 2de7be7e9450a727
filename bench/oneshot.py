"""One-shot pruning without fine-tuning: agreement with the dense model vs sparsity, per criterion.

    .venv/bin/python bench/oneshot.py [--out out/bench/oneshot] [--sparsities 0.3,0.5,0.7,0.9,0.95]
                                      [--criteria l1,l2,taylor,hessian,chita] [--models cnn,resnet,str_ww]

Models: the digits CNN and the ResNet-style digits model (trained here, 40 epochs, seed 0) and
the MLPerf Tiny fixture ``str_ww_ref_model.h5`` (no data ships with it: scoring and evaluation
use smooth random "probe" inputs, labels = the dense model's own predictions). Metric:
agreement of the pruned model's arg-max with the dense model's on held-out inputs (digits test
set / other probe inputs); for digits also test accuracy. Unstructured, every Conv2D/Dense at
the target sparsity (``--scope global``: one threshold over all of them; depthwise kernels
left dense, as tfmot does). Writes oneshot.json,
oneshot.md and oneshot.png into --out.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures" / "mlperf_tiny"
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from tinyml_prune import data, models  # noqa: E402
from tinyml_prune.modelio import load_model  # noqa: E402
from tinyml_prune.pruning import prune  # noqa: E402
from tinyml_prune.pruning.config import config_from_dict  # noqa: E402
from tinyml_prune.pruning.probe_data import probe_dataset  # noqa: E402


def load_models(names):
    out = {}
    ds = data.load_digits()
    for arch in ("cnn", "resnet"):
        if arch in names:
            m = models.train(arch, ds, models.TrainConfig(epochs=40))
            out[f"digits_{arch}"] = (m, ds, ds.x_test, ds.y_test)
    if "str_ww" in names:
        p = FIXTURES / "str_ww_ref_model.h5"
        if p.exists():
            m = load_model(p)
            x_train, x_test = probe_dataset(m, 512, 512)
            out["str_ww"] = (m, (x_train, None), x_test, None)
        else:
            print(f"skipping str_ww: {p} is absent")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "out" / "bench" / "oneshot"))
    ap.add_argument("--sparsities", default="0.3,0.5,0.7,0.9,0.95")
    ap.add_argument("--criteria", default="l1,l2,taylor,hessian,chita")
    ap.add_argument("--models", default="cnn,resnet,str_ww")
    ap.add_argument("--scope", choices=["layer", "global"], default="layer",
                    help="every layer at the target, or one threshold over all layers")
    args = ap.parse_args()
    sparsities = [float(s) for s in args.sparsities.split(",")]
    criteria = args.criteria.split(",")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for mname, (model, d, x_test, y_test) in load_models(args.models.split(",")).items():
        dense = model.predict(x_test, batch_size=256, verbose=0).argmax(-1)
        for c in criteria:
            for s in sparsities:
                t0 = time.time()
                pruned, _ = prune(model, config_from_dict({"sparsity": s, "criterion": c, "scope": args.scope}), d)
                pred = pruned.predict(x_test, batch_size=256, verbose=0).argmax(-1)
                row = {"model": mname, "criterion": c, "sparsity": s,
                       "agreement": float((pred == dense).mean()),
                       "accuracy": None if y_test is None else float((pred == y_test).mean()),
                       "seconds": round(time.time() - t0, 2)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    (out / "oneshot.json").write_text(json.dumps(rows, indent=1) + "\n")
    md = ["| model | criterion | " + " | ".join(f"{int(100 * s)}%" for s in sparsities) + " |",
          "|---|---|" + "---|" * len(sparsities)]
    for mname in dict.fromkeys(r["model"] for r in rows):
        for c in criteria:
            vals = {r["sparsity"]: r["agreement"] for r in rows if r["model"] == mname and r["criterion"] == c}
            md.append(f"| {mname} | {c} | " + " | ".join(f"{vals[s]:.3f}" for s in sparsities) + " |")
    (out / "oneshot.md").write_text("Agreement with the dense model's predictions, one-shot, no fine-tuning.\n\n"
                                    + "\n".join(md) + "\n")
    print("\n".join(md))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["model"] for r in rows))
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
    for ax, mname in zip(axes[0], names):
        for c in criteria:
            pts = [(r["sparsity"], r["agreement"]) for r in rows if r["model"] == mname and r["criterion"] == c]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=c)
        ax.set_title(mname)
        ax.set_xlabel("sparsity (Conv2D/Dense)")
        ax.set_ylabel("agreement with dense")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "oneshot.png", dpi=110)
    print(f"wrote {out}/oneshot.json, oneshot.md, oneshot.png")


if __name__ == "__main__":
    main()
