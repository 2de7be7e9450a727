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

/* sat(a + b): QADD. */
static inline int32_t tp_qadd(int32_t a, int32_t b)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t r;
    __asm__("qadd %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    const int64_t s = (int64_t)a + b;
    return s > INT32_MAX ? INT32_MAX : s < INT32_MIN ? INT32_MIN : (int32_t)s;
#endif
}

/* Double-rounding requantization in a few instructions, for multipliers M in {0} U [2^30, 2^31)
 * (all that quantize_multiplier produces), every shift in [-31, 30]:
 *   s = x << max(shift, 0), wrapping as the reference's int32 product does;
 *   gemmlowp's high multiply floor((s*M + 2^30) / 2^31) is SMMULR(2s, M) when 2s fits in
 *   int32; QADD doubles with saturation, so when it does not (|s| >= 2^30) the result still
 *   has the sign of s and magnitude >= 2^28, as the exact one has (M >= 2^30);
 *   the rounding divide by 2^e (e = -shift > 0) adds half, minus one for negatives (ties away
 *   from zero), without overflow since |high| <= 2^30.
 * Results: equal to tp_requantize() whenever |s| < 2^30, and beyond +-2^28 on the same side
 * as it when shift >= 0; so after adding an output offset and clamping to int8 they agree
 * for every x when shift >= 0, and for |x| < 2^30 when shift < 0. Accumulators of a layer
 * whose negative-shift channels can reach 2^30 need tp_rq_apply_wide() (the code generator
 * bounds them from the weights and biases and picks TP_VARIANT_FAST_WIDE then). */
static inline int32_t tp_requant_double_bounded(int32_t x, int32_t multiplier, int32_t shift)
{
    if (shift >= 0) {
        const int32_t s = (int32_t)((uint32_t)x << shift);
        return tp_mulhi_r(tp_qadd(s, s), multiplier);
    }
    const int32_t high = tp_mulhi_r(tp_qadd(x, x), multiplier);
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
 * requantize several pixels per channel): branch-free, 7 instructions per value. */
typedef struct {
    int32_t mult;
    int32_t lsh;   /* max(shift, 0) */
    int32_t round; /* 2^(e-1) for a right shift e = -shift > 0, else 0 */
    int32_t neg;   /* -1 when e > 0: negative values round their ties away from zero */
    int32_t rsh;   /* e, or 0 */
} tp_rq;

static inline tp_rq tp_rq_make(int32_t multiplier, int32_t shift)
{
    tp_rq r;
    r.mult = multiplier;
    r.lsh = shift > 0 ? shift : 0;
    r.rsh = shift < 0 ? -shift : 0;
    r.neg = shift < 0 ? -1 : 0;
    r.round = shift < 0 ? (int32_t)(UINT32_C(1) << (r.rsh - 1)) : 0;
    return r;
}

static inline int32_t tp_rq_apply(int32_t x, const tp_rq *r)
{
    const int32_t s = (int32_t)((uint32_t)x << r->lsh);
    const int32_t high = tp_mulhi_r(tp_qadd(s, s), r->mult);
    return (high + r->round + ((high >> 31) & r->neg)) >> r->rsh;
}

/* tp_requantize(x, M, shift, DOUBLE) for every int32 x (TP_VARIANT_FAST_WIDE): the high
 * multiply from the 64-bit product (SMLAL), the rounding divide split into the quotient and
 * the rounded remainder so that nothing overflows. */
static inline int32_t tp_rq_apply_wide(int32_t x, const tp_rq *r)
{
    const int32_t s = (int32_t)((uint32_t)x << r->lsh);
    const int32_t high = (int32_t)(((int64_t)s * r->mult + (INT64_C(1) << 30)) >> 31);
    const uint32_t mask = (UINT32_C(1) << r->rsh) - 1u;
    const uint32_t rem = ((uint32_t)high & mask) + (uint32_t)r->round + (uint32_t)((high >> 31) & r->neg);
    return (high >> r->rsh) + (int32_t)(rem >> r->rsh);
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
    const int32_t high = tp_mulhi_r(tp_qadd(x, x), r->mult);
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

/* Whether tp_requant_double_bounded() / tp_rq_apply() are exact for every accumulator this
 * call can produce: |acc| <= taps * max|w| * 255 + max|bias| < 2^30 (inputs plus offset span
 * at most 255). Used by the sparse kernels, whose format decides their loop; the dense ones
 * get the answer from the code generator (tp_kernel_variant). */
static inline int tp_requant_headroom(const tp_quant_params *q, const int32_t *bias, int32_t channels, int32_t taps,
                                      int32_t max_abs_w)
{
    (void)q;
    int64_t bound = (int64_t)taps * max_abs_w * 255;
    int64_t max_bias = 0;
    for (int32_t c = 0; bias != NULL && c < channels; c++) {
        const int64_t b = bias[c] < 0 ? -(int64_t)bias[c] : bias[c];
        max_bias = b > max_bias ? b : max_bias;
    }
    bound += max_bias;
    return bound < (INT64_C(1) << 30);
}

#endif /* TP_REQUANT_FAST_H */
