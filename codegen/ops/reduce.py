"""MEAN int8 over any constant set of axes, keep_dims or not.

TensorFlow Lite's reference MEAN takes one integer path for int8, whatever the axes and
whether or not the scales differ (QuantizedMeanOrSum): the sum of (x - input zero point)
over the reduced elements, one requantization by input_scale / output_scale with 1/count
folded into the multiplier on the host, plus the output zero point, saturated to int8.

SUM is not supported: TensorFlow Lite's reference int8 SUM reads its input bytes as uint8
(and saturates to [0, 255]), so there is no correct reference to be bit-exact with.
"""
from __future__ import annotations

import numpy as np

from ..quantization import quantize_multiplier
from . import OpEmitter, register

MAX_GROUPS = 4  # TP_REDUCE_MAX_GROUPS in tp_nn_reduce.h


def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """(multiplier, shift) of input_scale / (count * output_scale), derived as TFLite does.

    TFLite quantizes input_scale / output_scale (in double), then folds 1/count into the
    multiplier with an integer division after a left shift of floor(log2(count)) bits, capped
    at 32 bits and at 31 + shift so the final shift stays >= -31."""
    multiplier, shift = quantize_multiplier(float(np.float32(input_scale)) / float(np.float32(output_scale)))
    extra = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << extra) // count, shift - extra


def group_axes(shape: tuple[int, ...], reduced: set[int]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Kept and reduced (extent, input stride) groups, outermost first.

    Extent-1 dimensions are dropped and neighbouring dimensions on the same side are merged,
    so NHWC GlobalAveragePooling becomes kept [(N, HWC), (C, 1)] and reduced [(HW, C)]."""
    strides = [int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape))]
    kept: list[list[int]] = []
    red: list[list[int]] = []
    last = None
    for i, extent in enumerate(shape):
        if extent == 1:
            continue
        side = i in reduced
        groups = red if side else kept
        if last is side:  # merge with the previous (outer) group: same side, contiguous
            groups[-1][0] *= extent
            groups[-1][1] = strides[i]
        else:
            groups.append([extent, strides[i]])
        last = side
    return [tuple(g) for g in kept], [tuple(g) for g in red]


@register
class Mean(OpEmitter):
    opcode = "MEAN"
    template = "ops/reduce.j2"
    sources = ("tp_reduce_s8.c",)
    kernel = "tp_mean_s8"

    def prepare(self):
        o = self.op.options
        inp = self.activation_tensor(self.input(0), "input")
        axis_t = self.input(1)
        out = self.activation_tensor(self.output(), "output")
        empty = axis_t.size == 0  # no axes: stored without data, and a requantizing copy
        if axis_t.dtype != "int32" or not (axis_t.is_constant or empty):
            self.fail(f"axis tensor '{axis_t.name}' is {'not constant' if not axis_t.is_constant else axis_t.dtype}; "
                      "only constant int32 axes are supported")
        rank = len(inp.shape)
        axes = [] if empty else [int(a) for a in np.asarray(axis_t.data).reshape(-1)]
        for a in axes:
            if not -rank <= a < rank:
                self.fail(f"axis {a} is out of range for the rank-{rank} input {list(inp.shape)}", unsupported=False)
        reduced = {a % rank for a in axes}
        keep = bool(o.keepDims) if o is not None else False
        want = tuple(1 if i in reduced else d for i, d in enumerate(inp.shape)) if keep else \
            tuple(d for i, d in enumerate(inp.shape) if i not in reduced)
        if tuple(out.shape) != want:
            self.fail(f"output shape {list(out.shape)} differs from {list(want)} (input {list(inp.shape)}, "
                      f"axes {axes}, keep_dims {keep})", unsupported=False)
        self.count = int(np.prod([inp.shape[a] for a in sorted(reduced)], dtype=np.int64))
        if self.count == 0 or inp.size == 0:
            self.fail(f"input {list(inp.shape)} is empty")
        if self.count > (1 << 31) // 256:  # the kernel's int32 sum of up to 255 per element
            self.fail(f"{self.count} elements per output would overflow the int32 sum")
        kept, red = group_axes(tuple(inp.shape), reduced)
        if len(kept) > MAX_GROUPS or len(red) > MAX_GROUPS:
            self.fail(f"axes {axes} of input {list(inp.shape)} split it into {max(len(kept), len(red))} "
                      f"alternating groups; at most {MAX_GROUPS} are supported")
        self.kept = self._axes(kept)
        self.reduced = self._axes(red)
        self.multiplier, self.shift = mean_multiplier(inp.scale, out.scale, self.count)
        self.input_offset = -inp.zero_point
        self.output_offset = out.zero_point
        self.rounding = self.options.rounding_for(self.op.opcode)
        self.out_size = out.size

    @property
    def activation_inputs(self):
        return [self.input(0)]  # the axes are data, even an empty axis tensor stored without any

    @staticmethod
    def _axes(groups) -> dict:
        pad = [1] * (MAX_GROUPS - len(groups))
        return dict(count=len(groups), extent=[g[0] for g in groups] + pad, stride=[g[1] for g in groups] + pad)

    def macs(self) -> int:
        return self.out_size * self.count
