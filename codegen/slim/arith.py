"""Integer mirrors of the kernels' requantization, for computing a constant channel's value.

A channel whose output does not depend on the input still goes through the kernel's
``bias -> requantize -> + zero point -> clamp`` path; these functions do that path in Python
with the same wrap-around and rounding as ``tp_nn_support.h`` (itself bit-exact with TFLite),
so the value the slim pass folds away is exactly the value the dense kernel would write.
"""
from __future__ import annotations

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def wrap32(x: int) -> int:
    return ((int(x) + (1 << 31)) % (1 << 32)) - (1 << 31)


def doubling_high_mul(a: int, b: int) -> int:
    if a == INT32_MIN and b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    q = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
    r = abs(q) >> 31  # C division truncates toward zero
    return wrap32(r if q >= 0 else -r)


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)


def requantize(x: int, multiplier: int, shift: int, rounding: str) -> int:
    """``tp_requantize``: ``rounding`` is ``TP_ROUND_SINGLE`` or ``TP_ROUND_DOUBLE``."""
    x = wrap32(x)
    if rounding == "TP_ROUND_SINGLE":
        total = 31 - shift
        return wrap32((x * multiplier + (1 << (total - 1))) >> total)
    left, right = max(shift, 0), max(-shift, 0)
    return rounding_divide_by_pot(doubling_high_mul(wrap32(x << left), multiplier), right)


def clamp(v: int, act: tuple[int, int]) -> int:
    return max(act[0], min(act[1], v))


def gemm_output(acc: int, multiplier: int, shift: int, rounding: str, out_zp: int, act) -> int:
    """What CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED write for accumulator ``acc``."""
    return clamp(requantize(acc, multiplier, shift, rounding) + out_zp, act)


def add_output(a: int, b: int, c: dict, rounding: str, act) -> int:
    """``tp_elementwise_add_s8`` for one pair of int8 inputs (constants from add_multipliers)."""
    up = 1 << c["left_shift"]
    sa = requantize(wrap32((a + c["input1_offset"]) * up), c["input1_multiplier"], c["input1_shift"], rounding)
    sb = requantize(wrap32((b + c["input2_offset"]) * up), c["input2_multiplier"], c["input2_shift"], rounding)
    out = requantize(wrap32(sa + sb), c["output_multiplier"], c["output_shift"], rounding) + c["output_offset"]
    return clamp(out, act)
