"""int8 models of the elementwise binary operators (ADD, SUB, MUL, MAXIMUM, MINIMUM,
SQUARED_DIFFERENCE, PRELU) with broadcasting, for bit-exact sweeps against TFLite."""
from __future__ import annotations

import numpy as np

from .tflbuild import ModelSpec, Op, T, build, options

ACTS = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}
# The options table each operator's flatbuffer carries (None: the operator has none).
OPTIONS = {"ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions", "MAXIMUM": "MaximumMinimumOptions",
           "MINIMUM": "MaximumMinimumOptions", "SQUARED_DIFFERENCE": "SquaredDifferenceOptions",
           "PRELU": None}
FUSED = ("ADD", "SUB", "MUL")


def output_scale(opcode: str, s1: float, s2: float, rng) -> float:
    """An output scale that maps the op's typical result range onto int8 (a few saturate)."""
    if opcode in ("ADD", "SUB"):
        return float(max(s1, s2) * rng.uniform(0.8, 3.0))
    if opcode == "MUL":
        return float(s1 * s2 * rng.uniform(40.0, 250.0))
    if opcode == "SQUARED_DIFFERENCE":
        return float(max(s1, s2) ** 2 * rng.uniform(100.0, 600.0))
    if opcode == "PRELU":
        return float(s1 * rng.uniform(0.5, 2.0))
    return s1  # MAXIMUM / MINIMUM


def binary(rng, opcode: str, shape1, shape2, const_side: int | None = None, act: str = "NONE",
           same_quant: bool = False) -> bytes:
    """One ``opcode`` of inputs shaped ``shape1`` and ``shape2`` (broadcast to the output); the
    input numbered ``const_side`` (1 or 2) is a constant, the others are graph inputs."""
    spec = ModelSpec()
    s1 = float(rng.uniform(0.005, 0.1))
    zp1 = int(rng.integers(-40, 40))
    if same_quant:
        s2, zp2 = s1, zp1
    elif opcode == "PRELU":  # alpha: small positive slopes, usually
        s2, zp2 = float(rng.uniform(0.001, 0.01)), int(rng.integers(-128, -60))
    else:
        s2, zp2 = float(rng.uniform(0.005, 0.1)), int(rng.integers(-40, 40))
    out_shape = tuple(int(d) for d in np.broadcast_shapes(tuple(shape1), tuple(shape2)))
    if same_quant or opcode in ("MAXIMUM", "MINIMUM"):
        so, zpo = (s1, zp1) if same_quant else (float(rng.uniform(0.005, 0.1)), int(rng.integers(-40, 40)))
    else:
        so, zpo = output_scale(opcode, s1, s2, rng), int(rng.integers(-60, 60))
        if opcode == "SQUARED_DIFFERENCE":
            zpo = int(rng.integers(-128, -100))
    ins = []
    for k, (shape, s, zp) in enumerate(((shape1, s1, zp1), (shape2, s2, zp2)), start=1):
        data = rng.integers(-128, 128, tuple(shape)).astype(np.int8) if const_side == k else None
        ins.append(spec.add(T(tuple(shape), scale=[s], zero_point=[zp], data=data, name=f"in{k}")))
    out = spec.add(T(out_shape, scale=[so], zero_point=[zpo], name="out"))
    name = OPTIONS[opcode]
    opts = None
    if name is not None:
        fields = dict(fusedActivationFunction=ACTS[act]) if opcode in FUSED else {}
        opts = options(name, **fields)
    spec.ops.append(Op(opcode, ins, [out], opts, name))
    spec.inputs = [t for k, t in enumerate(ins, start=1) if k != const_side]
    spec.outputs = [out]
    return build(spec)


def same_tensor_twice(rng, opcode: str, shape) -> bytes:
    """``opcode(x, x)``: both operands read the same graph input."""
    spec = ModelSpec()
    s, zp = float(rng.uniform(0.01, 0.1)), int(rng.integers(-30, 30))
    x = spec.add(T(tuple(shape), scale=[s], zero_point=[zp], name="x"))
    out = spec.add(T(tuple(shape), scale=[output_scale(opcode, s, s, rng)], zero_point=[int(rng.integers(-20, 20))]))
    name = OPTIONS[opcode]
    spec.ops.append(Op(opcode, [x, x], [out], options(name) if name else None, name))
    spec.inputs, spec.outputs = [x], [out]
    return build(spec)


