"""int8 models with reductions (MEAN, SUM) and resizing, built straight from the TFLite schema."""
from __future__ import annotations

import numpy as np

from .tflbuild import ModelSpec, Op, T, build, options


def reduced_shape(shape, axes, keep_dims) -> tuple[int, ...]:
    rank = len(shape)
    red = {a % rank for a in axes}
    if keep_dims:
        return tuple(1 if i in red else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in red)


def _scale(rng, lo=0.005, hi=0.1):
    return float(rng.uniform(lo, hi)), int(rng.integers(-30, 30))


def reduce(rng, shape, axes, keep_dims, same_quant=False, opcode="MEAN", scales=None) -> bytes:
    """input -> MEAN/SUM(axes) -> output; the output's scale is drawn unless ``same_quant``
    (or both are given: ``scales`` = (input scale, output scale))."""
    spec = ModelSpec()
    s_in, z_in = _scale(rng)
    s_out, z_out = (s_in, z_in) if same_quant else _scale(rng, 0.002, 0.1)
    if scales is not None:
        s_in, s_out = scales
    inp = spec.add(T(tuple(shape), scale=[s_in], zero_point=[z_in]))
    ax = spec.add(T((len(axes),), "int32", data=np.array(axes, np.int32)))
    out = spec.add(T(reduced_shape(shape, axes, keep_dims), scale=[s_out], zero_point=[z_out]))
    spec.ops.append(Op(opcode, [inp, ax], [out], options("ReducerOptions", keepDims=keep_dims), "ReducerOptions"))
    spec.inputs, spec.outputs = [inp], [out]
    return build(spec)


def _resize_op(kind, inp, size_t, out, align_corners, half_pixel_centers):
    name = "ResizeBilinearOptions" if kind == "RESIZE_BILINEAR" else "ResizeNearestNeighborOptions"
    return Op(kind, [inp, size_t], [out],
              options(name, alignCorners=align_corners, halfPixelCenters=half_pixel_centers), name)


def resize(rng, kind, n, h, w, c, oh, ow, align_corners=False, half_pixel_centers=False) -> bytes:
    """input [n, h, w, c] -> RESIZE_* to [oh, ow] (same quantization on both sides)."""
    spec = ModelSpec()
    s, z = _scale(rng)
    inp = spec.add(T((n, h, w, c), scale=[s], zero_point=[z]))
    size_t = spec.add(T((2,), "int32", data=np.array([oh, ow], np.int32)))
    out = spec.add(T((n, oh, ow, c), scale=[s], zero_point=[z]))
    spec.ops.append(_resize_op(kind, inp, size_t, out, align_corners, half_pixel_centers))
    spec.inputs, spec.outputs = [inp], [out]
    return build(spec)


def _conv(spec, rng, src, h, w, cin, cout, act=1):
    s_in = spec.tensors[src].scale[0]
    w_scales = [float(x) for x in rng.uniform(0.005, 0.02, cout)]
    filt = spec.add(T((cout, 3, 3, cin), scale=w_scales, zero_point=[0] * cout,
                      data=rng.integers(-127, 128, (cout, 3, 3, cin)).astype(np.int8)))
    bias = spec.add(T((cout,), "int32", scale=[s_in * x for x in w_scales], zero_point=[0] * cout,
                      data=rng.integers(-500, 500, cout).astype(np.int32)))
    out = spec.add(T((1, h, w, cout), scale=[0.04], zero_point=[-20]))
    spec.ops.append(Op("CONV_2D", [src, filt, bias], [out],
                       options("Conv2DOptions", padding=0, strideH=1, strideW=1, dilationHFactor=1,
                               dilationWFactor=1, fusedActivationFunction=act), "Conv2DOptions"))
    return out


def conv_gap_head(rng, h=6, w=5, cin=3, cout=8, units=4, keep_dims=True, resize=None, resize_to=(9, 7)) -> bytes:
    """CONV (ReLU) -> [RESIZE_* to ``resize_to``] -> MEAN over [1, 2] (GlobalAveragePooling2D,
    new scale) -> [RESHAPE] -> FULLY_CONNECTED."""
    spec = ModelSpec()
    inp = spec.add(T((1, h, w, cin), scale=[0.02], zero_point=[-5]))
    feat = _conv(spec, rng, inp, h, w, cin, cout)
    if resize is not None:
        size_t = spec.add(T((2,), "int32", data=np.array(resize_to, np.int32)))
        up = spec.add(T((1, *resize_to, cout), scale=[0.04], zero_point=[-20]))
        spec.ops.append(_resize_op(resize, feat, size_t, up, False, True))
        feat = up
    ax = spec.add(T((2,), "int32", data=np.array([1, 2], np.int32)))
    pooled = spec.add(T((1, 1, 1, cout) if keep_dims else (1, cout), scale=[0.03], zero_point=[-60]))
    spec.ops.append(Op("MEAN", [feat, ax], [pooled], options("ReducerOptions", keepDims=keep_dims),
                       "ReducerOptions"))
    src = pooled
    if keep_dims:
        shape = spec.add(T((2,), "int32", data=np.array([1, cout], np.int32)))
        src = spec.add(T((1, cout), scale=[0.03], zero_point=[-60]))
        spec.ops.append(Op("RESHAPE", [pooled, shape], [src],
                           options("ReshapeOptions", newShape=np.array([1, cout], np.int32)), "ReshapeOptions"))
    wts = spec.add(T((units, cout), scale=[0.01], zero_point=[0],
                     data=rng.integers(-127, 128, (units, cout)).astype(np.int8)))
    out = spec.add(T((1, units), scale=[0.05], zero_point=[3]))
    spec.ops.append(Op("FULLY_CONNECTED", [src, wts, -1], [out], options("FullyConnectedOptions"),
                       "FullyConnectedOptions"))
    spec.inputs, spec.outputs = [inp], [out]
    return build(spec)


def conv_resize(rng, kind="RESIZE_BILINEAR", h=4, w=5, cin=2, cout=3, oh=7, ow=9, align_corners=False,
                half_pixel_centers=True) -> bytes:
    """CONV (ReLU) -> RESIZE_* (an upsampling decoder step)."""
    spec = ModelSpec()
    inp = spec.add(T((1, h, w, cin), scale=[0.02], zero_point=[-5]))
    feat = _conv(spec, rng, inp, h, w, cin, cout)
    size_t = spec.add(T((2,), "int32", data=np.array([oh, ow], np.int32)))
    out = spec.add(T((1, oh, ow, cout), scale=[0.04], zero_point=[-20]))
    spec.ops.append(_resize_op(kind, feat, size_t, out, align_corners, half_pixel_centers))
    spec.inputs, spec.outputs = [inp], [out]
    return build(spec)
