"""PRELU int8: y = x for x >= 0, alpha * x otherwise, alpha broadcasting into x.

TensorFlow Lite's integer PRELU requantizes a non-negative input (zero point removed) by
input_scale / output_scale and a negative one, multiplied by its alpha (zero point
removed), by input_scale * alpha_scale / output_scale; both ratios are computed from
float32 scales in float32 arithmetic and may exceed one. The output keeps the input's shape.
"""
from __future__ import annotations

import numpy as np

from ..quantization import quantize_multiplier
from . import register
from .elementwise import BinaryElementwise


def prelu_multipliers(input_scale: float, alpha_scale: float, output_scale: float) -> dict[str, int]:
    si, sa, so = np.float32(input_scale), np.float32(alpha_scale), np.float32(output_scale)
    mp, sp = quantize_multiplier(float(np.float32(si / so)))
    mn, sn = quantize_multiplier(float(np.float32(np.float32(si * sa) / so)))
    return dict(positive_multiplier=mp, positive_shift=sp, negative_multiplier=mn, negative_shift=sn)


@register
class Prelu(BinaryElementwise):
    opcode = "PRELU"
    template = "ops/elementwise.j2"
    sources = ("tp_prelu_s8.c", "tp_elementwise_broadcast_s8.c")
    kernel = "tp_prelu_s8"
    params_type = "tp_prelu_params"
    fused_options = False
    roles = ("input", "alpha")

    def prepare(self):
        x, alpha, out = self.input(0), self.input(1), self.output()
        if x.is_constant:
            self.fail(f"input tensor '{x.name}' is constant; expected an activation")
        super().prepare()
        if tuple(out.shape) != tuple(x.shape):
            self.fail(f"alpha {list(alpha.shape)} broadcasts the input {list(x.shape)} to {list(out.shape)}; "
                      "TensorFlow Lite requires the output to keep the input's shape", unsupported=False)

    def constants(self, x, alpha, out):
        return dict(input_offset=-x.zero_point, alpha_offset=-alpha.zero_point, output_offset=out.zero_point,
                    **prelu_multipliers(x.scale, alpha.scale, out.scale))

    def macs(self) -> int:
        return self.size
