"""The per-layer pruning report: sparsity, parameters and MACs before/after, and why a layer
was left dense."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .layers import kernel_variable, layer_cost, prunable_layers


@dataclass(frozen=True)
class LayerRow:
    name: str
    type: str
    shape: tuple[int, ...]
    pruning: str           # "unstructured", "2:4", "channel", "dense"
    note: str              # why dense / what was impossible ("" when pruned as asked)
    sparsity: float        # fraction of zero kernel weights after pruning
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int


@dataclass
class PruneReport:
    rows: list[LayerRow]
    criterion: str = ""
    estimator: str = ""
    config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    @property
    def totals(self) -> dict:
        pb = sum(r.params_before for r in self.rows)
        pa = sum(r.params_after for r in self.rows)
        return {
            "params_before": pb, "params_after": pa,
            "macs_before": sum(r.macs_before for r in self.rows),
            "macs_after": sum(r.macs_after for r in self.rows),
        }

    def to_dict(self) -> dict:
        return {"criterion": self.criterion, "estimator": self.estimator, "config": self.config,
                "metrics": self.metrics, "layers": [asdict(r) for r in self.rows], "totals": self.totals}

    def table(self) -> str:
        head = ("layer", "type", "pruning", "sparsity", "params", "params'", "MACs", "MACs'", "note")
        rows = [(r.name, r.type, r.pruning, f"{100 * r.sparsity:.1f}%", str(r.params_before),
                 str(r.params_after), str(r.macs_before), str(r.macs_after), r.note) for r in self.rows]
        t = self.totals
        rows.append(("total", "", "", "", str(t["params_before"]), str(t["params_after"]),
                     str(t["macs_before"]), str(t["macs_after"]), ""))
        widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
        fmt = "  ".join(f"{{:<{w}}}" if i in (0, 1, 2, 8) else f"{{:>{w}}}" for i, w in enumerate(widths))
        lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
        lines += [fmt.format(*r).rstrip() for r in rows]
        return "\n".join(lines)


def build_rows(dense_model, pruned_model, pruning: dict[str, tuple[str, str]]) -> list[LayerRow]:
    """Rows for every layer with a kernel; ``pruning`` maps name -> (how, note).

    Layers of the dense model missing from the pruned one, or with other shapes (channel
    pruning slims them), are matched by name.
    """
    after = {l.name: l for l in pruned_model.layers}
    rows = []
    for layer in prunable_layers(dense_model):
        before = layer_cost(layer)
        pl = after.get(layer.name)
        if pl is not None and kernel_variable(pl) is not None:
            k = kernel_variable(pl).numpy()
            cost = layer_cost(pl, k)
            sparsity = 1.0 - np.count_nonzero(k) / k.size
        else:  # removed entirely
            cost, sparsity = layer_cost(layer, np.zeros(1)), 1.0
        how, note = pruning.get(layer.name, ("dense", "not selected"))
        rows.append(LayerRow(layer.name, type(layer).__name__, tuple(kernel_variable(layer).shape),
                             how, note, float(sparsity), before.params, cost.params, before.macs, cost.macs))
    return rows
