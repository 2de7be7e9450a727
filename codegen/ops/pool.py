"""AVERAGE_POOL_2D and MAX_POOL_2D (no requantization: input and output share scale)."""
from __future__ import annotations

from ..quantization import activation_range
from . import OpEmitter, register
from .common_spatial import nhwc, spatial_padding


class _Pool(OpEmitter):
    template = "ops/pool.j2"
    sources = ("tp_pool_s8.c",)

    def prepare(self):
        o = self.op.options
        inp = self.activation_tensor(self.input(0), "input")
        out = self.activation_tensor(self.output(), "output")
        if inp.scale != out.scale or inp.zero_point != out.zero_point:
            self.fail(f"input (scale {inp.scale}, zero point {inp.zero_point}) and output (scale {out.scale}, "
                      f"zero point {out.zero_point}) quantization differ; pooling cannot requantize")
        self.in_dims = nhwc(inp.shape, f"{self.where()} input")
        self.out_dims = nhwc(out.shape, f"{self.where()} output")
        if self.in_dims[3] != self.out_dims[3] or self.in_dims[0] != self.out_dims[0]:
            self.fail(f"input {list(inp.shape)} and output {list(out.shape)} differ in batch or channels",
                      unsupported=False)
        self.k_hw = (int(o.filterHeight), int(o.filterWidth))
        self.stride = (int(o.strideH), int(o.strideW))
        self.pad = spatial_padding(self, o.padding, self.in_dims[1:3], self.k_hw, self.stride, (1, 1),
                                   self.out_dims[1:3])
        self.act = activation_range(self.fused_activation(o.fusedActivationFunction), out.scale, out.zero_point)

    def macs(self) -> int:
        n, oh, ow, c = self.out_dims
        return n * oh * ow * c * self.k_hw[0] * self.k_hw[1]


@register
class AveragePool2D(_Pool):
    opcode = "AVERAGE_POOL_2D"
    kernel = "tp_avgpool_s8"


@register
class MaxPool2D(_Pool):
    opcode = "MAX_POOL_2D"
    kernel = "tp_maxpool_s8"
