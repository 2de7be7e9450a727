/* DEPTHWISE_CONV_2D int8, DSP extension. With depth multiplier 1, four neighbouring
 * channels come in one word for input and filter alike. Loops run channel group (4) outer,
 * output pixel inner, so each group's weights are widened (SXTB16) once into a stack table
 * and its requantization constants prepared once. Interior pixels of a 3x3 window
 * (dilation 1, any stride) run in an assembly loop over a run of pixels: two taps of the
 * same channels are packed into one word (PKHBT/PKHTB), widened once, and meet their
 * pre-paired weights in one SMLAD (dual MAC); the input offset is folded into the bias
 * (every tap of an interior window is inside the input). The accumulators of the run are
 * then requantized channel by channel with that channel's constants in registers. Other
 * pixels take one input load, two SXTAB16 (adding the input offset) and four
 * SMLABB/SMLATT per tap and group; taps outside the input are skipped (TFLite pads with the
 * zero point, which contributes nothing). That is TP_VARIANT_FAST (FAST_WIDE: requantization
 * exact for any accumulator); it needs depth multiplier 1 and at most TP_DW_MAX_TAPS taps (an
 * argument error otherwise). TP_VARIANT_GENERIC is the portable loop, for the other shapes. */
#include "tp_dsp_optimize.h" /* first: see there */
#include "tp_nn.h"
#include "tp_dsp_support.h"
#include "tp_dsp_buffer_sizes.h"

#define TP_DW_MAX_TAPS 64

int32_t tp_depthwise_conv_s8_get_buffer_size(const tp_dims *input_dims, const tp_dims *filter_dims)
{
    return tp_dsp_depthwise_conv_s8_get_buffer_size(input_dims, filter_dims);
}

/* a0..a3 (channels c..c+3) += one tap: input word v, widened weights at wp + off bytes:
 * (c0, c2), (c1, c3). Assembly so that the weights come straight from the table by LDRD
 * (GCC 12 copies them through other stack slots when the 3x3 window is unrolled). */
#define TP_DW_TAP(v, wp, off)                                                                             \
    __asm__("sxtab16 %[x0], %[o2], %[vv]\n\t"                                                             \
            "sxtab16 %[x1], %[o2], %[vv], ror #8\n\t"                                                     \
            "ldrd    %[w0], %[w1], [%[w], #" #off "]\n\t"                                                 \
            "smlabb  %[a0], %[x0], %[w0], %[a0]\n\t"                                                      \
            "smlatt  %[a2], %[x0], %[w0], %[a2]\n\t"                                                      \
            "smlabb  %[a1], %[x1], %[w1], %[a1]\n\t"                                                      \
            "smlatt  %[a3], %[x1], %[w1], %[a3]\n\t"                                                      \
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x0] "=&r"(x0_), [x1] "=&r"(x1_), \
              [w0] "=&r"(w0_), [w1] "=&r"(w1_)                                                            \
            : [vv] "r"(v), [o2] "r"(off2), [w] "r"(wp), "m"(*(const uint32_t(*)[2 * TP_DW_MAX_TAPS])wx))

static tp_status depthwise_generic(const tp_dw_conv_params *params, const tp_quant_params *quant,
                                   const tp_dims *input_dims, const int8_t *input, const tp_dims *filter_dims,
                                   const int8_t *filter, const int32_t *bias, const tp_dims *output_dims,
                                   int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t mult = params->ch_mult;
    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in_batch = input + (int64_t)b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < out_h; oy++) {
            const int32_t y0 = oy * params->stride.h - params->padding.h;
            for (int32_t ox = 0; ox < out_w; ox++) {
                const int32_t x0 = ox * params->stride.w - params->padding.w;
                for (int32_t oc = 0; oc < out_c; oc++) {
                    const int32_t ic = oc / mult;
                    int32_t acc = bias != NULL ? bias[oc] : 0;
                    for (int32_t ky = 0; ky < k_h; ky++) {
                        const int32_t y = y0 + ky * params->dilation.h;
                        if (y < 0 || y >= in_h) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < k_w; kx++) {
                            const int32_t x = x0 + kx * params->dilation.w;
                            if (x < 0 || x >= in_w) {
                                continue;
                            }
                            acc += filter[((int64_t)ky * k_w + kx) * out_c + oc] *
                                   (in_batch[((int64_t)y * in_w + x) * in_c + ic] + params->input_offset);
                        }
                    }
                    const int32_t q = quant->per_channel ? oc : 0;
                    *output++ = tp_finish_s8(acc, quant->multiplier[q], quant->shift[q], quant->rounding,
                                             params->output_offset, &params->activation);
                }
            }
        }
    }
    return TP_OK;
}

