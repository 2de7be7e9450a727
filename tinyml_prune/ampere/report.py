"""The ``ampere_2to4`` report section: per layer 2:4 status, storage, MACs, modeled A100 time,
bit-exactness, and (when given) the board-measured speed-up of our Cortex-M 2:4 kernels.

Board data, when available (issue #6), is a mapping ``{op index: {"dense": n, "sparse": n}}`` of
per-layer instruction (or cycle) counts, optionally with a ``"model"`` entry for the totals.
"""
from __future__ import annotations

import hashlib

import numpy as np

from . import cost
from .check import check_model
from .graph import load_bytes

NOT_BOARD = "board-measured per-layer counts were not given: Ampere modeled only"


def _io_bytes(graph, op) -> int:
    n = 0
    for ti in (op.inputs[0], op.outputs[0]):
        t = graph.tensors[ti]
        n += int(np.prod(t.shape)) * np.dtype(t.dtype).itemsize
    return n


def _board(board: dict | None, key) -> dict | None:
    if not board:
        return None
    entry = board.get(key, board.get(str(key)))
    if not entry or not entry.get("dense") or not entry.get("sparse"):
        return None
    return {"dense": entry["dense"], "sparse": entry["sparse"], "speedup": entry["dense"] / entry["sparse"]}


def ampere_section(tflite, inputs: np.ndarray | None = None, samples: int = 4, part: str = "a100-sxm4-40gb",
                   board: dict | None = None, rounding: str = "tflite") -> dict:
    """Everything ``report.json``'s ``ampere_2to4`` key holds, for a .tflite path or bytes."""
    data = load_bytes(tflite)
    spec = cost.part(part)
    graph, checks, skipped = check_model(data, inputs=inputs, samples=samples, rounding=rounding)
    layers, gemm_ops = [], set()
    dense_total = sparse_total = 0.0
    for ch in checks:
        L = ch.layer
        gemm_ops.add(L.op.index)
        io = _io_bytes(graph, L.op)
        dense_w = L.m * L.k
        d = cost.gemm_time(spec, L.m, L.k, L.n, dense_w, io, sparse=False)
        row = {
            "index": L.op.index, "op": L.op.name, "name": L.name,
            "status": "2:4" if ch.is_2to4 else "not 2:4",
            "gemm": {"m": L.m, "k": L.k, "n": L.n},
            "macs_dense": L.macs,
            "bytes_dense_weights": dense_w,
            "modeled_dense_s": d["seconds"], "bound_dense": d["bound"],
            "bit_exact": {"samples": ch.samples, "dense_vs_tflite_mismatches": ch.dense_mismatches,
                          "ok": ch.bit_exact, "first_mismatch": ch.first_mismatch or None},
            "board": _board(board, L.op.index),
        }
        if L.conv and L.conv["cin"] % 4:
            row["note"] = f"Cin = {L.conv['cin']}: 2:4 groups of the GEMM K span filter taps"
        if ch.is_2to4:
            nb = ch.compressed.nbytes()
            s = cost.gemm_time(spec, L.m, L.k, L.n, nb["total"], io, sparse=True)
            row.update({
                "macs_executed_sparse": L.m * (-(-L.k // 4) * 2) * L.n,     # kept slots, stored zeros included
                "bytes_values": nb["values"], "bytes_metadata": nb["metadata"], "bytes_sparse_total": nb["total"],
                "modeled_sparse_s": s["seconds"], "bound_sparse": s["bound"],
                "modeled_speedup": d["seconds"] / s["seconds"],
            })
            row["bit_exact"].update({"sparse_vs_tflite_mismatches": ch.sparse_mismatches,
                                     "sparse_vs_dense_mismatches": ch.sparse_vs_dense})
            sparse_total += s["seconds"]
        else:
            row["reason"] = ch.not_2to4
            sparse_total += d["seconds"]
        dense_total += d["seconds"]
        layers.append(row)
    for sk in skipped:
        gemm_ops.add(sk["index"])
        layers.append(dict(sk, status="unsupported"))
    other = []
    for op in graph.ops:
        if op.index in gemm_ops:
            continue
        nbytes = _io_bytes(graph, op)
        t = cost.memory_time(spec, nbytes)
        other.append({"index": op.index, "op": op.name, "bytes": nbytes, "modeled_s": t})
        dense_total += t
        sparse_total += t
    layers.sort(key=lambda r: r["index"])
    sparse_rows = [r for r in layers if r["status"] == "2:4"]
    model = {
        "modeled_dense_s": dense_total, "modeled_sparse_s": sparse_total,
        "modeled_speedup": dense_total / sparse_total if sparse_total else None,
        "gemm_layers": len(checks), "layers_2to4": len(sparse_rows),
        "weight_bytes_dense": sum(r.get("bytes_dense_weights", 0) for r in layers),
        "weight_bytes_2to4": sum(r.get("bytes_sparse_total", r.get("bytes_dense_weights", 0)) for r in layers),
        "bit_exact": all(r["bit_exact"]["ok"] for r in layers if "bit_exact" in r),
        "board": _board(board, "model"),
    }
    return {
        "part": spec.as_dict(),
        "assumptions": list(cost.ASSUMPTIONS),
        "model_sha256": hashlib.sha256(data).hexdigest(),
        "rounding": rounding,
        "samples": int(layers[0]["bit_exact"]["samples"]) if checks else 0,
        "metadata_layout": "mma.sp m16n8k32 int8: per row, 4 bits per group of four (two 2-bit positions, "
                           "lower first), 8 groups per 32-bit word; see docs/ampere.md",
        "layers": layers,
        "other_ops": other,
        "model": model,
        "board_measured": (board.get("source") or "given") if board else NOT_BOARD,
    }


def _us(s) -> str:
    return "—" if s is None else f"{s * 1e6:.3f}"


def _x(v) -> str:
    return "—" if v is None else f"{v:.2f}×"


def ampere_markdown(section: dict) -> str:
    """The side-by-side table for ``report.md``."""
    p, m = section["part"], section["model"]
    lines = [
        f"### Emulated Ampere 2:4 path ({p['name']}, modeled)",
        "",
        f"{m['layers_2to4']} of {m['gemm_layers']} GEMM layers are 2:4; weights {m['weight_bytes_dense']} B dense "
        f"→ {m['weight_bytes_2to4']} B with 2:4 (values + metadata). Modeled latency "
        f"{_us(m['modeled_dense_s'])} µs dense → {_us(m['modeled_sparse_s'])} µs 2:4 "
        f"(speed-up {_x(m['modeled_speedup'])}). Bit-exact vs TFLite BUILTIN_REF on "
        f"{section['samples']} input(s): {'yes' if m['bit_exact'] else 'NO'}.",
        "",
        "| # | op | layer | 2:4 | GEMM M×K×N | MACs dense | MACs 2:4 | weight B dense | values+meta B | "
        "Ampere dense µs | Ampere 2:4 µs | Ampere speed-up | board speed-up | bit-exact |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in section["layers"]:
        name = r["name"] if len(r["name"]) <= 32 else r["name"][:29] + "..."
        if r["status"] == "unsupported":
            lines.append(f"| {r['index']} | {r['op']} | {name} | unsupported: {r['reason']} |"
                         + " — |" * 10)
            continue
        g = r["gemm"]
        sp = r["status"] == "2:4"
        board = r.get("board")
        lines.append(
            f"| {r['index']} | {r['op']} | {name} | {'yes' if sp else 'no'} | {g['m']}×{g['k']}×{g['n']} | "
            f"{r['macs_dense']} | {r.get('macs_executed_sparse', '—')} | {r['bytes_dense_weights']} | "
            f"{str(r['bytes_values']) + '+' + str(r['bytes_metadata']) if sp else '—'} | "
            f"{_us(r['modeled_dense_s'])} | {_us(r.get('modeled_sparse_s'))} | {_x(r.get('modeled_speedup'))} | "
            f"{_x(board['speedup']) if board else '—'} | {'yes' if r['bit_exact']['ok'] else 'NO'} |")
    lines += ["", f"Board-measured column: {section['board_measured']}.", "", "Model assumptions:", ""]
    lines += [f"- {a}" for a in section["assumptions"]]
    lines += ["", "Sources: " + "; ".join(p["sources"]), ""]
    return "\n".join(lines)


def speedup_chart(section: dict, path) -> None:
    """PNG bar chart of per-layer speed-ups: Ampere modeled, and board measured when given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..artifacts import atomic_path

    rows = [r for r in section["layers"] if r["status"] != "unsupported"]
    labels = [f"#{r['index']} {r['op'].replace('FULLY_CONNECTED', 'FC')}" + ("" if r["status"] == "2:4" else "\n(not 2:4)")
              for r in rows]
    amp = [r.get("modeled_speedup", 1.0) for r in rows]
    board = [r["board"]["speedup"] if r.get("board") else np.nan for r in rows]
    has_board = not all(np.isnan(board))
    x = np.arange(len(rows))
    width = 0.4 if has_board else 0.6
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(rows) + 2), 4))
    ax.bar(x - (width / 2 if has_board else 0), amp, width, label=f"Ampere modeled ({section['part']['name']})")
    if has_board:
        ax.bar(x + width / 2, board, width, label="board measured (Cortex-M 2:4 kernels)")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("speed-up vs dense (×)")
    title = "2:4 speed-up per layer"
    if not has_board:
        title += " — Ampere modeled only (no board data given)"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def section_or_error(tflite, **kwargs) -> dict:
    """`ampere_section` for the profile report: a failure here is recorded, not raised."""
    from ..errors import TinymlError

    try:
        return ampere_section(tflite, **kwargs)
    except TinymlError as e:
        return {"error": str(e)}
