"""Prove, on the converted .tflite, that quantization kept the pruner's zeros and N:M groups.

For every Conv2D/DepthwiseConv2D/Dense of the *pruned float* model we find its int8 weight
tensor in the .tflite and compare zero positions element by element (in TFLite layout), and
the N:M pattern along the input-channel axis (the last, contiguous axis in TFLite).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .. import nm
from ..errors import ModelError
from .tflite_weights import keras_to_tflite_layout, layer_of, read_weights

WEIGHTED = {"Conv2D": "kernel", "DepthwiseConv2D": "depthwise_kernel", "Dense": "kernel", "Conv1D": "kernel",
            "Conv2DTranspose": "kernel", "DepthwiseConv1D": "depthwise_kernel"}
GROUP_SIZES = (4, 8)


def nm_pattern(values: np.ndarray) -> tuple[int, int] | None:
    """The tightest N:M (M in 4, 8) that every group along the last axis satisfies, N < M."""
    return nm.tightest(values, GROUP_SIZES)


def satisfies_nm(values: np.ndarray, n: int, m: int) -> bool:
    """Every group of ``m`` along the last axis keeps at most ``n`` nonzeros (whole groups only)."""
    return nm.satisfies(values, n, m, whole_groups=True)


@dataclass(frozen=True)
class LayerSparsity:
    layer: str
    op: str
    params: int
    sparsity_float: float
    sparsity_int8: float
    zeros_identical: bool  # the int8 zeros are exactly the pruned model's zeros
    lost_zeros: int  # pruned zeros that became nonzero (must be 0)
    extra_zeros: int  # kept weights that rounded to zero
    nm_float: str | None
    nm_int8_intact: bool | None
    scales: int  # 1 = per-tensor, else per-channel
    quantized_dimension: int

    def as_dict(self) -> dict:
        return asdict(self)


def check_sparsity(pruned_model, tflite: bytes) -> list[LayerSparsity]:
    weights = read_weights(tflite)
    layers = {l.name: l for l in pruned_model.layers if type(l).__name__ in WEIGHTED}
    found = {}
    for w in weights:
        name = layer_of(w, layers)
        if name is not None:
            found[name] = w
    rows = []
    for name, layer in layers.items():
        kind = type(layer).__name__
        if name not in found:
            raise ModelError(f"layer {name!r} ({kind}) has no weight tensor in the .tflite "
                             "(was the .tflite made from this model?)")
        w = found[name]
        ref = keras_to_tflite_layout(kind, getattr(layer, WEIGHTED[kind]).numpy())
        if ref.shape != w.values.shape:
            raise ModelError(f"layer {name!r}: Keras kernel {ref.shape} vs .tflite tensor "
                             f"{w.tensor_name!r} {w.values.shape} (in TFLite layout)")
        zf, zq = ref == 0, w.values == 0
        pattern = nm_pattern(ref)
        rows.append(LayerSparsity(
            layer=name, op=w.op, params=int(ref.size),
            sparsity_float=float(zf.mean()), sparsity_int8=float(zq.mean()),
            zeros_identical=bool((zf == zq).all()),
            lost_zeros=int((zf & ~zq).sum()), extra_zeros=int((zq & ~zf).sum()),
            nm_float=f"{pattern[0]}:{pattern[1]}" if pattern else None,
            nm_int8_intact=satisfies_nm(w.values, *pattern) if pattern else None,
            scales=int(w.scales.size), quantized_dimension=w.quantized_dimension,
        ))
    return rows


def format_sparsity(rows: list[LayerSparsity]) -> str:
    head = f"{'layer':<22} {'op':<18} {'params':>7} {'float':>7} {'int8':>7} {'zeros':>9} {'N:M':>9} {'scales':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        zeros = "same" if r.zeros_identical else f"-{r.lost_zeros}/+{r.extra_zeros}"
        nm = "-" if r.nm_float is None else f"{r.nm_float} {'ok' if r.nm_int8_intact else 'BROKEN'}"
        lines.append(f"{r.layer:<22} {r.op:<18} {r.params:>7} {r.sparsity_float:>7.3f} "
                     f"{r.sparsity_int8:>7.3f} {zeros:>9} {nm:>9} {r.scales:>7}")
    return "\n".join(lines)
