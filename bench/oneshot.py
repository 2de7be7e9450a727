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

``--models resnet8``: a CIFAR-style ResNet-8 (16/32/64 filters, three residual stages, BN and
separate Activation layers, 8 classes) trained here on 32×32 patches of scikit-learn's two
bundled sample images (label = which image × which of four rotations). Training patches come
from the top 70 % of each image; the 256 calibration and 256 evaluation patches from the
bottom 30 % (never seen in training). ``--extras`` adds, per criterion, 2:4 one-shot and 50 %
channels, and for ``obs`` the same with 2 epochs of distillation fine-tuning.
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


def image_patches(n_train=6000, n_eval=512, seed=0):
    """(x_train, y_train, x_cal, x_eval) from sklearn's sample images (see the module docstring)."""
    from sklearn.datasets import load_sample_images

    imgs = [np.asarray(i, np.float32) / 255.0 for i in load_sample_images().images]
    rng = np.random.default_rng(seed)

    def sample(n, lo, hi):
        xs, ys = [], []
        for _ in range(n):
            k = rng.integers(len(imgs))
            img = imgs[k]
            r0 = rng.integers(int(lo * img.shape[0]), int(hi * img.shape[0]) - 32)
            c0 = rng.integers(0, img.shape[1] - 32)
            rot = rng.integers(4)
            xs.append(np.rot90(img[r0:r0 + 32, c0:c0 + 32], rot))
            ys.append(k * 4 + rot)
        return np.stack(xs).astype(np.float32), np.array(ys, np.int64)

    x_train, y_train = sample(n_train, 0.0, 0.7)
    x_held, y_held = sample(n_eval, 0.7, 1.0)
    return x_train, y_train, x_held[: n_eval // 2], x_held[n_eval // 2:], y_held[n_eval // 2:]


def resnet8(num_classes=8):
    from tinyml_prune.kerasenv import keras

    L = keras.layers
    inp = keras.Input((32, 32, 3))
    h = L.Conv2D(16, 3, padding="same", use_bias=False, name="stem")(inp)
    h = L.Activation("relu")(L.BatchNormalization(momentum=0.9)(h))
    for stage, (f, s) in enumerate(((16, 1), (32, 2), (64, 2))):
        y = L.Conv2D(f, 3, strides=s, padding="same", use_bias=False, name=f"s{stage}_a")(h)
        y = L.Activation("relu")(L.BatchNormalization(momentum=0.9)(y))
        y = L.Conv2D(f, 3, padding="same", use_bias=False, name=f"s{stage}_b")(y)
        y = L.BatchNormalization(momentum=0.9)(y)
        if s != 1 or h.shape[-1] != f:
            h = L.BatchNormalization(momentum=0.9)(L.Conv2D(f, 1, strides=s, use_bias=False, name=f"s{stage}_sc")(h))
        h = L.Activation("relu")(L.Add()([h, y]))
    h = L.GlobalAveragePooling2D()(h)
    out = L.Dense(num_classes, activation="softmax", name="fc")(h)
    return keras.Model(inp, out, name="resnet8")


def trained_resnet8(cache: Path):
    from tinyml_prune.kerasenv import keras

    x_train, y_train, x_cal, x_eval, y_eval = image_patches()
    path = cache / "resnet8.keras"
    if path.exists():
        model = keras.models.load_model(path)
    else:
        keras.utils.set_random_seed(0)
        model = resnet8()
        model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x_train, y_train, batch_size=64, epochs=10, verbose=2, validation_data=(x_eval, y_eval))
        model.save(path)
    # calibration = the 256 held-back patches; fine-tuning (where asked) = the training patches
    return model, (x_train, y_train), x_cal, x_eval, y_eval


