"""CONV_2D (implicit GEMM) and FULLY_CONNECTED through the 2:4 operand, bit-exact with TFLite.

Every such layer is a GEMM ``acc[M, N] = A[M, K] · B[K, N] + bias``: A = the int8 weights with
rows = output channels and K = Kh·Kw·Cin in TFLite's ``[Cout, Kh, Kw, Cin]`` order (so 2:4
groups run along input channels when Cin % 4 == 0, and across filter taps otherwise, e.g. for
a Cin = 1 stem), B = the input patches
(im2col, built per layer here; the GPU builds them on the fly) minus the input zero point.
The sparse path multiplies only the kept values, each with the row of B its metadata names;
accumulation is exact (int64, checked to stay inside int32).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ModelError, UnsupportedOpError
from . import format as fmt
from .graph import Graph, Op
from ..codegen.quantization import activation_range, per_channel_multipliers
from .requant import requantize

GEMM_OPS = ("CONV_2D", "FULLY_CONNECTED")
ROUNDING = {  # op -> rounding of TF 2.21's BUILTIN_REF kernels (FACTS.md), and TFLM's
    "tflite": {"CONV_2D": "double", "FULLY_CONNECTED": "single"},
    "tflm": {"CONV_2D": "double", "FULLY_CONNECTED": "double"},
}


@dataclass(frozen=True)
class GemmLayer:
    op: Op
    name: str                  # output tensor name
    weights: np.ndarray        # int8 [M, K], K in [Kh, Kw, Cin] order for conv
    bias: np.ndarray           # int64 [M]
    input_zero_point: int
    output_zero_point: int
    multiplier: np.ndarray
    shift: np.ndarray
    act_range: tuple
    rounding: str
    input_shape: tuple
    output_shape: tuple
    conv: dict | None          # kernel/stride/dilation/padding for CONV_2D

    @property
    def m(self) -> int:
        return self.weights.shape[0]

    @property
    def k(self) -> int:
        return self.weights.shape[1]

    @property
    def n(self) -> int:
        """GEMM columns: output pixels (conv) or batch rows (FC)."""
        return int(np.prod(self.output_shape)) // self.m

    @property
    def macs(self) -> int:
        """Dense MACs of the real (unpadded) layer."""
        if self.conv:
            kh, kw = self.conv["kernel"]
            return self.m * self.n * kh * kw * self.conv["cin"]
        return self.m * self.n * self.k


def gemm_layers(graph: Graph, rounding: str = "tflite") -> tuple[list[GemmLayer], list[dict]]:
    """The CONV_2D / FULLY_CONNECTED layers that run as int8 GEMMs, and the ones that cannot."""
    if rounding not in ROUNDING:
        raise ModelError(f"unknown rounding {rounding!r}; choose from {', '.join(ROUNDING)}")
    layers, skipped = [], []
    for op in graph.ops:
        if op.name not in GEMM_OPS:
            continue
        try:
            layers.append(_layer(graph, op, ROUNDING[rounding][op.name]))
        except UnsupportedOpError as e:
            skipped.append({"index": op.index, "op": op.name,
                            "name": graph.tensors[op.outputs[0]].name, "reason": str(e)})
    return layers, skipped


def _layer(graph: Graph, op: Op, rounding: str) -> GemmLayer:
    t = graph.tensors
    x, w, out = t[op.inputs[0]], t[op.inputs[1]], t[op.outputs[0]]
    bias_t = t[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    where = f"{op.name} #{op.index} ({out.name})"
    if not (x.dtype is np.int8 and w.dtype is np.int8 and out.dtype is np.int8):
        raise UnsupportedOpError(f"{where}: only int8 input/weights/output run on the 2:4 path")
    if w.data is None:
        raise UnsupportedOpError(f"{where}: weights are not a constant tensor")
    if np.any(w.zero_point != 0):
        raise UnsupportedOpError(f"{where}: weight zero point must be 0 (symmetric int8)")
    if op.options.get("activation") not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        raise UnsupportedOpError(f"{where}: fused activation {op.options.get('activation')} is unsupported")
    if bias_t is not None and bias_t.dtype is not np.int32:
        raise UnsupportedOpError(f"{where}: bias must be int32")
    cout = w.shape[0]
    conv = None
    if op.name == "CONV_2D":
        _, kh, kw, cin = w.shape
        if x.shape[-1] != cin:
            raise UnsupportedOpError(f"{where}: grouped convolution (input has {x.shape[-1]} channels, "
                                     f"filter {cin}) is unsupported")
        weights = w.data.reshape(cout, -1)
        conv = dict(op.options, kernel=(kh, kw), cin=cin)
    else:
        weights = w.data.reshape(cout, -1)
    # The code generator's constants (one implementation): TFLite's per-tensor FC ratio is a
    # float32 product, every other one double.
    mult, shift = per_channel_multipliers(float(x.scale[0]), np.broadcast_to(w.scale, (cout,)), float(out.scale[0]),
                                          float_product=op.name == "FULLY_CONNECTED" and w.scale.size == 1)
    bias = bias_t.data.astype(np.int64) if bias_t is not None and bias_t.data is not None else np.zeros(cout, np.int64)
    return GemmLayer(op=op, name=out.name, weights=weights, bias=bias,
                     input_zero_point=int(x.zero_point[0]), output_zero_point=int(out.zero_point[0]),
                     multiplier=np.array(mult, np.int64), shift=np.array(shift, np.int64),
                     act_range=activation_range(op.options["activation"], float(out.scale[0]), int(out.zero_point[0])),
                     rounding=rounding, input_shape=x.shape, output_shape=out.shape, conv=conv)


def im2col(layer: GemmLayer, x: np.ndarray) -> np.ndarray:
    """B ``[K, N]`` (int64, input zero point removed) for one sample."""
    xs = np.asarray(x, np.int64) - layer.input_zero_point
    if not layer.conv:
        return xs.reshape(-1, layer.k).T
    c = layer.conv
    (kh, kw), (sh, sw), (dh, dw) = c["kernel"], c["stride"], c["dilation"]
    _, h, w, cin = xs.shape
    _, oh, ow, _ = layer.output_shape
    pad_t = pad_l = 0
    if c["padding"] == "SAME":
        pad_t = max(0, ((oh - 1) * sh + (kh - 1) * dh + 1 - h) // 2)
        pad_l = max(0, ((ow - 1) * sw + (kw - 1) * dw + 1 - w) // 2)
    hp = max(h + pad_t, (oh - 1) * sh + (kh - 1) * dh + 1)
    wp = max(w + pad_l, (ow - 1) * sw + (kw - 1) * dw + 1)
    padded = np.zeros((hp, wp, cin), np.int64)      # padding reads as the zero point
    padded[pad_t:pad_t + h, pad_l:pad_l + w] = xs[0]
    taps = [padded[i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw, :]
            for i in range(kh) for j in range(kw)]
    return np.stack(taps, axis=2).reshape(oh * ow, -1).T


def dense_accumulators(layer: GemmLayer, b: np.ndarray) -> np.ndarray:
    return _checked(layer, layer.weights.astype(np.int64) @ b + layer.bias[:, None])


def sparse_accumulators(layer: GemmLayer, c: fmt.Compressed24, b: np.ndarray) -> np.ndarray:
    """Only the kept values, each multiplied with the row of B that its metadata names."""
    cols = fmt.columns(c.metadata)
    bp = np.zeros((c.k_padded, b.shape[1]), np.int64)
    bp[: b.shape[0]] = b
    vals = c.values.astype(np.int64)
    acc = np.zeros((c.m, b.shape[1]), np.int64)
    for t in range(vals.shape[1]):
        acc += vals[:, t, None] * bp[cols[:, t]]
    return _checked(layer, acc + layer.bias[:, None])


def output(layer: GemmLayer, acc: np.ndarray) -> np.ndarray:
    """Requantize ``[M, N]`` accumulators into the layer's output tensor layout."""
    q = requantize(acc, layer.multiplier, layer.shift, layer.output_zero_point, *layer.act_range,
                   rounding=layer.rounding)
    return q.T.reshape(layer.output_shape)


def run_dense(layer: GemmLayer, x: np.ndarray) -> np.ndarray:
    return output(layer, dense_accumulators(layer, _b(layer, x)))


def run_sparse(layer: GemmLayer, c: fmt.Compressed24, x: np.ndarray) -> np.ndarray:
    return output(layer, sparse_accumulators(layer, c, _b(layer, x)))


def _b(layer: GemmLayer, x: np.ndarray) -> np.ndarray:
    if layer.conv:
        if x.shape[0] != 1:
            return np.concatenate([im2col(layer, x[i:i + 1]) for i in range(x.shape[0])], axis=1)
        return im2col(layer, x)
    return im2col(layer, x)


def _checked(layer: GemmLayer, acc: np.ndarray) -> np.ndarray:
    if acc.size and (acc.min() < -(1 << 31) or acc.max() >= 1 << 31):
        raise ModelError(f"{layer.op.name} #{layer.op.index} ({layer.name}): int32 accumulator overflow")
    return acc