/* The interior 3x3 loop's table, one per channel group (uint32 words): */
#define TP_DW_RUN_BIAS 0   /* [0..3] bias + input_offset * sum of the channel's 9 weights */
#define TP_DW_RUN_ROW 4    /* bytes from one input row to the next */
#define TP_DW_RUN_NEXT 5   /* from the third row of a window to the first of the next pixel's */
#define TP_DW_RUN_END 6    /* where the accumulator buffer of the run ends */
#define TP_DW_RUN_PAIRS 8  /* [8..23] taps (0,1) (2,3) (4,5) (6,7): channel j's (w_t, w_t+1) */
#define TP_DW_RUN_LAST 24  /* [24..25] tap 8: (w_c0, w_c2), (w_c1, w_c3) */
#define TP_DW_RUN_WORDS 26
#define TP_DW_RUN_MAX 32 /* pixels per run (the accumulator buffer: 4 words each) */

/* One pair of taps: input words A (tap t) and B (tap t + 1) of channels c..c+3 become
 * (t, t+1) pairs per channel, each one SMLAD with its pre-paired weights at wt + off. */
#define TP_DW_PAIR(off)                               \
    "pkhbt  %[X], %[A], %[B], lsl #16\n\t"            \
    "pkhtb  %[A], %[B], %[A], asr #16\n\t"            \
    "sxtb16 %[B], %[X]\n\t"                           \
    "ldrd   %[W0], %[W1], [%[wt], #" #off "]\n\t"     \
    "smlad  r0, %[B], %[W0], r0\n\t"                  \
    "sxtb16 %[B], %[X], ror #8\n\t"                   \
    "smlad  r1, %[B], %[W1], r1\n\t"                  \
    "sxtb16 %[B], %[A]\n\t"                           \
    "ldrd   %[W0], %[W1], [%[wt], #" #off " + 8]\n\t" \
    "smlad  r2, %[B], %[W0], r2\n\t"                  \
    "sxtb16 %[B], %[A], ror #8\n\t"                   \
    "smlad  r3, %[B], %[W1], r3\n\t"

/* Accumulators of n interior 3x3 windows (dilation 1) of one channel group into acc[4 n]:
 * q is the first window's top-left tap (channel c of the group), c the channels per pixel;
 * wt the table above (its END set for this run). */
TP_ASM_LEAF void dw3x3_run(const int8_t *q, int32_t c, const uint32_t *wt, int32_t *acc)
{
    uint32_t a_, b_, x_, w0_, w1_;
    __asm__ volatile(
        "1:\n\t"
        "ldmia  %[wt], {r0-r3}\n\t"
        "ldr    %[A], [%[q]]\n\t"
        "ldr    %[B], [%[q], %[c]]\n\t" TP_DW_PAIR(32)
        "ldr    %[A], [%[q], %[c], lsl #1]\n\t"
        "add    %[q], %[q], %[row]\n\t"
        "ldr    %[B], [%[q]]\n\t" TP_DW_PAIR(48)
        "ldr    %[A], [%[q], %[c]]\n\t"
        "ldr    %[B], [%[q], %[c], lsl #1]\n\t" TP_DW_PAIR(64)
        "add    %[q], %[q], %[row]\n\t"
        "ldr    %[A], [%[q]]\n\t"
        "ldr    %[B], [%[q], %[c]]\n\t" TP_DW_PAIR(80)
        "ldr    %[A], [%[q], %[c], lsl #1]\n\t"
        "sxtb16 %[X], %[A]\n\t"
        "sxtb16 %[B], %[A], ror #8\n\t"
        "ldrd   %[W0], %[W1], [%[wt], #96]\n\t"
        "smlabb r0, %[X], %[W0], r0\n\t"
        "smlatt r2, %[X], %[W0], r2\n\t"
        "smlabb r1, %[B], %[W1], r1\n\t"
        "smlatt r3, %[B], %[W1], r3\n\t"
        "stmia  %[acc]!, {r0-r3}\n\t"
        "ldrd   %[W0], %[W1], [%[wt], #20]\n\t"
        "add    %[q], %[q], %[W0]\n\t"
        "cmp    %[acc], %[W1]\n\t"
        "bne    1b\n\t"
        : [q] "+r"(q), [acc] "+r"(acc), [A] "=&r"(a_), [B] "=&r"(b_), [X] "=&r"(x_), [W0] "=&r"(w0_),
          [W1] "=&r"(w1_)
        : [c] "r"(c), [wt] "r"(wt), [row] "r"(wt[TP_DW_RUN_ROW])
        : "r0", "r1", "r2", "r3", "memory", "cc");
}

