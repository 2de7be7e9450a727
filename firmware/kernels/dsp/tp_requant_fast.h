/* Requantization with the results of tp_requantize() (tp_nn_support.h) and fewer
 * instructions: portable C, used by the optimized kernel variants. */
#ifndef TP_REQUANT_FAST_H
#define TP_REQUANT_FAST_H

#include <stdint.h>

#include "tp_nn_types.h"

/* x * M * 2^shift rounded exactly as tp_requantize() does, in about 15 instructions.
 * Double rounding: gemmlowp's (ab + nudge) / 2^31 truncating toward zero equals
 * floor((ab + 2^30) / 2^31) for both signs of ab (one SMLAL, no sign branch); the
 * rounding right shift stays in 32 bits, as in the reference (a 64-bit variable shift
 * costs ~20 instructions on Armv7-M). */
static inline int32_t tp_requantize_fast(int32_t x, int32_t multiplier, int32_t shift, tp_rounding rounding)
{
    if (rounding == TP_ROUND_SINGLE) {
        const int32_t total_shift = 31 - shift;
        return (int32_t)(((int64_t)x * multiplier + (INT64_C(1) << (total_shift - 1))) >> total_shift);
    }
    if (shift > 0) {
        x = (int32_t)((uint32_t)x << shift); /* wraps like TFLite's int32 product */
    }
    if (x == INT32_MIN && multiplier == INT32_MIN) {
        return INT32_MAX;
    }
    const int32_t high = (int32_t)(((int64_t)x * multiplier + (INT64_C(1) << 30)) >> 31);
    if (shift >= 0) {
        return high;
    }
    const int32_t e = -shift;
    const int32_t mask = (int32_t)((UINT32_C(1) << e) - 1u);
    const int32_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
    return (high >> e) + ((high & mask) > threshold ? 1 : 0);
}

#endif /* TP_REQUANT_FAST_H */
