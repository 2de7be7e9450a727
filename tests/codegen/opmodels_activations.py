"""int8 models for the table-driven operators (activations as ops, QUANTIZE int8 -> int8)."""
from __future__ import annotations

import numpy as np

from .tflbuild import ModelSpec, Op, T, build, options

LUT_OPS = ("RELU", "RELU6", "RELU_N1_TO_1", "LEAKY_RELU", "LOGISTIC", "TANH", "HARD_SWISH", "QUANTIZE")
ALL_INPUTS = np.arange(-128, 128, dtype=np.int16).astype(np.int8).reshape(1, 1, 256)  # one sample, [1, 256]


def _op(opcode: str, src: int, dst: int, alpha: float | None = None) -> Op:
    if opcode == "LEAKY_RELU":
        return Op(opcode, [src], [dst], options("LeakyReluOptions", alpha=alpha if alpha is not None else 0.2),
                  "LeakyReluOptions")
    return Op(opcode, [src], [dst])


def single(opcode: str, in_scale: float, in_zp: int, out_scale: float, out_zp: int, alpha: float | None = None,
           shape: tuple = (1, 256), in_dtype: str = "int8", out_dtype: str = "int8") -> bytes:
    """One operator, input and output of ``shape``: [1, 256] takes every int8 value at once."""
    spec = ModelSpec()
    i = spec.add(T(shape, in_dtype, scale=[in_scale], zero_point=[in_zp]))
    o = spec.add(T(shape, out_dtype, scale=[out_scale], zero_point=[out_zp]))
    spec.ops.append(_op(opcode, i, o, alpha))
    spec.inputs, spec.outputs = [i], [o]
    return build(spec)


def output_quant(opcode: str, rng) -> tuple[float, int]:
    """An output quantization TFLite accepts for ``opcode`` (the converter's choice for the
    fixed-range ones, random otherwise)."""
    if opcode == "LOGISTIC":
        return 1.0 / 256, -128
    if opcode == "TANH":
        return 1.0 / 128, 0
    return float(rng.uniform(0.01, 0.1)), int(rng.integers(-40, 40))


def conv_chain(rng, ops=("LOGISTIC", "QUANTIZE", "HARD_SWISH", "TANH", "LEAKY_RELU", "RELU6", "RELU_N1_TO_1",
                         "RELU")) -> bytes:
    """CONV_2D [1,6,6,3] -> [1,6,6,4], then ``ops`` one after another (each output overwrites
    its input in the arena), the last writing the model output."""
    spec = ModelSpec()
    inp = spec.add(T((1, 6, 6, 3), scale=[0.02], zero_point=[-5]))
    w_scales = [0.01, 0.015, 0.02, 0.012]
    filt = spec.add(T((4, 3, 3, 3), scale=w_scales, zero_point=[0] * 4,
                      data=rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)))
    bias = spec.add(T((4,), "int32", scale=[0.02 * s for s in w_scales], zero_point=[0] * 4,
                      data=rng.integers(-500, 500, 4).astype(np.int32)))
    src = spec.add(T((1, 6, 6, 4), scale=[0.04], zero_point=[3]))
    spec.ops.append(Op("CONV_2D", [inp, filt, bias], [src],
                       options("Conv2DOptions", padding=0, strideH=1, strideW=1, dilationHFactor=1,
                               dilationWFactor=1, fusedActivationFunction=0), "Conv2DOptions"))
    for opcode in ops:
        scale, zp = output_quant(opcode, rng)
        dst = spec.add(T((1, 6, 6, 4), scale=[scale], zero_point=[zp]))
        spec.ops.append(_op(opcode, src, dst, alpha=float(rng.uniform(-0.5, 0.5))))
        src = dst
    spec.inputs, spec.outputs = [inp], [src]
    return build(spec)
