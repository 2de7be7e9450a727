"""Single-operator int8 models with chosen parameters, for bit-exact sweeps."""
from __future__ import annotations

import math

import numpy as np

from .tflbuild import ModelSpec, Op, T, build, options

ACTS = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}
PADS = {"SAME": 0, "VALID": 1}


def out_size(padding: str, n: int, k: int, stride: int, dil: int) -> int:
    eff = (k - 1) * dil + 1
    return (n + stride - 1) // stride if padding == "SAME" else (n - eff + stride) // stride


def _act_input(spec, shape, rng):
    return spec.add(T(tuple(shape), scale=[float(rng.uniform(0.005, 0.1))], zero_point=[int(rng.integers(-20, 20))]))


def _out_scale(in_scale, w_scales, depth, rng):
    # Accumulators of random int8 data spread ~74*74*sqrt(depth): this maps them to roughly
    # 7..70 output codes, so a few outputs saturate and most do not.
    return float(in_scale * max(w_scales) * math.sqrt(depth) * 400 * rng.uniform(0.2, 2.0))


def conv(rng, h, w, cin, cout, k, stride, dil, padding, act, per_channel=True, depthwise=False, mult=1,
         bias=True) -> bytes:
    spec = ModelSpec()
    inp = _act_input(spec, (1, h, w, cin), rng)
    in_scale = spec.tensors[inp].scale[0]
    oc = cin * mult if depthwise else cout
    nscale = oc if per_channel else 1
    w_scales = [float(s) for s in rng.uniform(0.002, 0.02, nscale)]
    kh, kw = k
    fshape = (1, kh, kw, oc) if depthwise else (oc, kh, kw, cin)
    wdata = rng.integers(-127, 128, fshape).astype(np.int8)
    filt = spec.add(T(fshape, scale=w_scales, zero_point=[0] * nscale, axis=3 if depthwise else 0, data=wdata))
    ins = [inp, filt]
    if bias:
        bscales = [in_scale * s for s in w_scales]
        ins.append(spec.add(T((oc,), "int32", scale=bscales, zero_point=[0] * nscale,
                              data=rng.integers(-3000, 3000, oc).astype(np.int32))))
    else:
        ins.append(-1)
    oh = out_size(padding, h, kh, stride[0], dil[0])
    ow = out_size(padding, w, kw, stride[1], dil[1])
    depth = kh * kw * (1 if depthwise else cin)
    out = spec.add(T((1, oh, ow, oc), scale=[_out_scale(in_scale, w_scales, depth, rng)],
                     zero_point=[int(rng.integers(-30, 30))]))
    common = dict(padding=PADS[padding], strideH=stride[0], strideW=stride[1], dilationHFactor=dil[0],
                  dilationWFactor=dil[1], fusedActivationFunction=ACTS[act])
    if depthwise:
        op = Op("DEPTHWISE_CONV_2D", ins, [out], options("DepthwiseConv2DOptions", depthMultiplier=mult, **common),
                "DepthwiseConv2DOptions")
    else:
        op = Op("CONV_2D", ins, [out], options("Conv2DOptions", **common), "Conv2DOptions")
    spec.ops.append(op)
    spec.inputs, spec.outputs = [inp], [out]
    return build(spec)


def fully_connected(rng, rows, depth, units, act, per_channel, bias=True) -> bytes:
    spec = ModelSpec()
    inp = _act_input(spec, (rows, depth), rng)
    in_scale = spec.tensors[inp].scale[0]
    nscale = units if per_channel else 1
    w_scales = [float(s) for s in rng.uniform(0.002, 0.02, nscale)]
    filt = spec.add(T((units, depth), scale=w_scales, zero_point=[0] * nscale,
                      data=rng.integers(-127, 128, (units, depth)).astype(np.int8)))
    b = spec.add(T((units,), "int32", scale=[in_scale * s for s in w_scales], zero_point=[0] * nscale,
                   data=rng.integers(-3000, 3000, units).astype(np.int32))) if bias else -1
    out = spec.add(T((rows, units), scale=[_out_scale(in_scale, w_scales, depth, rng)],
                     zero_point=[int(rng.integers(-30, 30))]))
    spec.ops.append(Op("FULLY_CONNECTED", [inp, filt, b], [out],
                       options("FullyConnectedOptions", fusedActivationFunction=ACTS[act]), "FullyConnectedOptions"))
    spec.inputs, spec.outputs = [inp], [out]
    return build(spec)


def pool(rng, kind, h, w, c, k, stride, padding, act) -> bytes:
    spec = ModelSpec()
    scale, zp = float(rng.uniform(0.005, 0.1)), int(rng.integers(-20, 20))
    inp = spec.add(T((1, h, w, c), scale=[scale], zero_point=[zp]))
    oh, ow = out_size(padding, h, k[0], stride[0], 1), out_size(padding, w, k[1], stride[1], 1)
    out = spec.add(T((1, oh, ow, c), scale=[scale], zero_point=[zp]))
    spec.ops.append(Op(kind, [inp], [out], options("Pool2DOptions", padding=PADS[padding], strideH=stride[0],
                                                  strideW=stride[1], filterHeight=k[0], filterWidth=k[1],
                                                  fusedActivationFunction=ACTS[act]), "Pool2DOptions"))
    spec.inputs, spec.outputs = [inp], [out]
    return build(spec)


