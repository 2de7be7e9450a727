"""int32 accumulator → int8, exactly as TFLite's reference kernels (vectorised numpy).

TF 2.21's reference CONV_2D uses gemmlowp double rounding, its FULLY_CONNECTED single
rounding (measured against the interpreter). Both are given here as array functions; the constants
(multiplier, shift, activation range) come from the code generator's ``codegen/quantization.py``.
"""
from __future__ import annotations

import numpy as np

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


def _srdhm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int64 arrays holding int32 values."""
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    q = np.where(s >= 0, s >> 31, -((-s) >> 31))        # C division truncates toward zero
    return np.where((a == I32_MIN) & (b == I32_MIN), I32_MAX, q)


def _rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_double_rounding(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """TFLite ``MultiplyByQuantizedMultiplier`` (double rounding); channel axis first in ``acc``."""
    acc = np.asarray(acc, np.int64)
    m, s = _per_row(multiplier, acc), _per_row(shift, acc)
    left, right = np.maximum(s, 0), np.maximum(-s, 0)
    shifted = (acc << left).astype(np.int32).astype(np.int64)      # int32 wrap like the C code
    return _rounding_divide_by_pot(_srdhm(shifted, m), right)


def multiply_single_rounding(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """TFLite's single-rounding ``MultiplyByQuantizedMultiplier``: one rounding of x·M·2^(shift-31)."""
    acc = np.asarray(acc, np.int64)
    m, s = _per_row(multiplier, acc), _per_row(shift, acc)
    total = 31 - s
    return (acc * m + (np.int64(1) << (total - 1))) >> total


def requantize(acc: np.ndarray, multiplier, shift, output_zero_point: int, act_min: int, act_max: int,
               rounding: str) -> np.ndarray:
    """int32 accumulators ``[channels, ...]`` → int8 with the output zero point and clamp."""
    fn = {"double": multiply_double_rounding, "single": multiply_single_rounding}[rounding]
    out = fn(acc, np.asarray(multiplier, np.int64), np.asarray(shift, np.int64)) + output_zero_point
    return np.clip(out, act_min, act_max).astype(np.int8)


def _per_row(v: np.ndarray, acc: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.int64)
    if v.ndim == 0 or v.size == 1:
        return v.reshape(())
    return v.reshape((-1,) + (1,) * (acc.ndim - 1))
