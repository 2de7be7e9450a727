"""Requantization constants, computed once on the host exactly as TFLite's Prepare does.

The kernels only do integer math with these (tflite-micro's Prepare/Eval split), so
any difference here would show up as 1-LSB mismatches: the float/double steps below
follow TFLite's order of operations on purpose.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import math
from enum import Enum
from functools import lru_cache

import numpy as np

from tinyml_prune.errors import ModelError

INT8_MIN, INT8_MAX = -128, 127
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


class Rounding(str, Enum):
    """How an int32 accumulator is scaled by ``multiplier · 2^(shift - 31)``.

    ``SINGLE``: one rounding of the 64-bit product (TF 2.21's reference FULLY_CONNECTED);
    ``DOUBLE``: gemmlowp's rounding doubling high multiply, then a rounding right shift (its
    CONV_2D / DEPTHWISE_CONV_2D, and TFLM / CMSIS-NN everywhere). ``c_name`` is the kernels'
    ``tp_rounding`` constant.
    """

    SINGLE = "single"
    DOUBLE = "double"

    @property
    def c_name(self) -> str:
        return f"TP_ROUND_{self.name}"

    @classmethod
    def of(cls, value) -> "Rounding":
        """From a Rounding, ``"single"``/``"double"`` or the C name ``"TP_ROUND_SINGLE"``/``..._DOUBLE``."""
        if isinstance(value, cls):
            return value
        text = str(value)
        for r in cls:
            if text in (r.value, r.c_name):
                return r
        raise ValueError(f"rounding must be single or double (or TP_ROUND_SINGLE/TP_ROUND_DOUBLE), got {value!r}")


def wrap32(x) -> np.ndarray:
    """Two's-complement int32 wrap-around of int64 values (what a C cast to int32_t does)."""
    x = np.asarray(x, np.int64)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _doubling_high_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int64 arrays holding int32 values."""
    ab = a * b
    s = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    q = np.where(s >= 0, s >> 31, -((-s) >> 31))        # C division truncates toward zero
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, q)


def _rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    mask = (np.int64(1) << exponent) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


def multiply_by_quantized_multiplier(x, multiplier, shift, rounding) -> np.ndarray:
    """``x · multiplier · 2^(shift - 31)`` in int32 as the kernels (``tp_requantize``) do it.

    ``x`` is wrapped to int32 first, the result is int32 (int64 array); the arguments broadcast.
    """
    x = wrap32(x)
    m, s = np.asarray(multiplier, np.int64), np.asarray(shift, np.int64)
    if Rounding.of(rounding) is Rounding.SINGLE:
        total = 31 - s
        return wrap32((x * m + (np.int64(1) << (total - 1))) >> total)
    left, right = np.maximum(s, 0), np.maximum(-s, 0)
    return _rounding_divide_by_pot(_doubling_high_mul(wrap32(x << left), m), right)


def requantize(acc, multiplier, shift, zero_point: int, act_min: int, act_max: int, rounding,
               axis: int | None = None) -> np.ndarray:
    """int32 accumulators -> int8: scale, add the output zero point, clamp to the activation range.

    ``multiplier`` and ``shift`` are one value or one per channel; with ``axis`` the channels run
    along that axis of ``acc``, otherwise they broadcast as numpy does.
    """
    acc = np.asarray(acc, np.int64)
    m, s = np.asarray(multiplier, np.int64), np.asarray(shift, np.int64)
    if axis is not None and m.size > 1:
        shape = [1] * acc.ndim
        shape[axis] = -1
        m, s = m.reshape(shape), s.reshape(shape)
    elif m.size == 1:
        m, s = m.reshape(()), s.reshape(())
    out = multiply_by_quantized_multiplier(acc, m, s, rounding) + zero_point
    return np.clip(out, act_min, act_max).astype(np.int8)


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
