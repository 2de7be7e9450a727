"""int32 accumulators ``[channels, ...]`` → int8 for the GEMM layers, with the code generator's
requantizer (``codegen.quantization``: one vectorised implementation, bit-exact with the kernels
and with TFLite's reference kernels).

TF 2.21's reference CONV_2D uses gemmlowp double rounding, its FULLY_CONNECTED single rounding
(measured against the interpreter); the layer carries which one.
"""
from __future__ import annotations

import numpy as np

from ..codegen.quantization import Rounding, multiply_by_quantized_multiplier
from ..codegen.quantization import requantize as _requantize


def _per_row(v, acc: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.int64)
    return v.reshape(()) if v.size == 1 else v.reshape((-1,) + (1,) * (acc.ndim - 1))


def multiply_double_rounding(acc, multiplier, shift) -> np.ndarray:
    """TFLite ``MultiplyByQuantizedMultiplier`` (double rounding); channel axis first in ``acc``."""
    acc = np.asarray(acc, np.int64)
    return multiply_by_quantized_multiplier(acc, _per_row(multiplier, acc), _per_row(shift, acc), Rounding.DOUBLE)


def multiply_single_rounding(acc, multiplier, shift) -> np.ndarray:
    """TFLite's single-rounding ``MultiplyByQuantizedMultiplier``; channel axis first in ``acc``."""
    acc = np.asarray(acc, np.int64)
    return multiply_by_quantized_multiplier(acc, _per_row(multiplier, acc), _per_row(shift, acc), Rounding.SINGLE)


def requantize(acc, multiplier, shift, output_zero_point: int, act_min: int, act_max: int,
               rounding) -> np.ndarray:
    """int32 accumulators ``[channels, ...]`` → int8 with the output zero point and clamp."""
    return _requantize(acc, multiplier, shift, output_zero_point, act_min, act_max, rounding, axis=0)
