/* Helpers of the MVE (Helium) kernels for Cortex-M55: vector requantization with the
 * results of tp_requantize() (tp_nn_support.h), four output channels at a time.
 * Included only by the files of this directory. */
#ifndef TP_MVE_SUPPORT_H
#define TP_MVE_SUPPORT_H

#include <stdint.h>

#include "tp_nn_support.h"

#if !defined(__ARM_FEATURE_MVE) || (__ARM_FEATURE_MVE & 1) == 0
#error "firmware/kernels/mve needs a core with MVE (Helium), e.g. -mcpu=cortex-m55 -mfloat-abi=hard; build with the dsp or ref kernels instead"
#endif

#include <arm_mve.h>

/* Requantization of four lanes, the same integers as tp_requantize() lane by lane.
 *
 * DOUBLE (gemmlowp): x << max(shift, 0) wraps in VSHL as in the reference's int32 product.
 *   VQRDMULH gives sat((2ab + 2^31) >> 32) = floor((ab + 2^30) / 2^31); gemmlowp's
 *   (ab + nudge) / 2^31 truncated toward zero is the same floor for both signs of ab
 *   (for ab < 0: ceil((ab + 1 - 2^30) / 2^31) = floor((ab + 2^30) / 2^31)), and both
 *   saturate only INT32_MIN * INT32_MIN to INT32_MAX.
 *   RoundingDivideByPOT(h, e) rounds half away from zero; VRSHL by -e rounds half up in
 *   unbounded precision, (h + 2^(e-1)) >> e. Subtracting 1 from negative h first (only
 *   where e > 0) turns ties of negative values downward: for h = q*2^e + r, 0 <= r < 2^e,
 *   floor((h - 1 + 2^(e-1)) / 2^e) = q + [r >= 2^(e-1) + 1], the reference's rule for
 *   h < 0. The saturating subtract leaves INT32_MIN unchanged, where r = 0 gives q either way.
 * SINGLE (TF 2.21 FULLY_CONNECTED): floor((x*M + 2^(t-1)) / 2^t), t = 31 - shift.
 *   Write x*M = H*2^32 + L, 0 <= L < 2^32, H = VMULH(x, M). For t >= 33 (u = t - 32 >= 1)
 *   the low word cannot carry: floor((H + 2^(u-1) + L/2^32) / 2^u) = floor((H + 2^(u-1)) / 2^u)
 *   since H + 2^(u-1) is an integer and L/2^32 < 1, which is VRSHL(H, -u). For t = 32 it is
 *   VRMULH(x, M) = (x*M + 2^31) >> 32. Lanes with shift >= 0 (t <= 31) are not handled
 *   here: tp_mve_requant_plan() sends such layers to the scalar reference code. */
typedef enum {
    TP_MVE_RQ_DOUBLE, /* vector, double rounding (any shift) */
    TP_MVE_RQ_SINGLE, /* vector, single rounding, every shift <= -1 */
    TP_MVE_RQ_SCALAR  /* tp_requantize() lane by lane */
} tp_mve_rq_mode;

static inline tp_mve_rq_mode tp_mve_requant_plan(const tp_quant_params *quant, int32_t channels)
{
    if (quant->rounding != TP_ROUND_SINGLE) {
        return TP_MVE_RQ_DOUBLE;
    }
    const int32_t n = quant->per_channel ? channels : 1;
    for (int32_t i = 0; i < n; i++) {
        if (quant->shift[i] >= 0) {
            return TP_MVE_RQ_SCALAR;
        }
    }
    return TP_MVE_RQ_SINGLE;
}

/* The single-rounding and scalar modes: rare (FC layers, shift >= 0), kept out of line
 * so that the double-rounding path of the callers stays small. */
static __attribute__((noinline)) int32x4_t tp_mve_requantize_other(int32x4_t x, int32x4_t mult, int32x4_t shift,
                                                                   tp_mve_rq_mode mode)
{
    if (mode == TP_MVE_RQ_SINGLE) {
        const int32x4_t wide = vrshlq_s32(vmulhq_s32(x, mult), vaddq_n_s32(shift, 1)); /* t >= 33 */
        const int32x4_t t32 = vrmulhq_s32(x, mult);                                   /* t == 32 */
        /* (vcmpeqq_n_s32 with a constant makes GCC 12.2 crash: compare with a vector) */
        return vpselq_s32(t32, wide, vcmpeqq_s32(shift, vdupq_n_s32(-1)));
    }
    int32_t v[4], m[4], s[4];
    vst1q_s32(v, x);
    vst1q_s32(m, mult);
    vst1q_s32(s, shift);
    for (int i = 0; i < 4; i++) {
        v[i] = tp_requantize(v[i], m[i], s[i], TP_ROUND_SINGLE);
    }
    return vld1q_s32(v);
}

