/* Fixed-point helpers: the arithmetic TFLite's reference kernels use to requantize. */
#ifndef TP_NN_SUPPORT_H
#define TP_NN_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "tp_nn_types.h"

#define TP_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TP_MIN(a, b) ((a) < (b) ? (a) : (b))

/* round(a * b / 2^31), saturating the single overflowing case INT32_MIN * INT32_MIN. */
static inline int32_t tp_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? (INT64_C(1) << 30) : (1 - (INT64_C(1) << 30));
    /* C division truncates toward zero, as gemmlowp's does. */
    return (int32_t)((ab + nudge) / (INT64_C(1) << 31));
}

/* x / 2^exponent rounded to nearest, ties away from zero. */
static inline int32_t tp_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)((UINT32_C(1) << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * multiplier * 2^(shift - 31), multiplier in [2^30, 2^31) (or 0). */
static inline int32_t tp_requantize(int32_t x, int32_t multiplier, int32_t shift, tp_rounding rounding)
{
    if (rounding == TP_ROUND_SINGLE) {
        const int32_t total_shift = 31 - shift;
        const int64_t round = INT64_C(1) << (total_shift - 1);
        return (int32_t)(((int64_t)x * multiplier + round) >> total_shift);
    }
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    /* Wraps like TFLite's int32 product would; never reached with sane scales. */
    const int32_t shifted = (int32_t)((int64_t)x * (INT64_C(1) << left));
    return tp_rounding_divide_by_pot(tp_doubling_high_mul(shifted, multiplier), right);
}

static inline int8_t tp_clamp_s8(int32_t v, const tp_activation *act)
{
    v = TP_MAX(v, act->min);
    v = TP_MIN(v, act->max);
    return (int8_t)v;
}

#endif /* TP_NN_SUPPORT_H */
