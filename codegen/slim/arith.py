"""Integer mirrors of the kernels' requantization, for computing a constant channel's value.

A channel whose output does not depend on the input still goes through the kernel's
``bias -> requantize -> + zero point -> clamp`` path; these functions do that path in Python
with the code generator's requantizer (``codegen.quantization``, the same wrap-around and
rounding as ``tp_nn_support.h``), so the value the slim pass folds away is exactly the value
the dense kernel would write.
"""
from __future__ import annotations

from ..quantization import multiply_by_quantized_multiplier


def wrap32(x: int) -> int:
    return ((int(x) + (1 << 31)) % (1 << 32)) - (1 << 31)


def requantize(x: int, multiplier: int, shift: int, rounding) -> int:
    """``tp_requantize``: ``rounding`` is a ``Rounding`` or its C name (``TP_ROUND_SINGLE``...)."""
    return int(multiply_by_quantized_multiplier(wrap32(x), multiplier, shift, rounding))


def clamp(v: int, act: tuple[int, int]) -> int:
    return max(act[0], min(act[1], v))


def gemm_output(acc: int, multiplier: int, shift: int, rounding, out_zp: int, act) -> int:
    """What CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED write for accumulator ``acc``."""
    return clamp(requantize(acc, multiplier, shift, rounding) + out_zp, act)


def add_output(a: int, b: int, c: dict, rounding, act) -> int:
    """``tp_elementwise_add_s8`` for one pair of int8 inputs (constants from add_multipliers)."""
    up = 1 << c["left_shift"]
    sa = requantize(wrap32((a + c["input1_offset"]) * up), c["input1_multiplier"], c["input1_shift"], rounding)
    sb = requantize(wrap32((b + c["input2_offset"]) * up), c["input2_multiplier"], c["input2_shift"], rounding)
    out = requantize(wrap32(sa + sb), c["output_multiplier"], c["output_shift"], rounding) + c["output_offset"]
    return clamp(out, act)
