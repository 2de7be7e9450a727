"""The ``ampere_2to4`` report section: per layer 2:4 status, storage, MACs, modeled GPU latency
(launch floor included, at a chosen part and batch), bit-exactness, and — when given — the
board-measured speed-up of our Cortex-M 2:4 kernels and the latencies measured on a real GPU.

Board data is a mapping ``{op index: {"dense": n, "sparse": n}}`` of per-layer instruction (or
cycle) counts, optionally with a ``"model"`` entry for the totals.
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


def ampere_section(tflite, inputs: np.ndarray | None = None, samples: int = 4, part: str = cost.DEFAULT_PART,
                   board: dict | None = None, rounding: str = "tflite", batch: int = 1, gpu: bool = False,
                   gpu_reps: int = 200) -> dict:
    """Everything ``report.json``'s ``ampere_2to4`` key holds, for a .tflite path or bytes.

    ``batch`` scales N (output pixels x batch) in the cost model and on the GPU; ``gpu=True`` also
    runs every GEMM layer on a CUDA GPU (``gpu.py``; raises ``GpuUnavailable`` without one).
    """
    from ..errors import TinymlError

    if batch < 1:
        raise TinymlError(f"batch must be at least 1, got {batch}")
    data = load_bytes(tflite)
    spec = cost.part(part)
    graph, checks, skipped = check_model(data, inputs=inputs, samples=samples, rounding=rounding)
    measured = None
    if gpu:
        from .gpu import measure_layers

        measured = measure_layers(checks, batch=batch, reps=gpu_reps)
    layers, gemm_ops = [], set()
    dense_total = sparse_total = 0.0
    for ch in checks:
        gemm_ops.add(ch.layer.op.index)
        row, dense_s, sparse_s = _gemm_row(graph, ch, spec, board, batch, measured)
        sparse_total += sparse_s
        dense_total += dense_s
        layers.append(row)
    for sk in skipped:
        gemm_ops.add(sk["index"])
        layers.append(dict(sk, status="unsupported"))
    other = []
    for op in graph.ops:
        if op.index in gemm_ops:
            continue
        nbytes = _io_bytes(graph, op) * batch
        t = cost.memory_time(spec, nbytes)
        other.append({"index": op.index, "op": op.name, "bytes": nbytes, "modeled_s": t})
        dense_total += t
        sparse_total += t
    layers.sort(key=lambda r: r["index"])
    model = _model_totals(graph, checks, layers, spec, board, measured, dense_total, sparse_total)
    return {
        "part": spec.as_dict(),
        "batch": batch,
        "assumptions": list(cost.ASSUMPTIONS),
        "calibration": cost.calibration(),
        "gpu_measured": {k: v for k, v in measured.items() if k != "layers"} if measured else None,
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


def _gemm_row(graph, ch, spec, board: dict | None, batch: int, measured: dict | None) -> tuple[dict, float, float]:
    """One GEMM layer's row, its modeled dense seconds and its seconds on the 2:4 path."""
    L = ch.layer
    io1 = _io_bytes(graph, L.op)
    io, n = io1 * batch, L.n * batch
    dense_w = L.m * L.k
    d = cost.gemm_time(spec, L.m, L.k, n, dense_w, io, sparse=False)
    row = {
        "index": L.op.index, "op": L.op.name, "name": L.name,
        "status": "2:4" if ch.is_2to4 else "not 2:4",
        "gemm": {"m": L.m, "k": L.k, "n": n},
        "macs_dense": L.macs * batch,
        "bytes_dense_weights": dense_w,
        "modeled_dense_s": d["seconds"], "modeled_dense_work_s": d["work_s"], "bound_dense": d["bound"],
        "bit_exact": {"samples": ch.samples, "dense_vs_tflite_mismatches": ch.dense_mismatches,
                      "accumulators": ch.accumulators,
                      "dense_accumulator_mismatches": ch.dense_acc_mismatches,
                      "ok": ch.bit_exact, "first_mismatch": ch.first_mismatch or None},
        "board": _board(board, L.op.index),
        "gpu": measured["layers"].get(L.op.index) if measured else None,
    }
    if L.conv and L.conv["cin"] % 4:
        row["note"] = f"Cin = {L.conv['cin']}: 2:4 groups of the GEMM K span filter taps"
    if not ch.is_2to4:
        row["reason"] = ch.not_2to4
        return row, d["seconds"], d["seconds"]
    nb = ch.compressed.nbytes()
    s = cost.gemm_time(spec, L.m, L.k, n, nb["total"], io, sparse=True)
    row.update({
        "macs_executed_sparse": L.m * (-(-L.k // 4) * 2) * n,     # kept slots, stored zeros included
        "bytes_values": nb["values"], "bytes_metadata": nb["metadata"], "bytes_sparse_total": nb["total"],
        "modeled_sparse_s": s["seconds"], "modeled_sparse_work_s": s["work_s"], "bound_sparse": s["bound"],
        "modeled_speedup": d["seconds"] / s["seconds"],
        "pays_from_batch": cost.pays_from_batch(spec, L.m, L.k, L.n, io1),
    })
    row["bit_exact"].update({"sparse_vs_tflite_mismatches": ch.sparse_mismatches,
                             "sparse_vs_dense_mismatches": ch.sparse_vs_dense,
                             "sparse_accumulator_mismatches": ch.sparse_acc_mismatches})
    return row, d["seconds"], s["seconds"]


def _model_totals(graph, checks, layers, spec, board, measured, dense_total: float, sparse_total: float) -> dict:
    """The section's ``model`` entry: totals over every layer."""
    sparse_rows = [r for r in layers if r["status"] == "2:4"]
    model = {
        "modeled_dense_s": dense_total, "modeled_sparse_s": sparse_total,
        "modeled_speedup": dense_total / sparse_total if sparse_total else None,
        "gemm_layers": len(checks), "layers_2to4": len(sparse_rows),
        "weight_bytes_dense": sum(r.get("bytes_dense_weights", 0) for r in layers),
        "weight_bytes_2to4": sum(r.get("bytes_sparse_total", r.get("bytes_dense_weights", 0)) for r in layers),
        "bit_exact": all(r["bit_exact"]["ok"] for r in layers if "bit_exact" in r),
        "board": _board(board, "model"),
        "kernels": len(graph.ops),
        "launch_floor_s": len(graph.ops) * spec.launch_us * 1e-6,
    }
    if measured:
        rows = [r["gpu"] for r in layers if r.get("gpu")]
        model["gpu"] = {"gemm_dense_us": sum(r["dense_us"] for r in rows),
                        "gemm_sparse_us": sum(r.get("sparse_us", r["dense_us"]) for r in rows),
                        "all_equal": measured["all_equal"]}
    return model


def _us(s) -> str:
    return "—" if s is None else f"{s * 1e6:.3f}"


def _x(v) -> str:
    return "—" if v is None else f"{v:.2f}×"


def _gpu_cell(g: dict | None, key: str) -> str:
    return "—" if not g or g.get(key) is None else f"{g[key]:.2f}"


def ampere_markdown(section: dict) -> str:
    """The side-by-side table for ``report.md``."""
    p = section["part"]
    gm = section.get("gpu_measured")
    lines = _summary_lines(section)
    head = ("| # | op | layer | 2:4 | GEMM M×K×N | MACs dense | weight B dense | values+meta B | "
            "modeled dense µs | modeled 2:4 µs | modeled speed-up | 2:4 pays from batch |")
    if gm:
        head += " measured dense µs | measured 2:4 µs | measured speed-up | GPU = emulation |"
    head += " board speed-up | bit-exact |"
    lines += ["", head, "|" + "---|" * (head.count("|") - 1)]
    lines += [_layer_line(r, head.count("|"), gm) for r in section["layers"]]
    lines += ["", f"\"2:4 pays from batch\": the smallest power-of-two batch at which the modeled speed-up reaches "
                  f"{cost.PAYS:.2f}× on this part.", "",
              f"Board-measured column: {section['board_measured']}.", "", "Model assumptions:", ""]
    lines += [f"- {a}" for a in section["assumptions"]]
    lines += _calibration_lines(section.get("calibration"))
    lines += ["", "Sources: " + "; ".join(p["sources"]), ""]
    return "\n".join(lines)


def _summary_lines(section: dict) -> list[str]:
    """The heading and the paragraph of totals (and of GPU measurements when there are some)."""
    p, m = section["part"], section["model"]
    batch = section.get("batch", 1)
    gm = section.get("gpu_measured")
    lines = [
        f"### Emulated Ampere 2:4 path ({p['name']}, modeled at batch {batch})",
        "",
        f"{m['layers_2to4']} of {m['gemm_layers']} GEMM layers are 2:4; weights {m['weight_bytes_dense']} B dense "
        f"→ {m['weight_bytes_2to4']} B with 2:4 (values + metadata). Modeled latency "
        f"{_us(m['modeled_dense_s'])} µs dense → {_us(m['modeled_sparse_s'])} µs 2:4 "
        f"(speed-up {_x(m['modeled_speedup'])}), of which {_us(m.get('launch_floor_s'))} µs are "
        f"{m.get('kernels', '?')} kernel launches at {p['launch_us']:.2f} µs each ({p['launch_source']}). "
        f"Bit-exact vs TFLite BUILTIN_REF on {section['samples']} input(s), every int32 accumulator and "
        f"output byte: {'yes' if m['bit_exact'] else 'NO'}.",
    ]
    if gm:
        g = m.get("gpu", {})
        lines += ["", f"Measured on {gm['device']} at batch {gm['batch']} ({gm['design']}; {gm['reps']} launches "
                      f"each; an empty kernel {gm['launch_floor_us']:.2f} µs): GEMM layers "
                      f"{g.get('gemm_dense_us', 0):.2f} µs dense → {g.get('gemm_sparse_us', 0):.2f} µs 2:4; every "
                      f"accumulator equal to the emulation: {'yes' if gm['all_equal'] else 'NO'}."]
    return lines


def _layer_line(r: dict, columns: int, gm: dict | None) -> str:
    """One table row; ``columns`` is the number of ``|`` in the header."""
    name = r["name"] if len(r["name"]) <= 32 else r["name"][:29] + "..."
    if r["status"] == "unsupported":
        return f"| {r['index']} | {r['op']} | {name} | unsupported: {r['reason']} |" + " — |" * (columns - 5)
    g = r["gemm"]
    sp = r["status"] == "2:4"
    board = r.get("board")
    pays = r.get("pays_from_batch")
    pays_s = "—" if not sp else (str(pays) if pays else f"> {cost.MAX_BATCH}")
    row = (f"| {r['index']} | {r['op']} | {name} | {'yes' if sp else 'no'} | {g['m']}×{g['k']}×{g['n']} | "
           f"{r['macs_dense']} | {r['bytes_dense_weights']} | "
           f"{str(r['bytes_values']) + '+' + str(r['bytes_metadata']) if sp else '—'} | "
           f"{_us(r['modeled_dense_s'])} | {_us(r.get('modeled_sparse_s'))} | {_x(r.get('modeled_speedup'))} | "
           f"{pays_s} |")
    if gm:
        gr = r.get("gpu")
        equal = "—" if not gr else ("yes" if gr["dense_mismatches"] == 0 and gr.get("sparse_mismatches", 0) == 0
                                    else "NO")
        row += (f" {_gpu_cell(gr, 'dense_us')} | {_gpu_cell(gr, 'sparse_us')} | "
                f"{_x(gr.get('speedup')) if gr else '—'} | {equal} |")
    return row + f" {_x(board['speedup']) if board else '—'} | {'yes' if r['bit_exact']['ok'] else 'NO'} |"


def _calibration_lines(cal: dict | None) -> list[str]:
    """The calibration table (GPU measurements beside the model's figures), when there is one."""
    if not cal:
        return []
    lines = ["", f"Calibration — {cal['source']}; the model's figures for the same GEMMs on the {cal['part']} "
                 "beside them:", "",
             "| GEMM | M×K×N | measured dense µs | measured 2:4 µs | measured speed-up | modeled dense µs | "
             "modeled 2:4 µs | modeled speed-up |", "|---|---|---|---|---|---|---|---|"]
    for c in cal["layers"]:
        lines.append(f"| {c['what']} | {c['m']}×{c['k']}×{c['n']} | {c['dense_us']:.2f} | {c['sparse_us']:.2f} | "
                     f"{_x(c['measured_speedup'])} | {c['modeled_dense_us']:.2f} | {c['modeled_sparse_us']:.2f} | "
                     f"{_x(c['modeled_speedup'])} |")
    big = ", ".join(f"{c['m']}³ {_x(c['speedup'])} (modeled {_x(c['modeled_speedup'])})" for c in cal["cusparselt"])
    return lines + ["", f"Large GEMMs — {cal['cusparselt_source']}: {big}."]


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
    ax.bar(x - (width / 2 if has_board else 0), amp, width,
           label=f"GPU modeled ({section['part']['name']}, batch {section.get('batch', 1)})")
    if has_board:
        ax.bar(x + width / 2, board, width, label="board measured (Cortex-M 2:4 kernels)")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("speed-up vs dense (×)")
    title = "2:4 speed-up per layer"
    if not has_board:
        title += " — GPU modeled only (no board data given)"
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
