"""CONV_2D and DEPTHWISE_CONV_2D."""
from __future__ import annotations

import numpy as np

from tinyml_prune.errors import ModelError

from .. import kernel_contract
from ..quantization import activation_range, per_channel_multipliers
from . import OpEmitter, register
from .common_spatial import nhwc, spatial_padding

# The optimized kernels' fast requantization is exact while accumulators of channels with a
# negative shift stay below this magnitude (tp_requant_fast.h); beyond it they take the wide one.
FAST_ACCUMULATOR_LIMIT = 1 << 30
# Taps the DSP depthwise kernel widens into its stack table (TP_DW_MAX_TAPS).
DW_MAX_TAPS = 64
VARIANTS = {"generic": "TP_VARIANT_GENERIC", "fast": "TP_VARIANT_FAST", "fast-wide": "TP_VARIANT_FAST_WIDE"}


def accumulator_bound(rows: np.ndarray, bias: np.ndarray | None, input_offset: int) -> np.ndarray:
    """Per output channel, the largest |accumulator| any int8 input can produce: |bias| plus
    sum |w| times the largest |x + input_offset| (a padded tap adds nothing)."""
    span = max(abs(-128 + input_offset), abs(127 + input_offset))
    bound = np.abs(rows.astype(np.int64)).sum(axis=1) * span
    if bias is not None:
        bound = bound + np.abs(np.asarray(bias, np.int64).reshape(-1))
    return bound


def choose_variant(rows: np.ndarray, bias: np.ndarray | None, shifts, input_offset: int,
                   generic_reason: str | None = None) -> tuple[str, str]:
    """(variant, why) of an optimized kernel, from the layer's constants: ``rows`` is the
    filter as [output channel, taps]. Decided here once, so that no kernel tests at run time
    which path it may take."""
    if generic_reason:
        return "generic", generic_reason
    bound = accumulator_bound(rows, bias, input_offset)
    shifts = np.broadcast_to(np.asarray(shifts, np.int64), bound.shape)
    over = (bound >= FAST_ACCUMULATOR_LIMIT) & (shifts < 0)
    if over.any():
        c = int(np.argmax(over))
        return "fast-wide", (f"channel {c} can accumulate {int(bound[c])} >= 2^30 with shift {int(shifts[c])}: "
                             "requantized through the 64-bit product")
    return "fast", f"accumulators within {int(bound.max(initial=0))}"


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
        try:
            mults, shifts = per_channel_multipliers(inp.scale, q.scale, out.scale)
        except ModelError as e:  # name the operator
            self.fail(str(e), unsupported=False)
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
        self.kernel_variant, self.variant_reason = choose_variant(
            self._filter_rows(filt.data), None if self.bias is None else self.bias.data, shifts, self.input_offset,
            self._generic_reason())
        self.variant = VARIANTS[self.kernel_variant]

    def _filter_rows(self, data: np.ndarray) -> np.ndarray:
        oc = self.out_dims[3]
        return data.reshape(-1, oc).T if self.depthwise else data.reshape(oc, -1)

    def _generic_reason(self) -> str | None:
        if self.rounding != "TP_ROUND_DOUBLE":
            return "single rounding: the optimized loops round twice, as TFLite's convolutions do"
        return None

    def loop_shape(self) -> str:
        """Which loop of the optimized kernel the layer's shape selects (for the manifest)."""
        kh, kw = self.k_hw
        if self.depthwise:
            return f"depthwise {kh}x{kw} stride {self.stride[0]}"
        if (kh, kw) == (1, 1) and self.pad == (0, 0):
            return "pointwise (GEMM on the NHWC input)"
        return f"{kh}x{kw} conv, Cin {self.in_dims[3]} (GEMM on gathered patches)"

    def manifest_fields(self) -> dict:
        if getattr(self, "weight_format", "dense") != "dense":
            return {}
        return dict(kernel_variant=self.kernel_variant, variant_reason=self.variant_reason,
                    loop=self.loop_shape())

    def scratch_bytes(self) -> int:
        """What the kernel's own get_buffer_size asks for (dense or the weight format's kernel):
        for the target board's variant, or the most any variant needs when there is no target."""
        return kernel_contract.scratch_bytes(self.kernel, self.sources[0], input_dims=self.in_dims,
                                             filter_dims=self.filter_dims, padding=self.pad,
                                             target=self.options.target)

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


@register
class DepthwiseConv2D(_ConvBase):
    opcode = "DEPTHWISE_CONV_2D"
    template = "ops/depthwise_conv_2d.j2"
    sources = ("tp_depthwise_conv_s8.c",)
    kernel = "tp_depthwise_conv_s8"
    depthwise = True

    def _generic_reason(self) -> str | None:
        if self.rounding != "TP_ROUND_DOUBLE":
            return "single rounding: the optimized loops round twice, as TFLite's convolutions do"
        if self.ch_mult != 1:
            return f"depth multiplier {self.ch_mult}: the optimized loops take multiplier 1"
        if self.k_hw[0] * self.k_hw[1] > DW_MAX_TAPS:
            return f"{self.k_hw[0]}x{self.k_hw[1]} window: more than the {DW_MAX_TAPS} taps the DSP loop tables"
        return None
