/* Helpers of the DSP-extension kernels (Cortex-M4/M7/M33): dual 16-bit MACs from
 * arm_acle.h and a requantization with the same results as tp_requantize() in fewer
 * instructions. Included only by the files of this directory. */
#ifndef TP_DSP_SUPPORT_H
#define TP_DSP_SUPPORT_H

#include <stdint.h>
#include <string.h>

#include "tp_nn_support.h"
#include "tp_requant_fast.h"

#if !defined(__ARM_FEATURE_DSP) || !defined(__ARM_FEATURE_SIMD32)
#error "firmware/kernels/dsp needs a core with the DSP extension (cortex-m4/m7/m33/m55); build with the ref kernels instead"
#endif

#include <arm_acle.h>


/* The byte-1/3 lanes: SXTB16/SXTAB16 with their built-in ROR #8 (the intrinsics
 * plus a separate rotate cost one more instruction with GCC 12). */
static inline uint32_t tp_sxtb16_hi(uint32_t v)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

static inline uint32_t tp_sxtab16_hi(uint32_t add, uint32_t v)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(add), "r"(v));
    return r;
}

/* Four int8 from any address (Armv7E-M/Armv8-M LDR tolerates misalignment). */
static inline uint32_t tp_read_s8x4(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Two 16-bit lanes holding `offset` each, for __sxtab16. */
static inline uint32_t tp_dup16(int32_t offset)
{
    return ((uint32_t)offset & 0xFFFFu) | ((uint32_t)offset << 16);
}

static inline int8_t tp_finish_s8(int32_t acc, int32_t multiplier, int32_t shift, tp_rounding rounding,
                                  int32_t output_offset, const tp_activation *act)
{
    acc = tp_requantize_fast(acc, multiplier, shift, rounding) + output_offset;
    acc = acc > act->min ? acc : act->min;
    acc = acc < act->max ? acc : act->max;
    return (int8_t)acc;
}

/* acc[2][2] += (xa|xb + off) . (w0|w1) over len int8: 2 output channels x 2 pixels,
 * four MACs per SMLAD pair. Lanes: __sxtb16 takes bytes 0,2; the ror'd word bytes 1,3. */
static inline void tp_dot_2x2(const int8_t *w0, const int8_t *w1, const int8_t *xa, const int8_t *xb, int32_t len,
                              uint32_t off2, int32_t *a0a, int32_t *a0b, int32_t *a1a, int32_t *a1b)
{
    int32_t s0a = *a0a, s0b = *a0b, s1a = *a1a, s1b = *a1b;
    int32_t k = 0;
    for (; k + 4 <= len; k += 4) {
        const uint32_t va = tp_read_s8x4(xa + k), vb = tp_read_s8x4(xb + k);
        const uint32_t xa02 = __sxtab16(off2, va), xa13 = tp_sxtab16_hi(off2, va);
        const uint32_t xb02 = __sxtab16(off2, vb), xb13 = tp_sxtab16_hi(off2, vb);
        const uint32_t u0 = tp_read_s8x4(w0 + k), u1 = tp_read_s8x4(w1 + k);
        const uint32_t w002 = __sxtb16(u0), w013 = tp_sxtb16_hi(u0);
        const uint32_t w102 = __sxtb16(u1), w113 = tp_sxtb16_hi(u1);
        s0a = __smlad(xa02, w002, __smlad(xa13, w013, s0a));
        s0b = __smlad(xb02, w002, __smlad(xb13, w013, s0b));
        s1a = __smlad(xa02, w102, __smlad(xa13, w113, s1a));
        s1b = __smlad(xb02, w102, __smlad(xb13, w113, s1b));
    }
    for (; k < len; k++) {
        const int32_t va = xa[k] + (int16_t)off2, vb = xb[k] + (int16_t)off2;
        s0a += w0[k] * va;
        s0b += w0[k] * vb;
        s1a += w1[k] * va;
        s1b += w1[k] * vb;
    }
    *a0a = s0a, *a0b = s0b, *a1a = s1a, *a1b = s1b;
}

/* acc += (x + off) . w over len int8, one channel, one pixel. */
static inline int32_t tp_dot_1x1(const int8_t *w, const int8_t *x, int32_t len, uint32_t off2, int32_t acc)
{
    int32_t k = 0;
    for (; k + 4 <= len; k += 4) {
        const uint32_t v = tp_read_s8x4(x + k), u = tp_read_s8x4(w + k);
        acc = __smlad(__sxtab16(off2, v), __sxtb16(u), acc);
        acc = __smlad(tp_sxtab16_hi(off2, v), tp_sxtb16_hi(u), acc);
    }
    for (; k < len; k++) {
        acc += w[k] * (x[k] + (int16_t)off2);
    }
    return acc;
}

/* Requantize, add the output offset and clamp: the fast exact path of tp_finish_s8 for
 * calls that passed tp_requant_headroom() (double) or any call (single). `full` = the
 * activation range is all of int8, so one SSAT clamps. */
static inline int32_t tp_finish_fast(int32_t acc, int32_t multiplier, int32_t shift, int single, int32_t output_offset,
                                     int full, int32_t act_min, int32_t act_max)
{
    acc = single ? tp_requant_single_fast(acc, multiplier, shift) : tp_requant_double_bounded(acc, multiplier, shift);
    acc += output_offset;
    if (full) {
        return __ssat(acc, 8);
    }
    acc = acc > act_min ? acc : act_min;
    return acc < act_max ? acc : act_max;
}

/* Output offset and clamp after requantization (`full`: the range is all of int8, one SSAT). */
static inline int32_t tp_clamp_fast(int32_t v, int32_t output_offset, int full, int32_t act_min, int32_t act_max)
{
    v += output_offset;
    if (full) {
        return __ssat(v, 8);
    }
    v = v > act_min ? v : act_min;
    return v < act_max ? v : act_max;
}

/* Four int8 at p, plus `off` each, as int16 pairs: *lo = (x0, x2), *hi = (x1, x3). */
static inline void tp_widen4(const int8_t *p, uint32_t off2, uint32_t *lo, uint32_t *hi)
{
    const uint32_t v = tp_read_s8x4(p);
    *lo = __sxtab16(off2, v);
    *hi = tp_sxtab16_hi(off2, v);
}

/* An assembly loop that must never be inlined: its caller's live values would leave too few
 * registers (seen at -Os). */
#define TP_ASM_LEAF static __attribute__((noinline))

#endif /* TP_DSP_SUPPORT_H */
