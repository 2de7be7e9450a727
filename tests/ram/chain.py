"""Random int8 chains of convolutions (stem -> middle layers -> 1x1 head) for in-place tests.

The stem reads the caller's input and the head writes the caller's output, so every middle
layer reads an arena tensor that dies there: exactly the layers the planner may run in place.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.opmodels import ACTS, PADS, out_size
from codegen.tflbuild import ModelSpec, Op, T, build, options


@dataclass(frozen=True)
class Layer:
    depthwise: bool
    k: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: str
    act: str
    cout: int = 0  # CONV_2D output channels (depthwise: channels x mult)
    mult: int = 1


def _quant_out(spec, in_scale, w_scales, depth, rng):
    scale = float(in_scale * max(w_scales) * np.sqrt(depth) * 400 * rng.uniform(0.3, 1.5))
    return scale, int(rng.integers(-30, 30))


def chain(rng, h: int, w: int, cin: int, stem_cout: int, layers: list[Layer], head_cout: int) -> bytes:
    spec = ModelSpec()
    x = spec.add(T((1, h, w, cin), scale=[float(rng.uniform(0.01, 0.1))], zero_point=[int(rng.integers(-20, 20))]))
    first = x
    stem = Layer(False, (3, 3), (1, 1), (1, 1), "SAME", "RELU", stem_cout)
    head = Layer(False, (1, 1), (1, 1), (1, 1), "VALID", "NONE", head_cout)
    for layer in [stem, *layers, head]:
        t = spec.tensors[x]
        _, ih, iw, ic = t.shape
        kh, kw = layer.k
        oc = ic * layer.mult if layer.depthwise else layer.cout
        oh = out_size(layer.padding, ih, kh, layer.stride[0], layer.dilation[0])
        ow = out_size(layer.padding, iw, kw, layer.stride[1], layer.dilation[1])
        if oh < 1 or ow < 1:
            raise ValueError("layer leaves no output")
        w_scales = [float(s) for s in rng.uniform(0.002, 0.02, oc)]
        fshape = (1, kh, kw, oc) if layer.depthwise else (oc, kh, kw, ic)
        filt = spec.add(T(fshape, scale=w_scales, zero_point=[0] * oc, axis=3 if layer.depthwise else 0,
                          data=rng.integers(-127, 128, fshape).astype(np.int8)))
        bias = spec.add(T((oc,), "int32", scale=[t.scale[0] * s for s in w_scales], zero_point=[0] * oc,
                          data=rng.integers(-3000, 3000, oc).astype(np.int32)))
        scale, zp = _quant_out(spec, t.scale[0], w_scales, kh * kw * (1 if layer.depthwise else ic), rng)
        y = spec.add(T((1, oh, ow, oc), scale=[scale], zero_point=[zp]))
        common = dict(padding=PADS[layer.padding], strideH=layer.stride[0], strideW=layer.stride[1],
                      dilationHFactor=layer.dilation[0], dilationWFactor=layer.dilation[1],
                      fusedActivationFunction=ACTS[layer.act])
        if layer.depthwise:
            op = Op("DEPTHWISE_CONV_2D", [x, filt, bias], [y],
                    options("DepthwiseConv2DOptions", depthMultiplier=layer.mult, **common), "DepthwiseConv2DOptions")
        else:
            op = Op("CONV_2D", [x, filt, bias], [y], options("Conv2DOptions", **common), "Conv2DOptions")
        spec.ops.append(op)
        x = y
    spec.inputs, spec.outputs = [first], [x]
    return build(spec)


def kws_like(rng, h: int = 13, w: int = 5, c: int = 8, blocks: int = 2) -> bytes:
    """DS-CNN shape: depthwise 3x3 then pointwise 1x1, ``blocks`` times."""
    layers = []
    for _ in range(blocks):
        layers.append(Layer(True, (3, 3), (1, 1), (1, 1), "SAME", "RELU"))
        layers.append(Layer(False, (1, 1), (1, 1), (1, 1), "VALID", "RELU", c))
    return chain(rng, h, w, 1, c, layers, 4)
