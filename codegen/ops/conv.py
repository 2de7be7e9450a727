"""CONV_2D and DEPTHWISE_CONV_2D."""
from __future__ import annotations

import numpy as np

from ..quantization import activation_range, per_channel_multipliers
from . import OpEmitter, register
from .common_spatial import nhwc, spatial_padding


class _ConvBase(OpEmitter):
    depthwise = False

    def prepare(self):
        o = self.op.options
        inp = self.activation_tensor(self.input(0), "input")
        out = self.activation_tensor(self.output(), "output")
        filt = self.int8_weights(self.input(1))
        self.in_dims = nhwc(inp.shape, f"{self.where()} input")
        self.out_dims = nhwc(out.shape, f"{self.where()} output")
        n, h, w, c = self.in_dims
        on, oh, ow, oc = self.out_dims
        fshape = nhwc(filt.shape, f"{self.where()} filter")
        if on != n:
            self.fail(f"batch {on} of the output differs from the input's {n}", unsupported=False)
        if self.depthwise:
            if fshape[0] != 1 or fshape[3] != oc:
                self.fail(f"filter shape {list(fshape)} does not match {oc} output channels", unsupported=False)
            if oc % c:
                self.fail(f"{oc} output channels are not a multiple of {c} input channels", unsupported=False)
            self.ch_mult = oc // c
            self.k_hw = (fshape[1], fshape[2])
            channel_axis = 3
        else:
            if fshape[0] != oc:
                self.fail(f"filter has {fshape[0]} output channels, output tensor {oc}", unsupported=False)
            if fshape[3] != c:
                self.fail(f"filter has {fshape[3]} input channels but the input has {c} (grouped convolution)")
            self.k_hw = (fshape[1], fshape[2])
            channel_axis = 0
        q = filt.quant
        if q.per_channel and (q.axis != channel_axis or len(q.scale) != oc):
            self.fail(f"filter is quantized along axis {q.axis} with {len(q.scale)} scales; expected "
                      f"axis {channel_axis} with {oc}", unsupported=False)
        self.bias = self.int32_bias(self.input(2, required=False), oc)
        stride = (int(o.strideH), int(o.strideW))
        dil = (int(o.dilationHFactor), int(o.dilationWFactor))
        self.stride, self.dilation = stride, dil
        self.pad = spatial_padding(self, o.padding, (h, w), self.k_hw, stride, dil, (oh, ow))
        self.act = activation_range(self.fused_activation(o.fusedActivationFunction), out.scale, out.zero_point)
        mults, shifts = per_channel_multipliers(inp.scale, q.scale, out.scale)
        self.input_offset = -inp.zero_point
        self.output_offset = out.zero_point
        self.per_channel = int(len(mults) > 1)
        self.rounding = self.options.rounding_for(self.op.opcode)
        self.filter_dims = (1, *self.k_hw, oc) if self.depthwise else (oc, *self.k_hw, c)
        self.filter = self.encode_weights(filt.data)
        self.bias_channels = self.out_dims[3] if hasattr(self, "out_dims") else self.out_c
        self.bias_name = self.add_array("bias", "int32_t", self.bias.data, "weights") if self.bias is not None else None
        self.mult_name = self.add_array("multiplier", "int32_t", np.array(mults, np.int32), "params")
        self.shift_name = self.add_array("shift", "int32_t", np.array(shifts, np.int32), "params")

    def macs(self) -> int:
        _, oh, ow, oc = self.out_dims
        per_out = self.k_hw[0] * self.k_hw[1] * (1 if self.depthwise else self.in_dims[3])
        return self.out_dims[0] * oh * ow * oc * per_out


@register
class Conv2D(_ConvBase):
    opcode = "CONV_2D"
    template = "ops/conv_2d.j2"
    sources = ("tp_convolve_s8.c",)
    kernel = "tp_convolve_s8"

    def scratch_bytes(self) -> int:
        """Dense: the optimized kernels' int16 im2col of two pixels (tp_convolve_s8_get_buffer_size
        in firmware/kernels/dsp; the reference kernel ignores it); sparse formats: their patch."""
        if getattr(self, "weight_format", "dense") != "dense":
            return self.format_scratch
        patch4 = -(-self.k_hw[0] * self.k_hw[1] * self.in_dims[3] // 4) * 4
        return 6 * patch4 + 4


@register
class DepthwiseConv2D(_ConvBase):
    opcode = "DEPTHWISE_CONV_2D"
    template = "ops/depthwise_conv_2d.j2"
    sources = ("tp_depthwise_conv_s8.c",)
    kernel = "tp_depthwise_conv_s8"
    depthwise = True
