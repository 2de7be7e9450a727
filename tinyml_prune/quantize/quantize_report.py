"""Quantize (QAT or PTQ) and report what the int8 file kept: sparsity, N:M, accuracy."""
from __future__ import annotations

import time

import numpy as np

from ..errors import ModelError
from .ptq import convert_ptq, run_tflite
from .qat import QATConfig, qat
from .sparsity_check import check_sparsity, format_sparsity


def float_metric(model, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy for integer labels, else mean squared error."""
    pred = model.predict(x, batch_size=256, verbose=0)
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        return float((pred.argmax(-1) == y).mean())
    return float(np.mean((pred.reshape(y.shape) - y) ** 2))


def int8_metric(tflite: bytes, x: np.ndarray, y: np.ndarray) -> float:
    out = run_tflite(tflite, x)
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        return float((out.reshape(len(x), -1).argmax(axis=1) == y).mean())
    # dequantize the int8 output to compare with float targets
    from .ptq import make_interpreter

    interp = make_interpreter(tflite)
    scale, zp = interp.get_output_details()[0]["quantization"]
    deq = (out.astype(np.float32) - zp) * scale if scale else out.astype(np.float32)
    return float(np.mean((deq.reshape(y.shape) - y) ** 2))


def quantize_with_report(model, ds, config: QATConfig = QATConfig(), method: str = "qat") -> tuple[bytes, dict]:
    """int8 .tflite bytes and a JSON-able report; raises if a pruned zero or N:M group was lost."""
    t0 = time.perf_counter()
    folded, replaced, fallbacks = [], {}, {}
    if method == "qat":
        result = qat(model, ds, config)
        tfl = result.tflite
        folded = result.fold_log.describe()
        replaced, fallbacks = dict(result.replaced or {}), dict(result.fallbacks or {})
    elif method == "ptq":
        tfl = convert_ptq(model, ds.calibration(config.calibration_samples))
    else:
        raise ValueError(method)
    seconds = time.perf_counter() - t0
    rows = check_sparsity(model, tfl)
    classifier = ds.y_test.ndim == 1 and np.issubdtype(ds.y_test.dtype, np.integer)
    report = {
        "method": method,
        "config": {"epochs": config.epochs, "learning_rate": config.learning_rate,
                   "calibration_samples": config.calibration_samples,
                   "dense_per_channel": config.dense_per_channel} if method == "qat" else
                  {"calibration_samples": config.calibration_samples},
        "folded": folded,
        "replaced_tf_ops": replaced,  # TFOpLambda layer -> the layer QAT used instead
        "quantize_fallbacks": fallbacks,  # layer -> how it was quantized outside tfmot's registry
        "metric": "accuracy" if classifier else "mse",
        "float": float_metric(model, ds.x_test, ds.y_test),
        "int8": int8_metric(tfl, ds.x_test, ds.y_test),
        "tflite_bytes": len(tfl),
        "seconds": round(seconds, 2),
        "layers": [r.as_dict() for r in rows],
    }
    broken = [r for r in rows if r.lost_zeros or r.nm_int8_intact is False]
    if broken:
        r = broken[0]
        raise ModelError(f"layer {r.layer!r}: int8 weights lost {r.lost_zeros} pruned zeros"
                         + (f" and the {r.nm_float} pattern" if r.nm_int8_intact is False else ""))
    return tfl, report


def format_report(report: dict) -> str:
    from .sparsity_check import LayerSparsity

    rows = [LayerSparsity(**r) for r in report["layers"]]
    lines = [format_sparsity(rows)]
    lines += [f"folded: {f}" for f in report["folded"]]
    if report.get("replaced_tf_ops"):
        lines.append(f"tf ops replaced by layers for QAT: {len(report['replaced_tf_ops'])} (see the report)")
    if report.get("quantize_fallbacks"):
        kinds = sorted({v.split(":")[0] for v in report["quantize_fallbacks"].values()})
        lines.append(f"output-only int8 ranges (outside tfmot's registry): {len(report['quantize_fallbacks'])} "
                     f"layers ({', '.join(kinds)})")
    lines.append(f"test {report['metric']}: float {report['float']:.4f}, int8 {report['int8']:.4f}")
    return "\n".join(lines)


def model_summary(model, tflite: bytes) -> dict:
    """Params (nonzero / total), effective MACs (zeros skipped) and codegen flash estimates."""
    from ..pruning.auto import layer_macs
    from ..pruning.layers import kernel_variable, prunable_layers

    total = nonzero = macs = macs_dense = 0
    for layer in prunable_layers(model):
        k = kernel_variable(layer).numpy()
        total += k.size
        nonzero += int((k != 0).sum())
        macs_dense += layer_macs(layer)
        macs += int(round(layer_macs(layer) * (k != 0).mean()))
    out = {"params": total, "params_nonzero": nonzero, "macs": macs_dense, "macs_effective": macs}
    try:
        from ..codegen.generate import CodegenOptions, build_program
        from ..codegen.tflite_reader import read_tflite

        graph = read_tflite(tflite, "model")
        for fmt in ("dense", "csr"):
            p = build_program(graph, CodegenOptions(format=fmt))
            out[f"flash_{fmt}"] = int(p.weight_bytes + p.param_bytes)
    except ModelError as e:  # an op the code generator has no kernel for: no estimate
        out["flash_note"] = str(e)
    return out


def write_summary(report: dict, model, tflite: bytes, tflite_path: str, force: bool = True,
                  title: str | None = None) -> tuple[str, str]:
    """``OUT.md`` (summary) and ``OUT.sparsity.png`` (bar chart) beside the .tflite; ``title``: the
    path to name in the summary when ``tflite_path`` is a staging name."""
    from ..artifacts import write_text
    from ..sensitivity.plot import plot_sparsity_bars

    s = report.setdefault("summary", model_summary(model, tflite))
    png = tflite_path + ".sparsity.png"
    md = tflite_path + ".md"
    plot_sparsity_bars(report["layers"], png, title=f"{report['method'].upper()}: zeros per layer")
    metric = report["metric"]
    lines = [f"# {title or tflite_path}", "",
             f"{report['method'].upper()} int8 of `{report.get('model', '?')}`", "",
             "| | value |", "|---|---|",
             f"| weights (prunable layers) | {s['params']:,} ({s['params_nonzero']:,} nonzero) |",
             f"| MACs | {s['macs']:,} dense, {s['macs_effective']:,} with zeros skipped |"]
    for fmt in ("dense", "csr"):
        if f"flash_{fmt}" in s:
            lines.append(f"| flash estimate, {fmt} weights (codegen) | {s[f'flash_{fmt}']:,} B |")
    lines += [f"| test {metric}, float (before) | {report['float']:.4f} |",
              f"| test {metric}, int8 (after) | {report['int8']:.4f} |",
              f"| .tflite | {report['tflite_bytes']:,} B |", "",
              "| layer | op | params | sparsity float | sparsity int8 | zeros | N:M | scales |",
              "|---|---|---|---|---|---|---|---|"]
    for r in report["layers"]:
        zeros = "identical" if r["zeros_identical"] else f"-{r['lost_zeros']} / +{r['extra_zeros']}"
        nm = "-" if r["nm_float"] is None else f"{r['nm_float']} {'intact' if r['nm_int8_intact'] else 'BROKEN'}"
        lines.append(f"| {r['layer']} | {r['op']} | {r['params']} | {r['sparsity_float']:.3f} | "
                     f"{r['sparsity_int8']:.3f} | {zeros} | {nm} | {r['scales']} |")
    lines += ["", f"![per-layer sparsity]({png.rsplit('/', 1)[-1]})", ""]
    write_text(md, "\n".join(lines), force=force)
    return md, png
