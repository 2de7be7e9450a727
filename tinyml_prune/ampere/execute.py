"""CONV_2D (implicit GEMM) and FULLY_CONNECTED as a GPU kernel runs them, bit-exact with TFLite.

Every such layer is a GEMM ``acc[M, N] = A[M, K] · B[K, N] + C``: A = the int8 weights with
rows = output channels and K = Kh·Kw·Cin in TFLite's ``[Cout, Kh, Kw, Cin]`` order (so 2:4
groups run along input channels when Cin % 4 == 0, and across filter taps otherwise, e.g. for
a Cin = 1 stem); B = the raw int8 input patches (im2col, padding = the input zero point; a GPU
builds them on the fly), N = output pixels × batch; C = the int32 bias with ``−zp·ΣW`` folded in,
so that both tensor-core operands are plain int8. The product runs tile by tile through the
instructions' semantics (``fragments.mma_sp`` for the compressed A, ``fragments.mma_dense`` for
the dense one), accumulating in int32 with wrap-around like the hardware. TFLite's own formula
``bias + Σ w·(x − zp)`` is computed in exact int64 beside it: a layer whose true accumulator leaves
int32 is refused (the tensor core would wrap it; TFLite's C would overflow).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ModelError, UnsupportedOpError
from . import format as fmt
from . import fragments as fr
from .fragments import wrap32
from .graph import Graph, Op
from ..codegen.quantization import activation_range, per_channel_multipliers
from .requant import requantize

GEMM_OPS = ("CONV_2D", "FULLY_CONNECTED")
ROUNDING = {  # op -> rounding of TF 2.21's BUILTIN_REF kernels (measured), and TFLM's
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
    """B ``[K, N]`` int8 for one or more samples ``[n, ...]``: the raw input, padding = its zero point.

    Samples follow each other along N (N = output pixels × samples for CONV_2D, samples for
    FULLY_CONNECTED), as one GEMM over the batch.
    """
    x = np.asarray(x, np.int8)
    if not layer.conv:
        return np.ascontiguousarray(x.reshape(-1, layer.k).T)
    return np.concatenate([_im2col_one(layer, x[i]) for i in range(x.shape[0])], axis=1)


def _im2col_one(layer: GemmLayer, x: np.ndarray) -> np.ndarray:
    c = layer.conv
    (kh, kw), (sh, sw), (dh, dw) = c["kernel"], c["stride"], c["dilation"]
    h, w, cin = x.shape
    _, oh, ow, _ = layer.output_shape
    pad_t = pad_l = 0
    if c["padding"] == "SAME":
        pad_t = max(0, ((oh - 1) * sh + (kh - 1) * dh + 1 - h) // 2)
        pad_l = max(0, ((ow - 1) * sw + (kw - 1) * dw + 1 - w) // 2)
    hp = max(h + pad_t, (oh - 1) * sh + (kh - 1) * dh + 1)
    wp = max(w + pad_l, (ow - 1) * sw + (kw - 1) * dw + 1)
    padded = np.full((hp, wp, cin), layer.input_zero_point, np.int8)     # padding reads as the zero point
    padded[pad_t:pad_t + h, pad_l:pad_l + w] = x
    taps = [padded[i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw, :]
            for i in range(kh) for j in range(kw)]
    return np.ascontiguousarray(np.stack(taps, axis=2).reshape(oh * ow, -1).T)


def folded_bias(layer: GemmLayer) -> np.ndarray:
    """int32 ``bias − zp·ΣW`` per output channel: with it, B is the raw int8 input.

    Wrapped to int32 like a GPU kernel's C operand; the final accumulator is still exact
    whenever TFLite's own is in range (int32 addition is associative modulo 2^32).
    """
    return wrap32(layer.bias - layer.input_zero_point * layer.weights.astype(np.int64).sum(axis=1))


def exact_accumulators(layer: GemmLayer, b: np.ndarray) -> np.ndarray:
    """TFLite's formula in exact int64: ``bias + Σ w·(x − zp)``; refuses values outside int32."""
    acc = layer.weights.astype(np.int64) @ (b.astype(np.int64) - layer.input_zero_point) + layer.bias[:, None]
    if acc.size and (acc.min() < -(1 << 31) or acc.max() >= 1 << 31):
        r, n = np.unravel_index(int(np.argmax(np.abs(acc))), acc.shape)
        raise ModelError(f"{layer.op.name} #{layer.op.index} ({layer.name}): accumulator {int(acc[r, n])} of "
                         f"output channel {r} leaves int32; the tensor core would wrap it")
    return acc


def _acc0(layer: GemmLayer, n: int) -> np.ndarray:
    return np.broadcast_to(folded_bias(layer)[:, None], (layer.m, n))


def dense_accumulators(layer: GemmLayer, b: np.ndarray) -> np.ndarray:
    """int32 ``[M, N]`` through dense ``mma.sync.m16n8k32`` tiles, B raw int8, zero point in the bias."""
    return fr.gemm_dense(layer.weights, b, _acc0(layer, b.shape[1]))


def sparse_accumulators(layer: GemmLayer, c: fmt.Compressed24, b: np.ndarray, shape: str = "m16n8k32",
                        selector: int = 0) -> np.ndarray:
    """int32 ``[M, N]`` through ``mma.sp`` tiles: the compressed A, its metadata and raw int8 B."""
    return fr.gemm_sparse(c, b, _acc0(layer, b.shape[1]), shape, selector)


def output(layer: GemmLayer, acc: np.ndarray, samples: int = 1) -> np.ndarray:
    """Requantize ``[M, N]`` accumulators into the layer's output tensor layout (``samples`` of them)."""
    q = requantize(np.asarray(acc, np.int64), layer.multiplier, layer.shift, layer.output_zero_point,
                   *layer.act_range, rounding=layer.rounding)
    return q.T.reshape((samples,) + tuple(layer.output_shape[1:]))


def run_dense(layer: GemmLayer, x: np.ndarray) -> np.ndarray:
    b = im2col(layer, x)
    exact_accumulators(layer, b)
    return output(layer, dense_accumulators(layer, b), len(x))


def run_sparse(layer: GemmLayer, c: fmt.Compressed24, x: np.ndarray) -> np.ndarray:
    b = im2col(layer, x)
    exact_accumulators(layer, b)
    return output(layer, sparse_accumulators(layer, c, b), len(x))
