"""256-entry look-up tables for int8 -> int8 operators, computed as TensorFlow Lite does.

Every operator here maps one int8 input value to one int8 output value, so the generated C
only looks the answer up (``tp_lut_s8``). Each ``*_table`` function reproduces the
arithmetic of TFLite's reference kernel for that operator -- its Prepare (multipliers,
shifts, float steps in float32 where TFLite uses float) and its Eval (integer widths,
saturation, wrap-around, C's truncating division) -- for all 256 inputs. Because the
reference kernel itself is a pure function of the input byte, the table is exact by
construction; the tests compare every entry against the interpreter.

Tables are indexed by ``input + 128``: entry 0 is the output for input -128.

A model that TFLite's Prepare rejects raises :class:`LutError` with the reason; the op
emitters turn it into a message naming the operator.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import math
from functools import lru_cache

import numpy as np

from tinyml_prune.errors import ModelError

from .quantization import INT8_MAX, INT8_MIN, _libm_expf, activation_range, quantize_multiplier

INPUTS = np.arange(INT8_MIN, INT8_MAX + 1, dtype=np.int64)  # table entry k is input k - 128

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


class LutError(ValueError):
    """Quantization parameters no table can be built for.

    ``tflite_rejects``: TFLite's own Prepare refuses them too (an invalid model), as opposed
    to a ratio TFLite would run through undefined C behaviour that cannot be reproduced."""

    def __init__(self, message: str, tflite_rejects: bool = True):
        super().__init__(message)
        self.tflite_rejects = tflite_rejects


# -- C integer semantics ------------------------------------------------------------------
def _wrap(v: int, bits: int) -> int:
    """Two's-complement truncation to ``bits`` (a C cast to a narrower signed integer)."""
    m = 1 << bits
    v &= m - 1
    return v - m if v >= m >> 1 else v


def _cdiv(a: int, b: int) -> int:
    """C integer division: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def doubling_high_mul(a: int, b: int, bits: int = 32) -> int:
    """gemmlowp's SaturatingRoundingDoublingHighMul for int32 or int16 operands."""
    lo = -(1 << (bits - 1))
    if a == b == lo:
        return (1 << (bits - 1)) - 1
    ab = a * b
    nudge = (1 << (bits - 2)) if ab >= 0 else 1 - (1 << (bits - 2))
    return _wrap(_cdiv(ab + nudge, 1 << (bits - 1)), bits)


def doubling_high_mul_truncating(a: int, b: int) -> int:
    """TFLite's int16 SaturatingDoublingHighMul (HARD_SWISH): like the above, rounding to zero."""
    if a == b == INT16_MIN:
        return INT16_MAX
    return _wrap(_cdiv(a * b, 1 << 15), 16)


def rounding_divide_by_pot(x: int, exponent: int, bits: int = 32) -> int:
    """gemmlowp's RoundingDivideByPOT evaluated in ``bits``-wide integers (mask and all)."""
    mask = _wrap((1 << exponent) - 1, bits)
    remainder = _wrap(x & mask, bits)
    threshold = _wrap((mask >> 1) + (1 if x < 0 else 0), bits)
    return _wrap((x >> exponent) + (1 if remainder > threshold else 0), bits)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int, rounding: str = "double") -> int:
    """TFLite's MultiplyByQuantizedMultiplier(int32 x, ...).

    "double": left shift in int32 (wrapping), rounding doubling high multiply, rounding
    right shift -- TFLite's default build. "single": one 64-bit product rounded once
    (TFLITE_SINGLE_ROUNDING builds)."""
    if rounding == "single":
        total = 31 - shift
        return _wrap((x * multiplier + (1 << (total - 1))) >> total, 32)
    left, right = max(shift, 0), max(-shift, 0)
    return rounding_divide_by_pot(doubling_high_mul(_wrap(x * (1 << left), 32), multiplier), right)


