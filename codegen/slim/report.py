"""Exact byte and MAC accounting of the slim pass: dense emitters on both graphs, compared.

The numbers are what the dense C would hold for the original model and for the slimmed
one, read from the emitters' own arrays, so they cannot drift from the generated files.
"""
from __future__ import annotations

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
    """The codegen summary's slim section (from the manifest's ``slim`` entry)."""
    t = slim["totals"]
    removed = sum(len(l["removed_out_channels"]) for l in slim["layers"] if l["op"] in
                  ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"))
    lines = [f"slim: {removed} weight-layer output channels removed across {len(slim['layers'])} layers; saved "
             f"{t['weights_saved']:,} B weights, {t['bias_saved']:,} B bias, {t['requant_saved']:,} B "
             f"requantization ({t['bytes_saved']:,} B of {sum(t[f'{k}_before'] for k in KINDS):,}), "
             f"{t['macs_saved']:,} MACs of {t['macs_before']:,}"]
    for l in slim["layers"]:
        parts = []
        if l["removed_out_channels"]:
            parts.append(f"out {_ranges(l['removed_out_channels'])}")
        if l["removed_in_channels"]:
            parts.append(f"in {_ranges(l['removed_in_channels'])}")
        if l["bias_folded"]:
            parts.append("constants folded into bias")
        lines.append(f"  operator {l['operator']:>3} {l['op']:<18} {'; '.join(parts)}")
    for k in slim["kept"]:
        lines.append(f"  kept: operator {k['operator']} ({k['op']}) channel {k['channel']} has zero weights "
                     f"but stays: {k['reason']}")
    return lines


def _ranges(xs: list[int]) -> str:
    out, start = [], None
    for i, x in enumerate(xs):
        if start is None:
            start = x
        if i + 1 == len(xs) or xs[i + 1] != x + 1:
            out.append(str(start) if start == x else f"{start}-{x}")
            start = None
    return ",".join(out)