def residual_add(rng, h, w, c, act) -> bytes:
    """input -> 1x1 depthwise (a second scale) -> ADD(input, that): a residual connection."""
    spec = ModelSpec()
    inp = _act_input(spec, (1, h, w, c), rng)
    in_scale = spec.tensors[inp].scale[0]
    w_scales = [float(s) for s in rng.uniform(0.002, 0.02, c)]
    filt = spec.add(T((1, 1, 1, c), scale=w_scales, zero_point=[0] * c, axis=3,
                      data=rng.integers(-127, 128, (1, 1, 1, c)).astype(np.int8)))
    mid = spec.add(T((1, h, w, c), scale=[float(rng.uniform(0.005, 0.2))], zero_point=[int(rng.integers(-30, 30))]))
    out = spec.add(T((1, h, w, c), scale=[float(rng.uniform(0.01, 0.3))], zero_point=[int(rng.integers(-30, 30))]))
    bias = spec.add(T((c,), "int32", scale=[in_scale * s for s in w_scales], zero_point=[0] * c,
                      data=rng.integers(-300, 300, c).astype(np.int32)))
    spec.ops.append(Op("DEPTHWISE_CONV_2D", [inp, filt, bias], [mid],
                       options("DepthwiseConv2DOptions", padding=1, strideH=1, strideW=1, depthMultiplier=1,
                               dilationHFactor=1, dilationWFactor=1), "DepthwiseConv2DOptions"))
    spec.ops.append(Op("ADD", [inp, mid], [out], options("AddOptions", fusedActivationFunction=ACTS[act]),
                       "AddOptions"))
    spec.inputs, spec.outputs = [inp], [out]
    return build(spec)


def softmax(rng, rows, n, beta=1.0, reshape_first=False) -> bytes:
    """Optionally input [1, rows*n] -> RESHAPE [rows, n] (aliasing the input) -> SOFTMAX."""
    spec = ModelSpec()
    scale, zp = float(rng.uniform(0.01, 0.5)), int(rng.integers(-20, 20))
    inp = spec.add(T((1, rows * n) if reshape_first else (rows, n), scale=[scale], zero_point=[zp]))
    src = inp
    if reshape_first:
        shape = spec.add(T((2,), "int32", data=np.array([rows, n], np.int32)))
        src = spec.add(T((rows, n), scale=[scale], zero_point=[zp]))
        spec.ops.append(Op("RESHAPE", [inp, shape], [src],
                           options("ReshapeOptions", newShape=np.array([rows, n], np.int32)), "ReshapeOptions"))
    out = spec.add(T((rows, n), scale=[1.0 / 256], zero_point=[-128]))
    spec.ops.append(Op("SOFTMAX", [src], [out], options("SoftmaxOptions", beta=beta), "SoftmaxOptions"))
    spec.inputs, spec.outputs = [inp], [out]
    return build(spec)


def conv_reshape_fc(rng) -> bytes:
    """CONV -> RESHAPE (in place in the arena) -> FULLY_CONNECTED -> RESHAPE (copied into the output)."""
    spec = ModelSpec()
    inp = _act_input(spec, (1, 4, 4, 2), rng)
    s_in = spec.tensors[inp].scale[0]
    filt = spec.add(T((3, 3, 3, 2), scale=[0.01, 0.02, 0.015], zero_point=[0, 0, 0],
                      data=rng.integers(-127, 128, (3, 3, 3, 2)).astype(np.int8)))
    c_out = spec.add(T((1, 4, 4, 3), scale=[0.05], zero_point=[-3]))
    cb = spec.add(T((3,), "int32", scale=[s_in * 0.01, s_in * 0.02, s_in * 0.015], zero_point=[0, 0, 0],
                    data=np.array([50, -70, 20], np.int32)))
    spec.ops.append(Op("CONV_2D", [inp, filt, cb], [c_out],
                       options("Conv2DOptions", padding=0, strideH=1, strideW=1, dilationHFactor=1,
                               dilationWFactor=1, fusedActivationFunction=1), "Conv2DOptions"))
    shape1 = spec.add(T((2,), "int32", data=np.array([1, 48], np.int32)))
    flat = spec.add(T((1, 48), scale=[0.05], zero_point=[-3]))
    spec.ops.append(Op("RESHAPE", [c_out, shape1], [flat], options("ReshapeOptions", newShape=np.array([1, 48], np.int32)),
                       "ReshapeOptions"))
    w = spec.add(T((6, 48), scale=[0.01], zero_point=[0], data=rng.integers(-127, 128, (6, 48)).astype(np.int8)))
    fc = spec.add(T((1, 6), scale=[0.2], zero_point=[4]))
    spec.ops.append(Op("FULLY_CONNECTED", [flat, w, -1], [fc], options("FullyConnectedOptions"),
                       "FullyConnectedOptions"))
    shape2 = spec.add(T((4,), "int32", data=np.array([1, 1, 2, 3], np.int32)))
    out = spec.add(T((1, 1, 2, 3), scale=[0.2], zero_point=[4]))
    spec.ops.append(Op("RESHAPE", [fc, shape2], [out], options("ReshapeOptions", newShape=np.array([1, 1, 2, 3], np.int32)),
                       "ReshapeOptions"))
    del s_in
    spec.inputs, spec.outputs = [inp], [out]
    return build(spec)