def load_models(names, cache: Path | None = None):
    out = {}
    if "resnet8" in names:
        model, train, x_cal, x_eval, y_eval = trained_resnet8(cache)
        out["resnet8"] = (model, (x_cal, None), x_eval, y_eval, train)
    ds = data.load_digits()
    for arch in ("cnn", "resnet"):
        if arch in names:
            m = models.train(arch, ds, models.TrainConfig(epochs=40))
            out[f"digits_{arch}"] = (m, ds, ds.x_test, ds.y_test, ds)
    if "str_ww" in names:
        p = FIXTURES / "str_ww_ref_model.h5"
        if p.exists():
            m = load_model(p)
            x_train, x_test = probe_dataset(m, 512, 512)
            out["str_ww"] = (m, (x_train, None), x_test, None, (x_train, None))
        else:
            print(f"skipping str_ww: {p} is absent")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "out" / "bench" / "oneshot"))
    ap.add_argument("--sparsities", default="0.3,0.5,0.7,0.9,0.95")
    ap.add_argument("--criteria", default="l1,l2,taylor,hessian,chita")
    ap.add_argument("--models", default="cnn,resnet,str_ww")
    ap.add_argument("--scope", choices=["layer", "global", "both"], default="layer",
                    help="every layer at the target, or one threshold over all layers")
    ap.add_argument("--extras", action="store_true", help="also 2:4, 50%% channels, obs + distillation")
    args = ap.parse_args()
    sparsities = [float(s) for s in args.sparsities.split(",")]
    criteria = args.criteria.split(",")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    scopes = ["layer", "global"] if args.scope == "both" else [args.scope]
    extra_rows = []
    for mname, (model, d, x_test, y_test, train) in load_models(args.models.split(","), out).items():
        dense = model.predict(x_test, batch_size=256, verbose=0).argmax(-1)

        def run(cfg, data, scope=None):
            t0 = time.time()
            try:
                pruned, _ = prune(model, config_from_dict(cfg), data)
            except Exception as e:  # noqa: BLE001 - a criterion that refuses a granularity
                return {"error": str(e).splitlines()[0], "seconds": round(time.time() - t0, 2)}
            pred = pruned.predict(x_test, batch_size=256, verbose=0).argmax(-1)
            return {"agreement": float((pred == dense).mean()),
                    "accuracy": None if y_test is None else float((pred == y_test).mean()),
                    "seconds": round(time.time() - t0, 2)}

        for scope in scopes:
            for c in criteria:
                for s in sparsities:
                    row = {"model": mname, "criterion": c, "sparsity": s, "scope": scope,
                           **run({"sparsity": s, "criterion": c, "scope": scope}, d)}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        if not args.extras:
            continue
        for c in criteria:
            cases = [("2:4", {"granularity": "nm", "nm": "2:4"}, d),
                     ("channels 50%", {"granularity": "channel", "sparsity": 0.5}, d)]
            if c == "obs":
                ft = {"finetune": {"epochs": 2, "distill": "on"}, "criterion_options": {"n_samples": 256}}
                ft_data = train  # fine-tuning on the training patches (calibration: 256 of them)
                cases += [("50% + 2 ep distill", {"sparsity": 0.5, **ft}, ft_data),
                          ("2:4 + 2 ep distill", {"granularity": "nm", "nm": "2:4", **ft}, ft_data),
                          ("channels 50% + 2 ep distill", {"granularity": "channel", "sparsity": 0.5, **ft}, ft_data)]
            for label, cfg, data_ in cases:
                row = {"model": mname, "criterion": c, "case": label, **run({"criterion": c, **cfg}, data_)}
                extra_rows.append(row)
                print(json.dumps(row), flush=True)
    (out / "oneshot.json").write_text(json.dumps(rows + extra_rows, indent=1) + "\n")
    md = ["| model | criterion | scope | " + " | ".join(f"{int(100 * s)}%" for s in sparsities) + " | seconds |",
          "|---|---|---|" + "---|" * len(sparsities) + "---|"]

    def fmt(r):
        return "refused" if r is None or "agreement" not in r else f"{r['agreement']:.3f}"
    for mname in dict.fromkeys(r["model"] for r in rows):
        for scope in scopes:
            for c in criteria:
                sel = [r for r in rows if r["model"] == mname and r["criterion"] == c and r["scope"] == scope]
                vals = {r["sparsity"]: r for r in sel}
                secs = max(r["seconds"] for r in sel)
                md.append(f"| {mname} | {c} | {scope} | " + " | ".join(fmt(vals.get(s)) for s in sparsities)
                          + f" | {secs} |")
    if extra_rows:
        md += ["", "| model | criterion | case | agreement | seconds |", "|---|---|---|---|---|"]
        md += [f"| {r['model']} | {r['criterion']} | {r['case']} | {fmt(r)} | {r['seconds']} |" for r in extra_rows]
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
            pts = [(r["sparsity"], r["agreement"]) for r in rows if r["model"] == mname and r["criterion"] == c
                   and r["scope"] == scopes[0] and "agreement" in r]
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
