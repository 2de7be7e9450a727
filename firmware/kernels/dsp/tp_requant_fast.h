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

/* round((a * b) / 2^32): SMMULR, and floor((a * b) / 2^32): SMMUL. */
static inline int32_t tp_mulhi_r(int32_t a, int32_t b)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (int32_t)(((int64_t)a * b + (INT64_C(1) << 31)) >> 32);
#endif
}

static inline int32_t tp_mulhi(int32_t a, int32_t b)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t r;
    __asm__("smmul %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (int32_t)(((int64_t)a * b) >> 32);
#endif
}

/* tp_requantize(x, M, shift, DOUBLE) in 5 instructions, exact when |x| * 2^(max(shift, 0) + 1)
 * < 2^31 (tp_requant_headroom() checks that once per call): then x * 2^left does not wrap,
 * gemmlowp's high multiply floor((x*M + 2^30) / 2^31) is SMMULR(2x, M), and |high| < 2^30 so
 * the rounding divide can add half (minus one for negatives: ties away from zero) without
 * overflow before its arithmetic shift. */
static inline int32_t tp_requant_double_bounded(int32_t x, int32_t multiplier, int32_t shift)
{
    if (shift >= 0) {
        return tp_mulhi_r((int32_t)((uint32_t)x << (shift + 1)), multiplier);
    }
    const int32_t high = tp_mulhi_r((int32_t)((uint32_t)x << 1), multiplier);
    const int32_t e = -shift;
    return (high + (1 << (e - 1)) - (int32_t)((uint32_t)high >> 31)) >> e;
}

/* tp_requantize(x, M, shift, SINGLE) = floor((x*M + 2^(30-shift)) / 2^(31-shift)), exact for
 * every x: for shift <= -2 the rounding constant is a multiple of 2^32, so the floor of x*M/2^32
 * (SMMUL) can be taken first; shift == -1 is SMMULR. shift >= 0 (rare) takes the 64-bit path. */
static inline int32_t tp_requant_single_fast(int32_t x, int32_t multiplier, int32_t shift)
{
    if (shift <= -2) {
        return (tp_mulhi(x, multiplier) + (1 << (-shift - 2))) >> (-shift - 1);
    }
    if (shift == -1) {
        return tp_mulhi_r(x, multiplier);
    }
    return tp_requantize_fast(x, multiplier, shift, TP_ROUND_SINGLE);
}

/* tp_requant_double_bounded() with its per-channel constants prepared once (for kernels that
 * requantize several pixels per channel): branch-free, 6 instructions per value. */
typedef struct {
    int32_t mult;
    int32_t lsh;   /* max(shift, 0) + 1: the doubling of SMMULR(2x, M) plus any left shift */
    int32_t round; /* 2^(e-1) for a right shift e = -shift > 0, else 0 */
    int32_t neg;   /* -1 when e > 0: negative values round their ties away from zero */
    int32_t rsh;   /* e, or 0 */
} tp_rq;

static inline tp_rq tp_rq_make(int32_t multiplier, int32_t shift)
{
    tp_rq r;
    r.mult = multiplier;
    r.lsh = shift > 0 ? shift + 1 : 1;
    r.rsh = shift < 0 ? -shift : 0;
    r.neg = shift < 0 ? -1 : 0;
    r.round = shift < 0 ? (int32_t)(UINT32_C(1) << (r.rsh - 1)) : 0;
    return r;
}

static inline int32_t tp_rq_apply(int32_t x, const tp_rq *r)
{
    const int32_t high = tp_mulhi_r((int32_t)((uint32_t)x << r->lsh), r->mult);
    return (high + r->round + ((high >> 31) & r->neg)) >> r->rsh;
}

/* The same for a right shift only (shift < 0, the usual case): 3 constants, 5 instructions. */
typedef struct {
    int32_t mult;
    int32_t round; /* 2^(e-1), e = -shift */
    int32_t rsh;   /* e */
} tp_rq_right;

static inline tp_rq_right tp_rq_right_make(int32_t multiplier, int32_t shift)
{
    tp_rq_right r = {multiplier, (int32_t)(UINT32_C(1) << (-shift - 1)), -shift};
    return r;
}

static inline int32_t tp_rq_right_apply(int32_t x, const tp_rq_right *r)
{
    const int32_t high = tp_mulhi_r((int32_t)((uint32_t)x << 1), r->mult);
    return (high + r->round + (high >> 31)) >> r->rsh;
}

/* Whether every shift of the call is a right shift (tp_rq_right applies). */
static inline int tp_requant_right_only(const tp_quant_params *q, int32_t channels)
{
    const int32_t n = q->per_channel ? channels : 1;
    for (int32_t c = 0; c < n; c++) {
        if (q->shift[c] >= 0) {
            return 0;
        }
    }
    return 1;
}

/* Whether tp_requant_double_bounded() is exact for every accumulator this call can produce:
 * |acc| <= taps * max|w| * 255 + max|bias| (inputs plus offset span at most 255). */
static inline int tp_requant_headroom(const tp_quant_params *q, const int32_t *bias, int32_t channels, int32_t taps,
                                      int32_t max_abs_w)
{
    int64_t bound = (int64_t)taps * max_abs_w * 255;
    int32_t max_bias = 0, max_left = 0;
    for (int32_t c = 0; bias != NULL && c < channels; c++) {
        const int32_t b = bias[c] < 0 ? -bias[c] : bias[c];
        max_bias = b > max_bias ? b : max_bias;
    }
    const int32_t n = q->per_channel ? channels : 1;
    for (int32_t c = 0; c < n; c++) {
        max_left = q->shift[c] > max_left ? q->shift[c] : max_left;
    }
    bound += max_bias;
    return max_left < 30 && bound < (INT64_C(1) << (30 - max_left));
}

#endif /* TP_REQUANT_FAST_H */