static inline int32x4_t tp_mve_requantize(int32x4_t x, int32x4_t mult, int32x4_t shift, tp_mve_rq_mode mode)
{
    if (__builtin_expect(mode == TP_MVE_RQ_DOUBLE, 1)) {
        const int32x4_t zero = vdupq_n_s32(0);
        const int32x4_t right = vminq_s32(shift, zero); /* -e, e >= 0 */
        const int32x4_t h = vqrdmulhq_s32(vshlq_s32(x, vmaxq_s32(shift, zero)), mult);
        /* -1 where h < 0 and e > 0: the sign bit of h & (-e) */
        const int32x4_t fixup = vshrq_n_s32(vandq_s32(h, right), 31);
        return vrshlq_s32(vqaddq_s32(h, fixup), right);
    }
    return tp_mve_requantize_other(x, mult, shift, mode);
}

/* Requantize four accumulators of output channels ch..ch+3, add the output offset, clamp
 * and store the first n (1..4) as int8 at out, out + stride, ... (stride in bytes). */
typedef struct {
    const int32_t *mult;
    const int32_t *shift;
    int32_t per_channel;
    tp_mve_rq_mode mode;
    int32_t output_offset;
    int32_t act_min;
    int32_t act_max;
} tp_mve_out;

static inline tp_mve_out tp_mve_out_make(const tp_quant_params *quant, int32_t channels, int32_t output_offset,
                                         const tp_activation *act)
{
    const tp_mve_out o = {quant->multiplier, quant->shift, quant->per_channel, tp_mve_requant_plan(quant, channels),
                          output_offset, act->min, act->max};
    return o;
}

/* Requantized, offset and clamped lanes, given the lanes' multipliers and shifts. */
static inline int32x4_t tp_mve_finish_q(const tp_mve_out *o, int32x4_t acc, int32x4_t mult, int32x4_t shift)
{
    int32x4_t r = vaddq_n_s32(tp_mve_requantize(acc, mult, shift, o->mode), o->output_offset);
    r = vmaxq_s32(r, vdupq_n_s32(o->act_min));
    return vminq_s32(r, vdupq_n_s32(o->act_max));
}

/* The same for output channels ch..ch+3 (reads no more than n per-channel parameters:
 * the arrays may end at ch + n). */
static inline int32x4_t tp_mve_finish(const tp_mve_out *o, int32x4_t acc, int32_t ch, int32_t n)
{
    int32x4_t mult, shift;
    if (o->per_channel && n >= 4) {
        mult = vldrwq_s32(o->mult + ch);
        shift = vldrwq_s32(o->shift + ch);
    } else if (o->per_channel) {
        const mve_pred16_t p = vctp32q((uint32_t)n);
        mult = vldrwq_z_s32(o->mult + ch, p);
        shift = vldrwq_z_s32(o->shift + ch, p);
    } else {
        mult = vdupq_n_s32(o->mult[0]);
        shift = vdupq_n_s32(o->shift[0]);
    }
    return tp_mve_finish_q(o, acc, mult, shift);
}

/* Per-channel multipliers and shifts of a block of up to TP_MVE_BLOCK channels, copied
 * (or broadcast, per-tensor) into arrays of the full block size, so that every group of
 * four channels loads its parameters without predication. */
#define TP_MVE_BLOCK 64
typedef struct {
    int32_t mult[TP_MVE_BLOCK];
    int32_t shift[TP_MVE_BLOCK];
} tp_mve_block_params;

static inline void tp_mve_block_load(tp_mve_block_params *bp, const tp_mve_out *o, int32_t ch0, int32_t n)
{
    for (int32_t j = 0; j < TP_MVE_BLOCK; j += 4) {
        if (o->per_channel) {
            const mve_pred16_t p = vctp32q((uint32_t)(j < n ? n - j : 0));
            vst1q_s32(bp->mult + j, vldrwq_z_s32(o->mult + ch0 + j, p));
            vst1q_s32(bp->shift + j, vldrwq_z_s32(o->shift + ch0 + j, p));
        } else {
            vst1q_s32(bp->mult + j, vdupq_n_s32(o->mult[0]));
            vst1q_s32(bp->shift + j, vdupq_n_s32(o->shift[0]));
        }
    }
}

/* Store the low bytes of the first n lanes, contiguous. */
static inline void tp_mve_store4(int8_t *out, int32x4_t r, int32_t n)
{
    if (n >= 4) {
        vstrbq_s32(out, r);
    } else {
        vstrbq_p_s32(out, r, vctp32q((uint32_t)n));
    }
}

/* Four scalars as one vector. */
static inline int32x4_t tp_mve_vec4(int32_t a, int32_t b, int32_t c, int32_t d)
{
    int32x4_t v = vdupq_n_s32(a);
    v = vsetq_lane_s32(b, v, 1);
    v = vsetq_lane_s32(c, v, 2);
    return vsetq_lane_s32(d, v, 3);
}

#endif /* TP_MVE_SUPPORT_H */