def gated_residual(rng, h: int = 4, w: int = 5, c: int = 6) -> bytes:
    """A chain of broadcasting ops whose intermediates live in the arena: x [1,h,w,c] times a
    per-channel constant gate [c] (MUL), a per-row constant [1,h,1,1] plus that (ADD, the
    constant first, RELU), then x minus the sum (SUB); every tensor has its own quantization."""
    spec = ModelSpec()
    sx, zx = 0.04, -5
    x = spec.add(T((1, h, w, c), scale=[sx], zero_point=[zx], name="x"))
    gate = spec.add(T((c,), scale=[0.02], zero_point=[3], data=rng.integers(-128, 128, (c,)).astype(np.int8),
                      name="gate"))
    m = spec.add(T((1, h, w, c), scale=[0.05], zero_point=[2], name="gated"))
    spec.ops.append(Op("MUL", [x, gate], [m], options("MulOptions", fusedActivationFunction=0), "MulOptions"))
    bias = spec.add(T((1, h, 1, 1), scale=[0.03], zero_point=[-7],
                      data=rng.integers(-128, 128, (1, h, 1, 1)).astype(np.int8), name="row_bias"))
    a = spec.add(T((1, h, w, c), scale=[0.06], zero_point=[-100], name="biased"))
    spec.ops.append(Op("ADD", [bias, m], [a], options("AddOptions", fusedActivationFunction=1), "AddOptions"))
    out = spec.add(T((1, h, w, c), scale=[0.07], zero_point=[4], name="out"))
    spec.ops.append(Op("SUB", [x, a], [out], options("SubOptions", fusedActivationFunction=0), "SubOptions"))
    spec.inputs, spec.outputs = [x], [out]
    return build(spec)


def conv_add_channel_constant_conv(rng) -> bytes:
    """CONV 1x1 with two all-zero output channels -> ADD of a [1,1,1,C] constant -> CONV 1x1:
    the slim pass drops those channels from the convolution, the ADD's broadcast constant and
    the second convolution's input."""
    spec = ModelSpec()
    conv = dict(padding=1, strideH=1, strideW=1, dilationHFactor=1, dilationWFactor=1)
    x = spec.add(T((1, 4, 4, 2), scale=[0.05], zero_point=[3], name="x"))
    w = rng.integers(-127, 128, (4, 1, 1, 2)).astype(np.int8)
    w[[1, 3]] = 0
    f = spec.add(T((4, 1, 1, 2), scale=[0.01] * 4, zero_point=[0] * 4, data=w))
    b = spec.add(T((4,), "int32", scale=[0.0005] * 4, zero_point=[0] * 4, data=np.array([10, 0, -20, 0], np.int32)))
    c = spec.add(T((1, 4, 4, 4), scale=[0.04], zero_point=[-2]))
    spec.ops.append(Op("CONV_2D", [x, f, b], [c], options("Conv2DOptions", **conv), "Conv2DOptions"))
    k = spec.add(T((1, 1, 1, 4), scale=[0.03], zero_point=[1], data=np.array([[[[5, 9, -7, 0]]]], np.int8),
                   name="channel_bias"))
    a = spec.add(T((1, 4, 4, 4), scale=[0.06], zero_point=[0]))
    spec.ops.append(Op("ADD", [c, k], [a], options("AddOptions", fusedActivationFunction=0), "AddOptions"))
    f2 = spec.add(T((3, 1, 1, 4), scale=[0.01] * 3, zero_point=[0] * 3,
                    data=rng.integers(-127, 128, (3, 1, 1, 4)).astype(np.int8)))
    b2 = spec.add(T((3,), "int32", scale=[0.0006] * 3, zero_point=[0] * 3, data=np.array([1, 2, 3], np.int32)))
    out = spec.add(T((1, 4, 4, 3), scale=[0.1], zero_point=[0]))
    spec.ops.append(Op("CONV_2D", [a, f2, b2], [out], options("Conv2DOptions", **conv), "Conv2DOptions"))
    spec.inputs, spec.outputs = [x], [out]
    return build(spec)