/* Output offset and clamp of requantized values, the requantization chosen by the flags. */
static inline __attribute__((always_inline)) int32_t dw_requant(int32_t a, const tp_rq *rq, const tp_rq_right *rr,
                                                                int right, int wide)
{
    return right ? tp_rq_right_apply(a, rr) : wide ? tp_rq_apply_wide(a, rq) : tp_rq_apply(a, rq);
}

/* Output pixels of one 4-channel group (channels ch..ch+3, depth multiplier 1). */
static inline __attribute__((always_inline)) void dw_group(const tp_dw_conv_params *p, const tp_dims *id,
                                                           const int8_t *in, const tp_dims *fd, const int8_t *filter,
                                                           const int32_t *bias, const tp_quant_params *q,
                                                           const tp_dims *od, int8_t *out, int32_t ch, int full,
                                                           int right, int wide)
{
    const int32_t c = id->c, in_h = id->h, in_w = id->w, k_h = fd->h, k_w = fd->w;
    const int32_t dy = p->dilation.h, dx = p->dilation.w, row = in_w * c;
    const uint32_t off2 = tp_dup16(p->input_offset);
    uint32_t wx[2 * TP_DW_MAX_TAPS];
    for (int32_t t = 0; t < k_h * k_w; t++) {
        const uint32_t u = tp_read_s8x4(filter + t * c + ch);
        wx[2 * t] = __sxtb16(u);
        wx[2 * t + 1] = tp_sxtb16_hi(u);
    }
    tp_rq rq[4] = {{0}};
    tp_rq_right rr[4] = {{0}}; /* only one of rq/rr is used; -O3 cannot see which */
    int32_t b[4];
    for (int32_t j = 0; j < 4; j++) {
        const int32_t i = q->per_channel ? ch + j : 0;
        if (right) {
            rr[j] = tp_rq_right_make(q->multiplier[i], q->shift[i]);
        } else {
            rq[j] = tp_rq_make(q->multiplier[i], q->shift[i]);
        }
        b[j] = bias != NULL ? bias[ch + j] : 0;
    }
    const int32_t oo = p->output_offset, amin = p->activation.min, amax = p->activation.max;
    const int is3x3 = k_h == 3 && k_w == 3 && dy == 1 && dx == 1;
    /* interior windows: output columns [run_lo, run_hi) of rows whose window is inside */
    const int32_t sw = p->stride.w;
    int32_t run_lo = 0, run_hi = 0;
    uint32_t wt[TP_DW_RUN_WORDS];
    int32_t acc[4 * TP_DW_RUN_MAX];
    if (is3x3 && in_w >= 3) {
        run_lo = (p->padding.w + sw - 1) / sw;
        run_hi = (in_w - 3 + p->padding.w) / sw + 1;
        run_hi = run_hi < od->w ? run_hi : od->w;
        for (int32_t j = 0; j < 4; j++) {
            int32_t sum = 0;
            for (int32_t t = 0; t < 9; t++) {
                sum += filter[t * c + ch + j];
            }
            wt[TP_DW_RUN_BIAS + j] = (uint32_t)(b[j] + p->input_offset * sum);
        }
        wt[TP_DW_RUN_ROW] = (uint32_t)row;
        wt[TP_DW_RUN_NEXT] = (uint32_t)(sw * c - 2 * row);
        wt[7] = 0;
        for (int32_t pr = 0; pr < 4; pr++) {
            for (int32_t j = 0; j < 4; j++) {
                const uint32_t lo = (uint16_t)filter[2 * pr * c + ch + j];
                const uint32_t hi = (uint16_t)filter[(2 * pr + 1) * c + ch + j];
                wt[TP_DW_RUN_PAIRS + 4 * pr + j] = lo | hi << 16;
            }
        }
        wt[TP_DW_RUN_LAST] = wx[16];
        wt[TP_DW_RUN_LAST + 1] = wx[17];
    }
    int8_t *o_row = out + ch;
    for (int32_t oy = 0; oy < od->h; oy++, o_row += (int64_t)od->w * c) {
        const int32_t y0 = oy * p->stride.h - p->padding.h;
        int32_t ky_lo = 0, ky_hi = k_h;
        while (ky_lo < k_h && y0 + ky_lo * dy < 0) {
            ky_lo++;
        }
        while (ky_hi > ky_lo && y0 + (ky_hi - 1) * dy >= in_h) {
            ky_hi--;
        }
        int32_t lo = od->w, hi = od->w; /* the run: none unless the rows are whole */
        if (run_lo < run_hi && ky_lo == 0 && ky_hi == 3 && is3x3) {
            lo = run_lo, hi = run_hi;
        }
        for (int32_t ox = 0; ox < od->w; ox++) {
            if (ox == lo) {
                /* interior windows in runs of at most TP_DW_RUN_MAX */
                while (ox < hi) {
                    const int32_t n = hi - ox < TP_DW_RUN_MAX ? hi - ox : TP_DW_RUN_MAX;
                    const int8_t *px = in + (int64_t)y0 * row + (int64_t)(ox * sw - p->padding.w) * c + ch;
                    wt[TP_DW_RUN_END] = (uint32_t)(uintptr_t)(acc + 4 * n);
                    dw3x3_run(px, c, wt, acc);
                    for (int32_t j = 0; j < 4; j++) {
                        const tp_rq rqj = rq[j];
                        const tp_rq_right rrj = rr[j];
                        const int32_t *a = acc + j;
                        int8_t *o = o_row + (int64_t)ox * c + j;
                        for (int32_t k = n; k > 0; k--, a += 4, o += c) {
                            *o = (int8_t)tp_clamp_fast(dw_requant(*a, &rqj, &rrj, right, wide), oo, full, amin, amax);
                        }
                    }
                    ox += n;
                }
                if (ox >= od->w) {
                    break;
                }
            }
            int8_t *o = o_row + (int64_t)ox * c;
            const int32_t x0 = ox * p->stride.w - p->padding.w;
            const int8_t *px = in + (int64_t)y0 * row + (int64_t)x0 * c + ch;
            int32_t a0 = b[0], a1 = b[1], a2 = b[2], a3 = b[3];
            uint32_t x0_, x1_, w0_, w1_;
            if (is3x3) { /* clipped 3x3: skip the taps outside, row by row */
                const int k0 = x0 >= 0, k1 = x0 + 1 >= 0 && x0 + 1 < in_w, k2 = x0 + 2 < in_w;
                for (int32_t ky = ky_lo; ky < ky_hi; ky++) {
                    const int8_t *xr = px + (int64_t)ky * row;
                    const uint32_t *wr = wx + 6 * ky;
                    if (k0) {
                        TP_DW_TAP(tp_read_s8x4(xr), wr, 0);
                    }
                    if (k1) {
                        TP_DW_TAP(tp_read_s8x4(xr + c), wr, 8);
                    }
                    if (k2) {
                        TP_DW_TAP(tp_read_s8x4(xr + 2 * c), wr, 16);
                    }
                }
            } else {
                int32_t kx_lo = 0, kx_hi = k_w;
                while (kx_lo < k_w && x0 + kx_lo * dx < 0) {
                    kx_lo++;
                }
                while (kx_hi > kx_lo && x0 + (kx_hi - 1) * dx >= in_w) {
                    kx_hi--;
                }
                for (int32_t ky = ky_lo; ky < ky_hi; ky++) {
                    const int8_t *xr = px + (int64_t)ky * dy * row;
                    const uint32_t *wr = wx + 2 * ky * k_w;
                    for (int32_t kx = kx_lo; kx < kx_hi; kx++) {
                        TP_DW_TAP(tp_read_s8x4(xr + kx * dx * c), wr + 2 * kx, 0);
                    }
                }
            }
            a0 = dw_requant(a0, &rq[0], &rr[0], right, wide), a1 = dw_requant(a1, &rq[1], &rr[1], right, wide);
            a2 = dw_requant(a2, &rq[2], &rr[2], right, wide), a3 = dw_requant(a3, &rq[3], &rr[3], right, wide);
            o[0] = (int8_t)tp_clamp_fast(a0, oo, full, amin, amax);
            o[1] = (int8_t)tp_clamp_fast(a1, oo, full, amin, amax);
            o[2] = (int8_t)tp_clamp_fast(a2, oo, full, amin, amax);
            o[3] = (int8_t)tp_clamp_fast(a3, oo, full, amin, amax);
        }
    }
}

