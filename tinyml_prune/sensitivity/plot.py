"""Sensitivity curves (one per layer) and per-layer sparsity bar charts, as PNG."""
from __future__ import annotations

from pathlib import Path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_sensitivity(result: dict, path: str | Path) -> Path:
    """Accuracy (or loss for regression) vs pruning ratio, one curve per layer."""
    from ..artifacts import atomic_path

    plt = _plt()
    metric = "accuracy" if result["metric"] == "accuracy" else "loss"
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for name, layer in result["layers"].items():
        pts = layer["points"]
        ax.plot([p["ratio"] for p in pts], [p[metric] for p in pts], marker="o", ms=3, label=name)
    ax.axhline(result["baseline"][metric], color="k", ls="--", lw=1, label="dense")
    ax.set_xlabel("pruning ratio of the layer")
    ax.set_ylabel(f"held-out {metric}")
    s = result["settings"]
    ax.set_title(f"sensitivity: {s['granularity']} / {s['criterion']}, no fine-tuning")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def plot_sparsity_bars(rows: list[dict], path: str | Path, title: str = "per-layer sparsity") -> Path:
    """Bars of float and int8 sparsity per layer (rows from the quantize report)."""
    import numpy as np

    from ..artifacts import atomic_path

    plt = _plt()
    names = [r["layer"] for r in rows]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(names) + 2), 4), dpi=110)
    ax.bar(x - 0.2, [r["sparsity_float"] for r in rows], 0.4, label="pruned float")
    ax.bar(x + 0.2, [r["sparsity_int8"] for r in rows], 0.4, label="int8 .tflite")
    ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction of zero weights")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def plot_pareto(result: dict, path: str | Path) -> Path:
    """Accuracy vs predicted latency of every evaluated candidate, coloured by flash; the Pareto
    front joined, the budget dashed, the chosen point ringed."""
    from ..artifacts import atomic_path

    plt = _plt()
    pts = result["points"]
    b = result["baseline"]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    sc = ax.scatter([p["latency"] for p in pts], [p["accuracy"] for p in pts], c=[p["flash"] for p in pts],
                    cmap="viridis", s=22, zorder=2)
    front = [pts[i] for i in result["pareto"]]
    ax.plot([p["latency"] for p in front], [p["accuracy"] for p in front], color="C3", lw=1.2, marker="o",
            ms=6, mfc="none", label="Pareto front", zorder=3)
    c = result["chosen"]
    ax.scatter([c["latency"]], [c["accuracy"]], s=160, facecolors="none", edgecolors="k", lw=1.5,
               label="chosen", zorder=4)
    ax.axhline(b["accuracy"] - result["settings"]["accuracy_drop"], color="k", ls="--", lw=1,
               label="accuracy budget")
    fig.colorbar(sc, ax=ax, label="weight bytes (flash)")
    ax.set_xlabel(f"predicted instructions, conv/FC kernels ({result['settings']['board']} cost model)")
    ax.set_ylabel("held-out accuracy")
    ax.set_title("latency-aware search: every evaluated candidate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
