"""RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR, int8 NHWC with a constant size tensor.

The host computes, once per output row and column, which input rows and columns the
output reads (and, for bilinear, their weights), with TensorFlow Lite's reference arithmetic:
float32 for the nearest-neighbour index, 10-bit fixed point for bilinear (its int8 reference
kernel is the integer ResizeBilinearInteger). The kernels only gather and weigh.
"""
from __future__ import annotations

from abc import abstractmethod

import math

import numpy as np

from . import OpEmitter, register
from .common_spatial import nhwc


def _round_half_away(x: np.float32) -> int:
    v = float(x)
    return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)


def nearest_index(out_size: int, in_size: int, align_corners: bool, half_pixel_centers: bool) -> list[int]:
    """Input index of every output index, in float32 steps as TFLite's GetNearestNeighbor."""
    f = np.float32
    if align_corners and out_size > 1:
        scale = f(in_size - 1) / f(out_size - 1)
    else:
        scale = f(in_size) / f(out_size)
    offset = f(0.5) if half_pixel_centers else f(0.0)
    index = []
    for o in range(out_size):
        v = f(f(o) + offset) * scale
        i = _round_half_away(v) if align_corners else int(math.floor(float(v)))
        i = min(i, in_size - 1)
        if half_pixel_centers:
            i = max(0, i)
        index.append(i)
    return index


def _cdiv(a: int, b: int) -> int:
    """C's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def bilinear_map(out_size: int, in_size: int, align_corners: bool, half_pixel_centers: bool) -> list[int]:
    """(lower, upper, weight of upper in 1/1024) per output index, as TFLite's integer
    bilinear resize computes them (scale and position in 10-bit fixed point)."""
    scale = ((1 << 10) * in_size + out_size // 2) // out_size
    if align_corners and out_size > 1:
        scale = ((1 << 10) * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    entries = []
    for o in range(out_size):
        pos = o * scale + scale // 2 - (1 << 9) if half_pixel_centers else o * scale
        lo = max(_cdiv(pos, 1 << 10), 0)
        hi = min(_cdiv(pos + (1 << 10) - 1, 1 << 10), in_size - 1)
        entries += [lo, hi, pos - (1 << 10) * lo]
    return entries


class _Resize(OpEmitter):
    template = "ops/resize.j2"
    sources = ("tp_resize_s8.c",)
    options_name = ""

    def prepare(self):
        o = self.op.options
        inp = self.activation_tensor(self.input(0), "input")
        size_t = self.input(1)
        out = self.activation_tensor(self.output(), "output")
        if not size_t.is_constant or size_t.dtype != "int32" or size_t.size != 2:
            self.fail(f"size tensor '{size_t.name}' must be a constant int32 [2] (new height, width); "
                      f"it is {'constant ' if size_t.is_constant else 'computed '}{size_t.dtype} "
                      f"{list(size_t.shape)}")
        self.in_dims = nhwc(inp.shape, f"{self.where()} input")
        self.out_dims = nhwc(out.shape, f"{self.where()} output")
        size = [int(v) for v in np.asarray(size_t.data).reshape(-1)]
        want = (self.in_dims[0], size[0], size[1], self.in_dims[3])
        if self.out_dims != want:
            self.fail(f"output shape {list(out.shape)} differs from {list(want)} (input {list(inp.shape)}, "
                      f"size {size})", unsupported=False)
        if min(self.in_dims) < 1 or min(size) < 1:
            self.fail(f"input {list(inp.shape)} or size {size} is empty", unsupported=False)
        if inp.scale != out.scale or inp.zero_point != out.zero_point:
            self.fail(f"input (scale {inp.scale}, zero point {inp.zero_point}) and output (scale {out.scale}, "
                      f"zero point {out.zero_point}) quantization differ; resizing cannot requantize")
        self.align_corners = bool(o.alignCorners) if o is not None else False
        self.half_pixel_centers = bool(o.halfPixelCenters) if o is not None else False
        self.build_maps()

    @abstractmethod
    def build_maps(self) -> None:
        """Implemented by each concrete operator."""

    def macs(self) -> int:
        return 0


@register
class ResizeNearestNeighbor(_Resize):
    opcode = "RESIZE_NEAREST_NEIGHBOR"
    kernel = "tp_resize_nearest_s8"
    params_type = "tp_resize_nearest_params"

    def build_maps(self):
        _, h, w, _ = self.in_dims
        _, oh, ow, _ = self.out_dims
        ys = nearest_index(oh, h, self.align_corners, self.half_pixel_centers)
        xs = nearest_index(ow, w, self.align_corners, self.half_pixel_centers)
        self.y_map = self.add_array("y_index", "int32_t", np.array(ys, np.int32), "params")
        self.x_map = self.add_array("x_index", "int32_t", np.array(xs, np.int32), "params")


@register
class ResizeBilinear(_Resize):
    opcode = "RESIZE_BILINEAR"
    kernel = "tp_resize_bilinear_s8"
    params_type = "tp_resize_bilinear_params"

    def build_maps(self):
        if self.align_corners and self.half_pixel_centers:
            self.fail("align_corners and half_pixel_centers are both set; TFLite requires at most one",
                      unsupported=False)
        maps = []
        for axis, n_in, n_out in (("height", self.in_dims[1], self.out_dims[1]),
                                  ("width", self.in_dims[2], self.out_dims[2])):
            m = np.array(bilinear_map(n_out, n_in, self.align_corners, self.half_pixel_centers), np.int64)
            lo, hi, frac = m[0::3], m[1::3], m[2::3]
            # TFLite would read outside the input here; the kernel's int32 sum needs |frac| <= 1024.
            if lo.max() > n_in - 1 or np.any(hi < lo) or np.abs(frac).max() > 1024:
                self.fail(f"resizing {axis} {n_in} -> {n_out} reads outside the input in TFLite's "
                          "fixed-point arithmetic")
            maps.append(m.astype(np.int32))
        self.y_map = self.add_array("y_map", "int32_t", maps[0], "params")
        self.x_map = self.add_array("x_map", "int32_t", maps[1], "params")

    def macs(self) -> int:
        n, oh, ow, c = self.out_dims
        return n * oh * ow * c * 4