def quantize_multiplier_signed(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier, also for negative ratios (LEAKY_RELU with alpha < 0).

    For a negative ratio TFLite rounds the negative mantissa and never renormalizes -2^31
    (the positive path halves 2^31 and bumps the shift); that asymmetry is kept."""
    if real >= 0:
        return _checked_multiplier(real)
    m, s = _checked_multiplier(-real)
    if m == 1 << 30 and math.frexp(-real)[0] > 0.5:  # the mantissa rounded up to 2^31
        return INT32_MIN, s - 1
    return -m, s


def _checked_multiplier(real: float) -> tuple[int, int]:
    try:
        return quantize_multiplier(real)
    except ModelError as e:  # a ratio of 2^31 or more: TFLite's int32 left shift would overflow
        raise LutError(str(e), tflite_rejects=False) from None


def _clamp(v: int, lo: int = INT8_MIN, hi: int = INT8_MAX) -> int:
    return min(max(v, lo), hi)


def _table(values) -> np.ndarray:
    return np.asarray([_wrap(int(v), 8) for v in values], dtype=np.int8)


def _f32(x) -> np.float32:
    return np.float32(x)


# -- RELU, RELU6, RELU_N1_TO_1 ------------------------------------------------------------
def relu_table(kind: str, in_scale: float, in_zp: int, out_scale: float, out_zp: int,
               rounding: str = "double") -> np.ndarray:
    """RELU / RELU6 / RELU_N1_TO_1 as standalone ops (TFLite's QuantizedReluX).

    Prepare: multiplier from ``in_scale / out_scale`` divided in float32, then widened.
    Eval: requantize (x - in_zp) to the output scale, add out_zp, then clamp to
    [max(-128, out_zp + round(lo / out_scale)), min(127, out_zp + round(hi / out_scale))]
    (round half away from zero, float32 division; no upper bound for RELU)."""
    real = float(_f32(in_scale) / _f32(out_scale))
    m, s = _checked_multiplier(real)
    lo, hi = activation_range(kind, out_scale, out_zp)
    out = []
    for x in INPUTS:
        v = out_zp + multiply_by_quantized_multiplier(int(x) - in_zp, m, s, rounding)
        out.append(min(max(v, lo), hi))
    return _table(out)


# -- LEAKY_RELU -------------------------------------------------------------------------
def leaky_relu_table(alpha: float, in_scale: float, in_zp: int, out_scale: float, out_zp: int,
                     rounding: str = "double") -> np.ndarray:
    """LEAKY_RELU (TFLite's QuantizeLeakyRelu).

    Prepare: alpha multiplier from ``in_scale * alpha / out_scale`` and identity multiplier
    from ``in_scale / out_scale``, both evaluated in float32 then widened to double (alpha may
    be negative: a negative fixed-point multiplier). Eval: x - in_zp >= 0 takes the identity
    multiplier, otherwise the alpha one; add out_zp; clamp to int8."""
    a_m, a_s = quantize_multiplier_signed(float(_f32(in_scale) * _f32(alpha) / _f32(out_scale)))
    i_m, i_s = _checked_multiplier(float(_f32(in_scale) / _f32(out_scale)))
    out = []
    for x in INPUTS:
        d = int(x) - in_zp
        m, s = (i_m, i_s) if d >= 0 else (a_m, a_s)
        out.append(_clamp(out_zp + multiply_by_quantized_multiplier(d, m, s, rounding)))
    return _table(out)


# -- LOGISTIC, TANH ---------------------------------------------------------------------
@lru_cache(maxsize=1)
def _libm_tanhf():
    """The C library's tanhf, which TFLite's TANH table calls (as softmax's calls expf)."""
    fn = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6").tanhf
    fn.restype = ctypes.c_float
    fn.argtypes = [ctypes.c_float]
    return fn


def _float_table(transform, in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """TFLite's PopulateLookupTable<int8_t>: the reference kernels of int8 LOGISTIC and TANH.

    dequantized = in_scale * (x - in_zp) and the transform in float32 (libm expf / tanhf, as
    TFLite calls them), then round(transformed * (1 / out_scale)) (half away from zero, in
    float32), + out_zp, truncated to int32, clamped to int8."""
    inv = _f32(_f32(1.0) / _f32(out_scale))
    out = []
    for x in INPUTS:
        deq = _f32(_f32(in_scale) * _f32(int(x) - in_zp))
        t = _f32(transform(deq))
        scaled = _f32(t * inv)
        rescaled = _f32(math.copysign(math.floor(abs(float(scaled)) + 0.5), float(scaled)))
        q = float(_f32(rescaled + _f32(out_zp)))
        # float -> int32 outside the range is what x86's cvttss2si makes of it: INT32_MIN.
        qi = int(math.trunc(q)) if math.isfinite(q) and INT32_MIN <= math.trunc(q) <= INT32_MAX else INT32_MIN
        out.append(_clamp(qi))
    return _table(out)


def logistic_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """LOGISTIC: 1 / (1 + expf(-x)) in float32, through :func:`_float_table`.

    TFLite's Prepare requires the output scale to equal 1/256 exactly."""
    if float(_f32(out_scale)) != 1.0 / 256:
        raise LutError(f"output scale {float(_f32(out_scale))!r}; TFLite requires 1/256 for int8 LOGISTIC")
    expf = _libm_expf()
    one = _f32(1.0)
    return _float_table(lambda v: one / _f32(one + _f32(expf(float(-v)))), in_scale, in_zp, out_scale, out_zp)


def tanh_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """TANH: libm tanhf in float32, through :func:`_float_table`."""
    tanhf = _libm_tanhf()
    return _float_table(lambda v: tanhf(float(v)), in_scale, in_zp, out_scale, out_zp)


# -- HARD_SWISH -------------------------------------------------------------------------
def _downscale_to_int16(m: int) -> int:
    """TFLite's DownScaleInt32ToInt16Multiplier: round a Q31 multiplier to Q15, saturating."""
    if m >= INT32_MAX - (1 << 15):
        return INT16_MAX
    return (m + (1 << 15)) >> 16


def _saturating_left_shift16(v: int, amount: int) -> int:
    return _clamp(v * (1 << amount), INT16_MIN, INT16_MAX)


def hard_swish_params(in_scale: float, out_scale: float) -> dict:
    """HardSwishPrepare: float32 ratios, Q31 multipliers narrowed to Q15.

    hires_input_scale = in_scale / 128; output multiplier = hires / out_scale (its frexp
    exponent must be <= 0: a ratio below 1); reluish multiplier = hires / (3 / 32768)."""
    hires = _f32(_f32(1.0 / 128.0) * _f32(in_scale))
    out_m, out_e = _checked_multiplier(float(_f32(hires / _f32(out_scale))))
    if out_e > 0:
        raise LutError(f"output scale {float(_f32(out_scale))!r} is not above input scale / 128 "
                       f"({float(hires)!r}); TFLite's HARD_SWISH requires a smaller input / 128 to output "
                       "scale ratio than 1")
    rel_m, rel_e = _checked_multiplier(float(_f32(hires / _f32(_f32(3.0) / _f32(32768.0)))))
    return dict(output_multiplier=_downscale_to_int16(out_m), output_exponent=out_e,
                reluish_multiplier=_downscale_to_int16(rel_m), reluish_exponent=rel_e)


def hard_swish_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """HARD_SWISH (TFLite's reference_ops::HardSwish on int8), every step in int16 as there:
    x on a 2^7 finer scale, the "reluish" factor x/3 saturated to [-1, 1] then mapped to
    [0, 1] (saturating left shifts for large multipliers), a truncating doubling high multiply
    of the two, a rounding right shift, + out_zp (int16 wrap-around included), clamp."""
    p = hard_swish_params(in_scale, out_scale)
    out = []
    for x in INPUTS:
        value = _wrap(int(x) - in_zp, 16)
        hires = _wrap(value * (1 << 7), 16)
        preshift = doubling_high_mul(hires, p["output_multiplier"], 16)
        reluish = hires
        e = p["reluish_exponent"]
        if e > 0:
            reluish = _saturating_left_shift16(reluish, e - 1)
        reluish = doubling_high_mul(reluish, p["reluish_multiplier"], 16)
        if e > 0:
            reluish = _saturating_left_shift16(reluish, 1)
        if e < 0:
            reluish = rounding_divide_by_pot(reluish, -e, 16)
        reluish = _wrap((reluish + (1 << 15)) >> 1, 16)
        pre_out = doubling_high_mul_truncating(reluish, preshift)
        v = rounding_divide_by_pot(pre_out, -p["output_exponent"], 16)
        v = _wrap(v + out_zp, 16)
        out.append(_clamp(v))
    return _table(out)


# -- QUANTIZE (int8 -> int8) ------------------------------------------------------------
def requantize_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int,
                     rounding: str = "double") -> np.ndarray:
    """QUANTIZE int8 -> int8 (TFLite's Requantize).

    Prepare: multiplier from double(in_scale) / double(out_scale) (float32 scales widened
    before dividing). Eval: requantize x - in_zp, add out_zp, clamp to int8."""
    m, s = _checked_multiplier(float(np.float64(_f32(in_scale)) / np.float64(_f32(out_scale))))
    return _table(_clamp(multiply_by_quantized_multiplier(int(x) - in_zp, m, s, rounding) + out_zp)
                  for x in INPUTS)
