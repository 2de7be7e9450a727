"""int8 models with data-movement operators (CONCATENATION, PAD, TRANSPOSE, STRIDED_SLICE,
SLICE, SPLIT, PACK/UNPACK, GATHER, EXPAND_DIMS/SQUEEZE) and the SHAPE -> STRIDED_SLICE ->
PACK -> RESHAPE sub-graph, built straight from the TFLite schema."""
from __future__ import annotations

import numpy as np

from tinyml_prune.codegen.fold import strided_slice_spec

from .tflbuild import ModelSpec, Op, T, build, options


def _q(rng):
    return [float(rng.uniform(0.005, 0.1))], [int(rng.integers(-30, 30))]


def _act(spec, shape, q, name=""):
    return spec.add(T(tuple(shape), scale=q[0], zero_point=q[1], name=name))


def _ints(spec, values, dtype="int32"):
    a = np.asarray(values, dtype)
    return spec.add(T(a.shape, dtype, data=a))


def concat(rng, shapes, axis, const_input: int | None = None) -> bytes:
    """inputs (one per shape, all activations but ``const_input``) -> CONCATENATION(axis)."""
    spec = ModelSpec()
    q = _q(rng)
    ins, graph_in = [], []
    for k, s in enumerate(shapes):
        if k == const_input:
            ins.append(spec.add(T(tuple(s), scale=q[0], zero_point=q[1],
                                  data=rng.integers(-128, 128, s).astype(np.int8))))
        else:
            ins.append(_act(spec, s, q, f"in{k}"))
            graph_in.append(ins[-1])
    rank = len(shapes[0])
    a = axis % rank
    out_shape = list(shapes[0])
    out_shape[a] = sum(s[a] for s in shapes)
    out = _act(spec, out_shape, q)
    spec.ops.append(Op("CONCATENATION", ins, [out], options("ConcatenationOptions", axis=axis), "ConcatenationOptions"))
    spec.inputs, spec.outputs = graph_in, [out]
    return build(spec)


def pad(rng, shape, paddings, v2=False, value=None, same_quant=True, int64=False) -> bytes:
    """input -> PAD (or PADV2 with constant ``value``)."""
    spec = ModelSpec()
    q_in = _q(rng)
    q_out = q_in if same_quant else _q(rng)
    x = _act(spec, shape, q_in)
    p = _ints(spec, paddings, "int64" if int64 else "int32")
    out = _act(spec, [d + a + b for d, (a, b) in zip(shape, paddings)], q_out)
    ins = [x, p]
    if v2:
        if value is not None:
            ins.append(spec.add(T((), scale=q_out[0], zero_point=q_out[1], data=np.array(value, np.int8))))
        spec.ops.append(Op("PADV2", ins, [out], options("PadV2Options"), "PadV2Options"))
    else:
        spec.ops.append(Op("PAD", ins, [out], options("PadOptions"), "PadOptions"))
    spec.inputs, spec.outputs = [x], [out]
    return build(spec)


def transpose(rng, shape, perm) -> bytes:
    spec = ModelSpec()
    q = _q(rng)
    x = _act(spec, shape, q)
    p = _ints(spec, perm)
    out = _act(spec, [shape[i] for i in perm], q)
    spec.ops.append(Op("TRANSPOSE", [x, p], [out], options("TransposeOptions"), "TransposeOptions"))
    spec.inputs, spec.outputs = [x], [out]
    return build(spec)


def strided_slice(rng, shape, begin, end, strides, begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0,
                  shrink_mask=0, offset=False) -> bytes:
    """input -> STRIDED_SLICE; the output shape is our own derivation (the test checks it
    against the interpreter's)."""
    spec = ModelSpec()
    q = _q(rng)
    x = _act(spec, shape, q)
    out_shape = strided_slice_spec(shape, begin, end, strides, begin_mask, end_mask, ellipsis_mask, new_axis_mask,
                                   shrink_mask, offset).out_shape
    ins = [x, _ints(spec, begin), _ints(spec, end), _ints(spec, strides)]
    out = _act(spec, out_shape, q)
    spec.ops.append(Op("STRIDED_SLICE", ins, [out],
                       options("StridedSliceOptions", beginMask=begin_mask, endMask=end_mask,
                               ellipsisMask=ellipsis_mask, newAxisMask=new_axis_mask, shrinkAxisMask=shrink_mask,
                               offset=offset), "StridedSliceOptions"))
    spec.inputs, spec.outputs = [x], [out]
    return build(spec)


def slice_(rng, shape, begin, size) -> bytes:
    spec = ModelSpec()
    q = _q(rng)
    x = _act(spec, shape, q)
    out = _act(spec, [d - b if s == -1 else s for d, b, s in zip(shape, begin, size)], q)
    spec.ops.append(Op("SLICE", [x, _ints(spec, begin), _ints(spec, size)], [out], options("SliceOptions"),
                       "SliceOptions"))
    spec.inputs, spec.outputs = [x], [out]
    return build(spec)


