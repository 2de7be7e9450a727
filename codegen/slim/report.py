"""Exact byte and MAC accounting of the slim pass: dense emitters on both graphs, compared.

The numbers are what the dense C would hold for the original model and for the slimmed
one, read from the emitters' own arrays, so they cannot drift from the generated files.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace

from ..ir import Graph

# emitter array suffix -> accounting category
CATEGORIES = {"filter": "weights", "input2": "weights", "bias": "bias", "multiplier": "requant", "shift": "requant"}
KINDS = ("weights", "bias", "requant")


def _costs(e) -> dict:
    out = dict.fromkeys(KINDS, 0)
    for a in e.arrays:
        kind = CATEGORIES.get(a.name[len(e.name) + 1:])
        if kind:
            out[kind] += a.nbytes
    out["macs"] = e.macs()
    return out


def account(original: Graph, slimmed: Graph, options, keep: dict, width: dict, folds: dict) -> tuple[list, dict]:
    """Per changed layer and in total: channels removed, bytes and MACs before/after."""
    from ..ops import make_emitter

    dense = replace(options, format="dense")
    layers = []
    totals = {f"{k}_before": 0 for k in (*KINDS, "macs")} | {f"{k}_after": 0 for k in (*KINDS, "macs")}
    for op_a, op_b in zip(original.operators, slimmed.operators):
        before = _costs(make_emitter(op_a, original, dense))
        after = _costs(make_emitter(op_b, slimmed, dense))
        for k in before:
            totals[f"{k}_before"] += before[k]
            totals[f"{k}_after"] += after[k]
        t_in = next((i for i in op_a.inputs if i in width), None)
        t_out = op_a.outputs[0]
        removed_out = _removed(keep, width, t_out)
        removed_in = _removed(keep, width, t_in) if t_in is not None else []
        if removed_out or removed_in or op_a.index in folds:
            layers.append(dict(operator=op_a.index, op=op_a.opcode, tensor=original.tensors[t_out].name,
                               channels=width.get(t_out, 0), removed_out_channels=removed_out,
                               removed_in_channels=removed_in, bias_folded=op_a.index in folds,
                               before=before, after=after))
    totals |= {f"{k}_saved": totals[f"{k}_before"] - totals[f"{k}_after"] for k in (*KINDS, "macs")}
    totals["bytes_saved"] = sum(totals[f"{k}_saved"] for k in KINDS)
    return layers, totals


def _removed(keep: dict, width: dict, t) -> list[int]:
    if t not in keep:
        return []
    kept = set(int(j) for j in keep[t])
    return [j for j in range(width[t]) if j not in kept]


def summary_lines(slim: dict) -> list[str]:
    """The codegen summary's slim section (from the manifest's ``slim`` entry), in counts: the
    per-channel lists stay in manifest.json."""
    t = slim["totals"]
    layers = slim["layers"]
    removed_out = sum(len(l["removed_out_channels"]) for l in layers if l["op"] in
                      ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"))
    removed_in = sum(len(l["removed_in_channels"]) for l in layers)
    folded = sum(1 for l in layers if l["bias_folded"])
    lines = [f"slim: {removed_out} weight-layer output channels removed ({removed_in} input channels of the "
             f"layers after them) across {len(layers)} layers"
             + (f", constants folded into the bias of {folded}" if folded else "")
             + f"; saved {t['weights_saved']:,} B weights, {t['bias_saved']:,} B bias, {t['requant_saved']:,} B "
             f"requantization ({t['bytes_saved']:,} B of {sum(t[f'{k}_before'] for k in KINDS):,}), "
             f"{t['macs_saved']:,} MACs of {t['macs_before']:,}"]
    kept = slim["kept"]
    if kept:
        ops = len({k["operator"] for k in kept})
        lines.append(f"slim: {len(kept)} zero-weight channels in {ops} layers stay:")
        for why, n in Counter(_reason_kind(k["reason"]) for k in kept).most_common():
            lines.append(f"  {n:>5} x {why}")
    if layers or kept:
        lines.append("slim: per-channel lists in manifest.json (slim.layers, slim.kept)")
    return lines


_TIED = re.compile(r"^it is tied \(by ([^)]*)\) to .*?, which (.*)$")


def _reason_kind(reason: str) -> str:
    """A kept channel's reason without the channel it names, so that equal causes count together."""
    m = _TIED.match(reason)
    text = f"tied (by {m.group(1)}) to a channel which {m.group(2)}" if m else reason.removeprefix("it ")
    return re.sub(r"\b\d+\b", "N", text)
