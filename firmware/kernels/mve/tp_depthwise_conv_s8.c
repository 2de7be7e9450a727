/* DEPTHWISE_CONV_2D int8, MVE (Helium), no scratch memory.
 *
 * In NHWC with depth multiplier 1, channel c of a tap is at the same offset in the input
 * pixel and in the filter's [ky][kx][c] row, so eight channels are one widening load
 * each (int8 -> int16 lanes). VMULLB/VMULLT multiply the even/odd lanes into int32 and two
 * accumulators keep the even and odd channels; after requantization VMOVNB/VMOVNT
 * interleave them back into channel order for one narrowing store. Padding taps are
 * skipped, as in the reference. Other depth multipliers run the portable loop. */
#include "tp_nn.h"
#include "tp_mve_support.h"
#include "tp_mve_buffer_sizes.h"

int32_t tp_depthwise_conv_s8_get_buffer_size(const tp_dims *input_dims, const tp_dims *filter_dims)
{
    return tp_mve_depthwise_conv_s8_get_buffer_size(input_dims, filter_dims);
}

static inline void valid_taps(int32_t start, int32_t k, int32_t dil, int32_t size, int32_t *lo, int32_t *hi)
{
    *lo = start >= 0 ? 0 : (-start + dil - 1) / dil;
    const int32_t room = size - start;
    const int32_t t = room <= 0 ? 0 : (room + dil - 1) / dil;
    *hi = t < k ? t : k;
}

/* Per-channel values of channels c, c+2, c+4, c+6 (odd: c+1, ...), zero past n channels. */
static inline int32x4_t even_lanes(const int32_t *v, int32_t n)
{
    const uint32x4_t idx = vidupq_n_u32(0, 2);
    if (n >= 8) {
        return vldrwq_gather_shifted_offset_s32(v, idx);
    }
    return vldrwq_gather_shifted_offset_z_s32(v, idx, vcmphiq_u32(vdupq_n_u32((uint32_t)n), idx));
}

static inline int32x4_t odd_lanes(const int32_t *v, int32_t n)
{
    const uint32x4_t idx = vidupq_n_u32(1, 2);
    if (n >= 8) {
        return vldrwq_gather_shifted_offset_s32(v, idx);
    }
    return vldrwq_gather_shifted_offset_z_s32(v, idx, vcmphiq_u32(vdupq_n_u32((uint32_t)n), idx));
}

/* Requantize the even/odd accumulators of channels c..c+n-1 (n <= 8) and store them. */
static inline void finish_8(const tp_mve_out *fin, int32x4_t ev, int32x4_t od, const int32_t *bias, int32_t c,
                            int32_t n, int8_t *out)
{
    if (bias != NULL) {
        ev = vaddq_s32(ev, even_lanes(bias + c, n));
        od = vaddq_s32(od, odd_lanes(bias + c, n));
    }
    int32x4_t me, se, mo, so;
    if (fin->per_channel) {
        me = even_lanes(fin->mult + c, n), se = even_lanes(fin->shift + c, n);
        mo = odd_lanes(fin->mult + c, n), so = odd_lanes(fin->shift + c, n);
    } else {
        me = mo = vdupq_n_s32(fin->mult[0]);
        se = so = vdupq_n_s32(fin->shift[0]);
    }
    const int32x4_t re = tp_mve_finish_q(fin, ev, me, se), ro = tp_mve_finish_q(fin, od, mo, so);
    const int16x8_t r = vmovntq_s32(vmovnbq_s32(vdupq_n_s16(0), re), ro);
    if (n >= 8) {
        vstrbq_s16(out, r);
    } else {
        vstrbq_p_s16(out, r, vctp16q((uint32_t)n));
    }
}