/* One channel (the last c % 4 of them), any position of the window. */
static void dw_channel(const tp_dw_conv_params *p, const tp_dims *id, const int8_t *in, const tp_dims *fd,
                       const int8_t *filter, const int32_t *bias, const tp_quant_params *q, const tp_dims *od,
                       int8_t *out, int32_t ch)
{
    const int32_t c = id->c;
    for (int32_t oy = 0; oy < od->h; oy++) {
        const int32_t y0 = oy * p->stride.h - p->padding.h;
        for (int32_t ox = 0; ox < od->w; ox++) {
            const int32_t x0 = ox * p->stride.w - p->padding.w;
            int32_t acc = bias != NULL ? bias[ch] : 0;
            for (int32_t ky = 0; ky < fd->h; ky++) {
                const int32_t y = y0 + ky * p->dilation.h;
                for (int32_t kx = 0; y >= 0 && y < id->h && kx < fd->w; kx++) {
                    const int32_t x = x0 + kx * p->dilation.w;
                    if (x >= 0 && x < id->w) {
                        acc += filter[(ky * fd->w + kx) * c + ch] *
                               (in[((int64_t)y * id->w + x) * c + ch] + p->input_offset);
                    }
                }
            }
            const int32_t i = q->per_channel ? ch : 0;
            out[((int64_t)oy * od->w + ox) * c + ch] =
                tp_finish_s8(acc, q->multiplier[i], q->shift[i], q->rounding, p->output_offset, &p->activation);
        }
    }
}