def split(rng, shape, axis, sizes, v=False, minus_one: int | None = None) -> bytes:
    """input -> SPLIT (equal ``sizes``) or SPLIT_V (``sizes``, one of them -1 if ``minus_one``)
    -> one model output per piece."""
    spec = ModelSpec()
    q = _q(rng)
    x = _act(spec, shape, q)
    a = axis % len(shape)
    outs = []
    for s in sizes:
        o = list(shape)
        o[a] = s
        outs.append(_act(spec, o, q))
    if v:
        given = [-1 if k == minus_one else s for k, s in enumerate(sizes)]
        spec.ops.append(Op("SPLIT_V", [x, _ints(spec, given), _ints(spec, axis)], outs,
                           options("SplitVOptions", numSplits=len(sizes)), "SplitVOptions"))
    else:
        spec.ops.append(Op("SPLIT", [_ints(spec, axis), x], outs, options("SplitOptions", numSplits=len(sizes)),
                           "SplitOptions"))
    spec.inputs, spec.outputs = [x], outs
    return build(spec)


def pack(rng, shape, n, axis) -> bytes:
    spec = ModelSpec()
    q = _q(rng)
    ins = [_act(spec, shape, q, f"in{k}") for k in range(n)]
    a = axis % (len(shape) + 1)
    out = _act(spec, list(shape[:a]) + [n] + list(shape[a:]), q)
    spec.ops.append(Op("PACK", ins, [out], options("PackOptions", valuesCount=n, axis=axis), "PackOptions"))
    spec.inputs, spec.outputs = ins, [out]
    return build(spec)


def unpack(rng, shape, axis) -> bytes:
    spec = ModelSpec()
    q = _q(rng)
    x = _act(spec, shape, q)
    a = axis % len(shape)
    outs = [_act(spec, list(shape[:a]) + list(shape[a + 1:]), q) for _ in range(shape[a])]
    spec.ops.append(Op("UNPACK", [x], outs, options("UnpackOptions", num=shape[a], axis=axis), "UnpackOptions"))
    spec.inputs, spec.outputs = [x], outs
    return build(spec)


def gather(rng, shape, axis, indices, batch_dims=0) -> bytes:
    spec = ModelSpec()
    q = _q(rng)
    x = _act(spec, shape, q)
    idx = np.asarray(indices, np.int32)
    a = axis % len(shape)
    out = _act(spec, list(shape[:a]) + list(idx.shape[batch_dims:]) + list(shape[a + 1:]), q)
    spec.ops.append(Op("GATHER", [x, _ints(spec, idx)], [out],
                       options("GatherOptions", axis=axis, batchDims=batch_dims), "GatherOptions"))
    spec.inputs, spec.outputs = [x], [out]
    return build(spec)


def views(rng, shape, axis) -> bytes:
    """input -> EXPAND_DIMS(axis) -> TRANSPOSE (new axis to the front) -> SQUEEZE -> output:
    the views generate no copy of their own except into the model output."""
    spec = ModelSpec()
    q = _q(rng)
    x = _act(spec, shape, q)
    rank = len(shape) + 1
    a = axis % rank
    e_shape = list(shape[:a]) + [1] + list(shape[a:])
    e = _act(spec, e_shape, q)
    spec.ops.append(Op("EXPAND_DIMS", [x, _ints(spec, [axis])], [e]))
    perm = [a] + [i for i in range(rank) if i != a][::-1]
    t = _act(spec, [e_shape[p] for p in perm], q)
    spec.ops.append(Op("TRANSPOSE", [e, _ints(spec, perm)], [t], options("TransposeOptions"), "TransposeOptions"))
    out = _act(spec, [e_shape[p] for p in perm][1:], q)
    spec.ops.append(Op("SQUEEZE", [t], [out], options("SqueezeOptions", squeezeDims=[0]), "SqueezeOptions"))
    spec.inputs, spec.outputs = [x], [out]
    return build(spec)


def _conv(spec, rng, src, cout, out_q, padding=0, act=1):
    t = spec.tensors[src]
    n, h, w, cin = t.shape
    w_scales = [float(x) for x in rng.uniform(0.005, 0.02, cout)]
    filt = spec.add(T((cout, 3, 3, cin), scale=w_scales, zero_point=[0] * cout,
                      data=rng.integers(-127, 128, (cout, 3, 3, cin)).astype(np.int8)))
    bias = spec.add(T((cout,), "int32", scale=[t.scale[0] * x for x in w_scales], zero_point=[0] * cout,
                      data=rng.integers(-500, 500, cout).astype(np.int32)))
    oh, ow = (h, w) if padding == 0 else (h - 2, w - 2)
    out = _act(spec, (n, oh, ow, cout), out_q)
    spec.ops.append(Op("CONV_2D", [src, filt, bias], [out],
                       options("Conv2DOptions", padding=padding, strideH=1, strideW=1, dilationHFactor=1,
                               dilationWFactor=1, fusedActivationFunction=act), "Conv2DOptions"))
    return out


