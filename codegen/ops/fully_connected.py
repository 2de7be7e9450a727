"""FULLY_CONNECTED, per-tensor or per-channel weights."""
from __future__ import annotations

import numpy as np

from tinyml_prune.errors import ModelError

from ..quantization import activation_range, per_channel_multipliers
from . import OpEmitter, register
from .conv import VARIANTS, choose_variant


@register
class FullyConnected(OpEmitter):
    opcode = "FULLY_CONNECTED"
    template = "ops/fully_connected.j2"
    sources = ("tp_fully_connected_s8.c",)
    kernel = "tp_fully_connected_s8"

    def prepare(self):
        o = self.op.options
        inp = self.activation_tensor(self.input(0), "input")
        out = self.activation_tensor(self.output(), "output")
        filt = self.int8_weights(self.input(1))
        if o is not None and int(getattr(o, "weightsFormat", 0)) != 0:
            self.fail("shuffled weights format is not supported")
        if len(filt.shape) != 2:
            self.fail(f"filter has shape {list(filt.shape)}; expected [out, in]", unsupported=False)
        out_c, depth = filt.shape
        if inp.size % depth:
            self.fail(f"input size {inp.size} is not a multiple of the filter depth {depth}", unsupported=False)
        self.rows = inp.size // depth
        self.depth, self.out_c = depth, out_c
        if out.size != self.rows * out_c:
            self.fail(f"output has {out.size} values, expected {self.rows} x {out_c}", unsupported=False)
        q = filt.quant
        if q.per_channel and len(q.scale) != out_c:
            self.fail(f"filter has {len(q.scale)} scales for {out_c} outputs", unsupported=False)
        self.bias = self.int32_bias(self.input(2, required=False), out_c)
        fused = self.fused_activation(o.fusedActivationFunction if o is not None else 0)
        self.act = activation_range(fused, out.scale, out.zero_point)
        # TFLite derives the per-tensor ratio from a float32 product, per-channel ones in double.
        try:
            mults, shifts = per_channel_multipliers(inp.scale, q.scale, out.scale, float_product=not q.per_channel)
        except ModelError as e:  # name the operator
            self.fail(str(e), unsupported=False)
        self.per_channel = int(q.per_channel)
        self.input_offset = -inp.zero_point
        self.filter_offset = -int(q.zero_point[0])
        self.output_offset = out.zero_point
        self.rounding = self.options.rounding_for(self.op.opcode)
        self.filter_dims = (out_c, 1, 1, depth)
        self.filter = self.encode_weights(filt.data)
        self.bias_channels = self.out_dims[3] if hasattr(self, "out_dims") else self.out_c
        self.bias_name = self.add_array("bias", "int32_t", self.bias.data, "weights") if self.bias is not None else None
        self.mult_name = self.add_array("multiplier", "int32_t", np.array(mults, np.int32), "params")
        self.shift_name = self.add_array("shift", "int32_t", np.array(shifts, np.int32), "params")
        self.kernel_variant, self.variant_reason = choose_variant(
            np.asarray(filt.data).reshape(out_c, depth), None if self.bias is None else self.bias.data, shifts,
            self.input_offset)
        self.variant = VARIANTS[self.kernel_variant]

    def manifest_fields(self) -> dict:
        if getattr(self, "weight_format", "dense") != "dense":
            return {}
        return dict(kernel_variant=self.kernel_variant, variant_reason=self.variant_reason,
                    loop=f"matrix-vector, depth {self.depth}")

    def macs(self) -> int:
        return self.rows * self.depth * self.out_c
