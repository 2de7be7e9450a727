"""TRANSPOSE_CONV (Keras Conv2DTranspose): int8 input, per-channel int8 filter [out, h, w, in],
optional int32 bias, fused activation.

The kernel is output-stationary (each output sums the input pixels whose stride grid reaches
it), so it needs no int32 scratch the size of the output, and gives TFLite's sums exactly."""
from __future__ import annotations

import numpy as np

from ..quantization import activation_range, per_channel_multipliers
from . import PADDINGS, OpEmitter, register
from .common_spatial import nhwc


def transpose_conv_padding(padding: str, out_size: int, k: int, stride: int) -> int:
    """TFLite's padding for a transposed convolution: that of the forward convolution from
    the transposed output back to its input (sizes swapped), rounded down."""
    fwd_out = (out_size + stride - 1) // stride if padding == "SAME" else (out_size + stride - k) // stride
    return max((fwd_out - 1) * stride + k - out_size, 0) // 2


@register
class TransposeConv(OpEmitter):
    opcode = "TRANSPOSE_CONV"
    template = "ops/transpose_conv.j2"
    sources = ("tp_transpose_conv_s8.c",)
    kernel = "tp_transpose_conv_s8"

    def prepare(self):
        o = self.op.options
        if o is None:
            self.fail("TransposeConvOptions are missing", unsupported=False)
        shape_t = self.input(0)
        filt = self.int8_weights(self.input(1))
        inp = self.activation_tensor(self.input(2), "input")
        out = self.activation_tensor(self.output(), "output")
        self.in_dims = nhwc(inp.shape, f"{self.where()} input")
        self.out_dims = nhwc(out.shape, f"{self.where()} output")
        fshape = nhwc(filt.shape, f"{self.where()} filter")
        if shape_t.is_constant and tuple(int(v) for v in shape_t.data.reshape(-1)) != self.out_dims:
            self.fail(f"output_shape {shape_t.data.reshape(-1).tolist()} differs from the output tensor's "
                      f"{list(self.out_dims)}", unsupported=False)
        if not shape_t.is_constant:
            self.fail(f"output_shape tensor '{shape_t.name}' is not constant")
        n, h, w, c = self.in_dims
        on, oh, ow, oc = self.out_dims
        if on != n or fshape[0] != oc or fshape[3] != c:
            self.fail(f"filter {list(fshape)} does not map input {list(self.in_dims)} to output "
                      f"{list(self.out_dims)}", unsupported=False)
        q = filt.quant
        if q.per_channel and (q.axis != 0 or len(q.scale) != oc):
            self.fail(f"filter is quantized along axis {q.axis} with {len(q.scale)} scales; expected axis 0 "
                      f"with {oc}", unsupported=False)
        padding = PADDINGS.get(int(o.padding))
        if padding is None:
            self.fail(f"padding code {o.padding} is not SAME or VALID", unsupported=False)
        self.stride = (int(o.strideH), int(o.strideW))
        if min(self.stride) < 1:
            self.fail(f"stride {self.stride} must be >= 1", unsupported=False)
        self.k_hw = (fshape[1], fshape[2])
        self.pad = tuple(transpose_conv_padding(padding, s, k, st)
                         for s, k, st in zip((oh, ow), self.k_hw, self.stride))
        fused = self.fused_activation(getattr(o, "fusedActivationFunction", 0) or 0)
        self.act = activation_range(fused, out.scale, out.zero_point)
        self.bias = self.int32_bias(self.input(3, required=False), oc)
        mults, shifts = per_channel_multipliers(inp.scale, q.scale, out.scale)
        self.input_offset, self.output_offset = -inp.zero_point, out.zero_point
        self.per_channel = int(len(mults) > 1)
        self.rounding = self.options.rounding_for(self.op.opcode)
        self.filter_dims = fshape
        self.filter = self.add_array("filter", "int8_t", np.ascontiguousarray(filt.data, np.int8).reshape(-1),
                                     "weights")
        self.bias_channels = oc
        self.bias_name = self.add_array("bias", "int32_t", self.bias.data, "weights") if self.bias is not None else None
        self.mult_name = self.add_array("multiplier", "int32_t", np.array(mults, np.int32), "params")
        self.shift_name = self.add_array("shift", "int32_t", np.array(shifts, np.int32), "params")

    @property
    def activation_inputs(self):
        return [self.input(2)]

    def macs(self) -> int:
        n, h, w, c = self.in_dims
        return n * h * w * c * self.out_dims[3] * self.k_hw[0] * self.k_hw[1]