def flatten_subgraph(rng, h=4, w=3, c=2, units=5, int64_shape=False) -> bytes:
    """CONV -> RESHAPE to [batch, -1] whose shape comes from SHAPE -> STRIDED_SLICE (shrink) ->
    PACK(batch, -1), as the converter emits for a Keras Flatten after a dynamic batch; then
    FULLY_CONNECTED."""
    spec = ModelSpec()
    x = _act(spec, (1, h, w, c), ([0.02], [-5]))
    feat = _conv(spec, rng, x, 4, ([0.04], [-20]))
    idx_t = "int64" if int64_shape else "int32"
    shape = spec.add(T((4,), idx_t))
    spec.ops.append(Op("SHAPE", [feat], [shape], options("ShapeOptions", outType=4 if int64_shape else 2),
                       "ShapeOptions"))
    batch = spec.add(T((), idx_t))
    spec.ops.append(Op("STRIDED_SLICE", [shape, _ints(spec, [0]), _ints(spec, [1]), _ints(spec, [1])], [batch],
                       options("StridedSliceOptions", shrinkAxisMask=1), "StridedSliceOptions"))
    if int64_shape:
        batch32 = spec.add(T((), "int32"))
        spec.ops.append(Op("CAST", [batch], [batch32], options("CastOptions", inDataType=4, outDataType=2),
                           "CastOptions"))
        batch = batch32
    new_shape = spec.add(T((2,), "int32"))
    spec.ops.append(Op("PACK", [batch, _ints(spec, -1)], [new_shape], options("PackOptions", valuesCount=2, axis=0),
                       "PackOptions"))
    flat = _act(spec, (1, h * w * 4), ([0.04], [-20]))
    spec.ops.append(Op("RESHAPE", [feat, new_shape], [flat]))
    wts = spec.add(T((units, h * w * 4), scale=[0.01], zero_point=[0],
                     data=rng.integers(-127, 128, (units, h * w * 4)).astype(np.int8)))
    out = _act(spec, (1, units), ([0.05], [3]))
    spec.ops.append(Op("FULLY_CONNECTED", [flat, wts, -1], [out], options("FullyConnectedOptions"),
                       "FullyConnectedOptions"))
    spec.inputs, spec.outputs = [x], [out]
    return build(spec)


def conv_pad_concat_chain(rng, h=6, w=5, c=3, single_output=False) -> bytes:
    """CONV -> PADV2 (value not the zero point, so it stays a PAD) -> CONV VALID -> CONCAT with the
    first CONV's output -> TRANSPOSE -> STRIDED_SLICE (reversed) -> SPLIT into two outputs, one
    of them through GATHER; with ``single_output`` both are concatenated again into one."""
    spec = ModelSpec()
    q = ([0.04], [-20])
    x = _act(spec, (1, h, w, c), ([0.02], [-5]))
    a = _conv(spec, rng, x, 4, q)
    padded = _act(spec, (1, h + 2, w + 2, 4), q)
    spec.ops.append(Op("PADV2", [a, _ints(spec, [[0, 0], [1, 1], [1, 1], [0, 0]]),
                                 spec.add(T((), scale=q[0], zero_point=q[1], data=np.array(7, np.int8)))],
                       [padded], options("PadV2Options"), "PadV2Options"))
    b = _conv(spec, rng, padded, 4, q, padding=1)
    cat = _act(spec, (1, h, w, 8), q)
    spec.ops.append(Op("CONCATENATION", [a, b], [cat], options("ConcatenationOptions", axis=-1),
                       "ConcatenationOptions"))
    tr = _act(spec, (1, 8, h, w), q)
    spec.ops.append(Op("TRANSPOSE", [cat, _ints(spec, [0, 3, 1, 2])], [tr], options("TransposeOptions"),
                       "TransposeOptions"))
    sl_spec = strided_slice_spec((1, 8, h, w), [0, 0, 1, -1], [1, 8, h, 0], [1, 1, 1, -1], end_mask=8)
    sl = _act(spec, sl_spec.out_shape, q)
    spec.ops.append(Op("STRIDED_SLICE", [tr, _ints(spec, [0, 0, 1, -1]), _ints(spec, [1, 8, h, 0]),
                                         _ints(spec, [1, 1, 1, -1])], [sl],
                       options("StridedSliceOptions", endMask=8), "StridedSliceOptions"))
    half = list(sl_spec.out_shape)
    half[1] //= 2
    s0, s1 = _act(spec, half, q), _act(spec, half, q)
    spec.ops.append(Op("SPLIT", [_ints(spec, 1), sl], [s0, s1], options("SplitOptions", numSplits=2), "SplitOptions"))
    g = _act(spec, half[:3] + [3], q)
    spec.ops.append(Op("GATHER", [s1, _ints(spec, [2, 0, 2])], [g], options("GatherOptions", axis=3),
                       "GatherOptions"))
    outs = [s0, g]
    if single_output:
        joined = _act(spec, half[:3] + [half[3] + 3], q)
        spec.ops.append(Op("CONCATENATION", [s0, g], [joined], options("ConcatenationOptions", axis=3),
                           "ConcatenationOptions"))
        outs = [joined]
    spec.inputs, spec.outputs = [x], outs
    return build(spec)