tp_status tp_depthwise_conv_s8(const tp_context *ctx, const tp_dw_conv_params *params,
                               const tp_quant_params *quant, const tp_dims *input_dims, const int8_t *input,
                               const tp_dims *filter_dims, const int8_t *filter, const tp_dims *bias_dims,
                               const int32_t *bias, const tp_dims *output_dims, int8_t *output)
{
    (void)ctx;
    (void)bias_dims;
    const int32_t c = input_dims->c, taps = filter_dims->h * filter_dims->w;
    if (output_dims->c != c * params->ch_mult || filter_dims->c != output_dims->c) {
        return TP_ARG_ERROR;
    }
    const tp_kernel_variant variant = params->variant;
    if (variant == TP_VARIANT_GENERIC) {
        return depthwise_generic(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output);
    }
    if ((variant != TP_VARIANT_FAST && variant != TP_VARIANT_FAST_WIDE) || params->ch_mult != 1 ||
        taps > TP_DW_MAX_TAPS || quant->rounding != TP_ROUND_DOUBLE) {
        return TP_ARG_ERROR;
    }
    const int wide = variant == TP_VARIANT_FAST_WIDE;
    const int full = params->activation.min <= -128 && params->activation.max >= 127;
    const int right = !wide && tp_requant_right_only(quant, c);
    const int64_t in_size = (int64_t)input_dims->h * input_dims->w * c;
    const int64_t out_size = (int64_t)output_dims->h * output_dims->w * c;
    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in = input + b * in_size;
        int8_t *out = output + b * out_size;
        int32_t ch = 0;
        for (; ch + 4 <= c; ch += 4) {
            if (wide) {
                dw_group(params, input_dims, in, filter_dims, filter, bias, quant, output_dims, out, ch, 0, 0, 1);
            } else if (full && right) {
                dw_group(params, input_dims, in, filter_dims, filter, bias, quant, output_dims, out, ch, 1, 1, 0);
            } else {
                dw_group(params, input_dims, in, filter_dims, filter, bias, quant, output_dims, out, ch, full, right, 0);
            }
        }
        for (; ch < c; ch++) {
            dw_channel(params, input_dims, in, filter_dims, filter, bias, quant, output_dims, out, ch);
        }
    }
    return TP_OK;
}
