"""Requantization constants, computed once on the host exactly as TFLite's Prepare does.

The kernels only do integer math with these (tflite-micro's Prepare/Eval split), so
any difference here would show up as 1-LSB mismatches: the float/double steps below
follow TFLite's order of operations on purpose.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import math
from functools import lru_cache

import numpy as np

from tinyml_prune.errors import ModelError

INT8_MIN, INT8_MAX = -128, 127


def _round_half_away(x: float) -> int:
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """real -> (multiplier in [2^30, 2^31), shift) with real ~= multiplier * 2^(shift - 31)."""
    if real == 0.0:
        return 0, 0
    if not math.isfinite(real) or real < 0:
        raise ModelError(f"cannot requantize with scale ratio {real}")
    q, shift = math.frexp(real)
    q_fixed = _round_half_away(q * (1 << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:  # too small to matter: everything rounds to zero
        return 0, 0
    if shift > 30:
        raise ModelError(f"scale ratio {real} is too large to requantize (shift {shift} > 30)")
    return q_fixed, shift


def per_channel_multipliers(input_scale: float, filter_scales: np.ndarray, output_scale: float,
                            float_product: bool = False) -> tuple[list[int], list[int]]:
    """Multipliers for conv / FC: in_scale * w_scale[c] / out_scale per channel.

    TFLite computes the per-channel ratio in double, but the per-tensor FULLY_CONNECTED ratio
    from a float32 product (GetQuantizedConvolutionMultipler); ``float_product`` selects that.
    """
    mults, shifts = [], []
    for fs in np.asarray(filter_scales, dtype=np.float32):
        if float_product:
            real = float(np.float32(np.float32(input_scale) * fs)) / float(np.float32(output_scale))
        else:
            real = float(np.float32(input_scale)) * float(fs) / float(np.float32(output_scale))
        m, s = quantize_multiplier(real)
        mults.append(m)
        shifts.append(s)
    return mults, shifts


def activation_range(fused: str, scale: float, zero_point: int) -> tuple[int, int]:
    """Quantized clamp for a fused activation, rounding as TFLite does (float32 division)."""

    def q(v: float) -> int:
        with np.errstate(over="ignore"):
            x = float(np.float32(v) / np.float32(scale))
        # A tiny scale overflows float32 to inf; TFLite then clamps to the int8 range anyway.
        return zero_point + _round_half_away(min(max(x, -2.0 ** 31), 2.0 ** 31))

    if fused == "NONE":
        return INT8_MIN, INT8_MAX
    if fused == "RELU":
        return max(INT8_MIN, q(0.0)), INT8_MAX
    if fused == "RELU6":
        return max(INT8_MIN, q(0.0)), min(INT8_MAX, q(6.0))
    if fused == "RELU_N1_TO_1":
        return max(INT8_MIN, q(-1.0)), min(INT8_MAX, q(1.0))
    raise ValueError(fused)


@lru_cache(maxsize=1)
def _libm_expf():
    """The C library's expf: TFLite fills its softmax table with it, so we must too."""
    name = ctypes.util.find_library("m") or "libm.so.6"
    fn = ctypes.CDLL(name).expf
    fn.restype = ctypes.c_float
    fn.argtypes = [ctypes.c_float]
    return fn


def softmax_exp_table(input_scale: float, beta: float) -> np.ndarray:
    """table[255 - d] = expf(-input_scale * beta * d) for d in 0..255, in float32 steps."""
    expf = _libm_expf()
    scale = np.float32(-np.float32(input_scale) * np.float32(beta))
    table = np.zeros(256, dtype=np.float32)
    with np.errstate(over="ignore"):  # a product past float32 is -inf, and expf(-inf) = 0 as in TFLite
        for d in range(256):
            table[255 - d] = expf(float(np.float32(scale * np.float32(d))))
    return table


def add_multipliers(scale1: float, scale2: float, out_scale: float, left_shift: int = 20) -> dict:
    """Constants of TFLite's int8 ADD: inputs rescaled to twice the larger input scale."""
    s1, s2, so = np.float32(scale1), np.float32(scale2), np.float32(out_scale)
    twice_max = float(np.float32(2) * max(s1, s2))
    m1, sh1 = quantize_multiplier(float(s1) / twice_max)
    m2, sh2 = quantize_multiplier(float(s2) / twice_max)
    mo, sho = quantize_multiplier(twice_max / float(np.float32((1 << left_shift) * so)))
    for name, sh in (("input 1", sh1), ("input 2", sh2), ("output", sho)):
        if sh > 0:
            raise ModelError(f"ADD {name} scale ratio needs a left shift ({sh}); scales {scale1}, {scale2} -> {out_scale}")
    return dict(input1_multiplier=m1, input1_shift=sh1, input2_multiplier=m2, input2_shift=sh2,
                output_multiplier=mo, output_shift=sho, left_shift=left_shift)