static void depthwise_mult1(const tp_dw_conv_params *p, const tp_mve_out *fin, const tp_dims *in,
                            const int8_t *batch, const tp_dims *f, const int8_t *filter, const int32_t *bias,
                            const tp_dims *out_dims, int8_t *out)
{
    const int32_t ch = in->c, kw = f->w;
    const int16_t in_off = (int16_t)p->input_offset;
    for (int32_t oy = 0; oy < out_dims->h; oy++) {
        const int32_t y0 = oy * p->stride.h - p->padding.h;
        int32_t ky_lo, ky_hi;
        valid_taps(y0, f->h, p->dilation.h, in->h, &ky_lo, &ky_hi);
        for (int32_t ox = 0; ox < out_dims->w; ox++) {
            const int32_t x0 = ox * p->stride.w - p->padding.w;
            int32_t kx_lo, kx_hi;
            valid_taps(x0, kw, p->dilation.w, in->w, &kx_lo, &kx_hi);
            const int32_t nky = ky_hi - ky_lo, nkx = kx_hi - kx_lo;
            const int32_t xstep = p->dilation.w * ch, ystep = p->dilation.h * in->w * ch;
            const int8_t *x_first = batch + ((int64_t)(y0 + ky_lo * p->dilation.h) * in->w + x0 +
                                             kx_lo * p->dilation.w) * ch;
            const int8_t *w_first = filter + ((int64_t)ky_lo * kw + kx_lo) * ch;
            for (int32_t c = 0; c < ch; c += 16) {
                const int32_t n = ch - c < 16 ? ch - c : 16;
                int32x4_t e0 = vdupq_n_s32(0), o0 = e0, e1 = e0, o1 = e0;
                const int8_t *xr = x_first + c, *wr = w_first + c;
                if (n == 16) {
                    for (int32_t ky = 0; ky < nky; ky++, xr += ystep, wr += kw * ch) {
                        const int8_t *xs = xr, *ws = wr;
                        for (int32_t kx = 0; kx < nkx; kx++, xs += xstep, ws += ch) {
                            int16x8_t xv = vaddq_n_s16(vldrbq_s16(xs), in_off);
                            int16x8_t wv = vldrbq_s16(ws);
                            e0 = vaddq_s32(e0, vmullbq_int_s16(xv, wv));
                            o0 = vaddq_s32(o0, vmulltq_int_s16(xv, wv));
                            xv = vaddq_n_s16(vldrbq_s16(xs + 8), in_off);
                            wv = vldrbq_s16(ws + 8);
                            e1 = vaddq_s32(e1, vmullbq_int_s16(xv, wv));
                            o1 = vaddq_s32(o1, vmulltq_int_s16(xv, wv));
                        }
                    }
                } else { /* zeroing loads: lanes past the channels add nothing */
                    const mve_pred16_t p0 = vctp16q((uint32_t)n), p1 = vctp16q((uint32_t)(n > 8 ? n - 8 : 0));
                    for (int32_t ky = 0; ky < nky; ky++, xr += ystep, wr += kw * ch) {
                        const int8_t *xs = xr, *ws = wr;
                        for (int32_t kx = 0; kx < nkx; kx++, xs += xstep, ws += ch) {
                            int16x8_t xv = vaddq_n_s16(vldrbq_z_s16(xs, p0), in_off);
                            int16x8_t wv = vldrbq_z_s16(ws, p0);
                            e0 = vaddq_s32(e0, vmullbq_int_s16(xv, wv));
                            o0 = vaddq_s32(o0, vmulltq_int_s16(xv, wv));
                            xv = vaddq_n_s16(vldrbq_z_s16(xs + 8, p1), in_off);
                            wv = vldrbq_z_s16(ws + 8, p1);
                            e1 = vaddq_s32(e1, vmullbq_int_s16(xv, wv));
                            o1 = vaddq_s32(o1, vmulltq_int_s16(xv, wv));
                        }
                    }
                }
                int8_t *o = out + ((int64_t)oy * out_dims->w + ox) * ch + c;
                finish_8(fin, e0, o0, bias, c, n < 8 ? n : 8, o);
                if (n > 8) {
                    finish_8(fin, e1, o1, bias, c + 8, n - 8, o + 8);
                }
            }
        }
    }
}

/* Any depth multiplier: the reference loop. */
static void depthwise_generic(const tp_dw_conv_params *p, const tp_quant_params *quant, const tp_dims *in,
                              const int8_t *batch, const tp_dims *f, const int8_t *filter, const int32_t *bias,
                              const tp_dims *out_dims, int8_t *out)
{
    const int32_t out_c = out_dims->c, mult = p->ch_mult;
    for (int32_t oy = 0; oy < out_dims->h; oy++) {
        const int32_t y0 = oy * p->stride.h - p->padding.h;
        for (int32_t ox = 0; ox < out_dims->w; ox++) {
            const int32_t x0 = ox * p->stride.w - p->padding.w;
            for (int32_t oc = 0; oc < out_c; oc++) {
                const int32_t ic = oc / mult;
                int32_t acc = bias != NULL ? bias[oc] : 0;
                for (int32_t ky = 0; ky < f->h; ky++) {
                    const int32_t y = y0 + ky * p->dilation.h;
                    for (int32_t kx = 0; y >= 0 && y < in->h && kx < f->w; kx++) {
                        const int32_t x = x0 + kx * p->dilation.w;
                        if (x >= 0 && x < in->w) {
                            acc += filter[((int64_t)ky * f->w + kx) * out_c + oc] *
                                   (batch[((int64_t)y * in->w + x) * in->c + ic] + p->input_offset);
                        }
                    }
                }
                const int32_t q = quant->per_channel ? oc : 0;
                acc = tp_requantize(acc, quant->multiplier[q], quant->shift[q], quant->rounding) + p->output_offset;
                *out++ = tp_clamp_s8(acc, &p->activation);
            }
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
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_c = output_dims->c;
    if (out_c != in_c * params->ch_mult || filter_dims->c != out_c) {
        return TP_ARG_ERROR;
    }
    /* the code generator's choice: the vector loop (depth multiplier 1; its requantization is
     * exact for any accumulator, so FAST and FAST_WIDE are one path) or the portable one */
    const int vector = params->variant == TP_VARIANT_FAST || params->variant == TP_VARIANT_FAST_WIDE;
    if ((vector && params->ch_mult != 1) || (!vector && params->variant != TP_VARIANT_GENERIC)) {
        return TP_ARG_ERROR;
    }
    const tp_mve_out fin = tp_mve_out_make(quant, out_c, params->output_offset, &params->activation);
    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *batch = input + (int64_t)b * in_h * in_w * in_c;
        int8_t *out = output + (int64_t)b * output_dims->h * output_dims->w * out_c;
        if (vector) {
            depthwise_mult1(params, &fin, input_dims, batch, filter_dims, filter, bias, output_dims, out);
        } else {
            depthwise_generic(params, quant, input_dims, batch, filter_dims, filter, bias, output_dims, out);
        }
    }
    return TP_OK;
}
