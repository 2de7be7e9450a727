/* CONV_2D int8, MVE (Helium), no scratch memory.
 *
 * Every output value is a dot product of the pixel's receptive field (Kh*Kw*Cin int8, in
 * the filter's [ky][kx][c] order) with one filter row. A 1x1 unpadded convolution reads
 * the field straight from the input (a GEMM); otherwise the fields of two pixels are
 * gathered into stack buffers, padding filled with the input zero point so that it adds
 * (zp + in_off) * w = 0 exactly as TFLite's skipped taps do. The input offset then costs
 * in_off * sum(filter row) once per channel, folded with the bias, and the inner loop is
 * VMLADAVA alone: two pixels x two channels, 16 MACs per instruction, a predicated tail.
 * Fields larger than TP_MVE_CONV_PATCH_MAX bytes take a slower path over the valid
 * kernel-row segments (sum of the valid weights per pixel). Requantization is vectorised
 * over four channels (tp_mve_support.h). */
#include "tp_nn.h"
#include "tp_mve_support.h"
#include "tp_mve_buffer_sizes.h"

#ifndef TP_MVE_CONV_PATCH_MAX
#define TP_MVE_CONV_PATCH_MAX 1024 /* bytes per gathered field; two live on the stack */
#endif
#define TP_MVE_CONV_CH_BLOCK TP_MVE_BLOCK /* channels whose folded bias lives on the stack at once */

int32_t tp_convolve_s8_get_buffer_size(const tp_dims *input_dims, const tp_dims *filter_dims)
{
    return tp_mve_convolve_s8_get_buffer_size(input_dims, filter_dims);
}

/* s[0..3] += (xa.w0, xa.w1, xb.w0, xb.w1) over len int8. */
static inline void dot_2x2(const int8_t *xa, const int8_t *xb, const int8_t *w0, const int8_t *w1, int32_t len,
                           int32_t s[4])
{
    int32_t a0 = s[0], a1 = s[1], b0 = s[2], b1 = s[3];
    for (int32_t blocks = len >> 4; blocks > 0; blocks--) { /* post-incremented loads, LE loop */
        const int8x16_t va = vldrbq_s8(xa), vb = vldrbq_s8(xb);
        const int8x16_t u0 = vldrbq_s8(w0), u1 = vldrbq_s8(w1);
        xa += 16, xb += 16, w0 += 16, w1 += 16;
        a0 = vmladavaq_s8(a0, va, u0);
        a1 = vmladavaq_s8(a1, va, u1);
        b0 = vmladavaq_s8(b0, vb, u0);
        b1 = vmladavaq_s8(b1, vb, u1);
    }
    if (len & 15) {
        const mve_pred16_t p = vctp8q((uint32_t)(len & 15));
        const int8x16_t va = vldrbq_z_s8(xa, p), vb = vldrbq_z_s8(xb, p);
        const int8x16_t u0 = vldrbq_z_s8(w0, p), u1 = vldrbq_z_s8(w1, p);
        a0 = vmladavaq_s8(a0, va, u0);
        a1 = vmladavaq_s8(a1, va, u1);
        b0 = vmladavaq_s8(b0, vb, u0);
        b1 = vmladavaq_s8(b1, vb, u1);
    }
    s[0] = a0, s[1] = a1, s[2] = b0, s[3] = b1;
}

static inline int32_t sum_s8(const int8_t *x, int32_t n, int32_t s)
{
    for (int32_t k = 0; k < n; k += 16) {
        s = vaddvaq_s8(s, vldrbq_z_s8(x + k, vctp8q((uint32_t)(n - k))));
    }
    return s;
}

static inline void copy_s8(int8_t *dst, const int8_t *src, int32_t n)
{
    for (int32_t k = 0; k < n; k += 16) {
        const mve_pred16_t p = vctp8q((uint32_t)(n - k));
        vstrbq_p_s8(dst + k, vldrbq_z_s8(src + k, p), p);
    }
}

static inline void fill_s8(int8_t *dst, int8_t v, int32_t n)
{
    const int8x16_t d = vdupq_n_s8(v);
    for (int32_t k = 0; k < n; k += 16) {
        vstrbq_p_s8(dst + k, d, vctp8q((uint32_t)(n - k)));
    }
}

/* Valid kernel taps [lo, hi) along one axis for a window starting at `start`. */
static inline void valid_taps(int32_t start, int32_t k, int32_t dil, int32_t size, int32_t *lo, int32_t *hi)
{
    *lo = start >= 0 ? 0 : (-start + dil - 1) / dil;
    const int32_t room = size - start;
    const int32_t t = room <= 0 ? 0 : (room + dil - 1) / dil;
    *hi = t < k ? t : k;
}

typedef struct {
    const tp_conv_params *p;
    const tp_dims *in, *f;
    const int8_t *batch;
    int32_t zp; /* input zero point, -input_offset */
} geometry;

/* The receptive field of output pixel (oy, ox) into buf (Kh*Kw*Cin bytes). */
static void gather(const geometry *g, int32_t oy, int32_t ox, int8_t *buf)
{
    const tp_conv_params *p = g->p;
    const int32_t cin = g->in->c, kw = g->f->w;
    const int32_t y0 = oy * p->stride.h - p->padding.h, x0 = ox * p->stride.w - p->padding.w;
    int32_t ky_lo, ky_hi, kx_lo, kx_hi;
    valid_taps(y0, g->f->h, p->dilation.h, g->in->h, &ky_lo, &ky_hi);
    valid_taps(x0, kw, p->dilation.w, g->in->w, &kx_lo, &kx_hi);
    if (ky_lo > 0 || ky_hi < g->f->h || kx_lo > 0 || kx_hi < kw) {
        fill_s8(buf, (int8_t)g->zp, g->f->h * kw * cin);
    }
    for (int32_t ky = ky_lo; ky < ky_hi; ky++) {
        const int8_t *row = g->batch + ((int64_t)(y0 + ky * p->dilation.h) * g->in->w + x0) * cin;
        int8_t *dst = buf + ky * kw * cin;
        if (p->dilation.w == 1) {
            copy_s8(dst + kx_lo * cin, row + kx_lo * cin, (kx_hi - kx_lo) * cin);
        } else {
            for (int32_t kx = kx_lo; kx < kx_hi; kx++) {
                copy_s8(dst + kx * cin, row + kx * p->dilation.w * cin, cin);
            }
        }
    }
}

/* Output pixels pa and pb (pb may equal pa; its values are then stored twice), all
 * channels of the block [oc0, oc0 + nch), from full fields xa and xb. beff and bp hold
 * the block's folded biases and requantization parameters. */
static void pixels_block(const int8_t *xa, const int8_t *xb, const int8_t *filter, int32_t patch, int32_t oc0,
                         int32_t nch, const int32_t *beff, const tp_mve_block_params *bp, const tp_mve_out *fin,
                         int8_t *outa, int8_t *outb)
{
    const int32x4_t lo = vdupq_n_s32(fin->act_min), hi = vdupq_n_s32(fin->act_max);
    const int8_t *w = filter + (int64_t)oc0 * patch;
    for (int32_t j = 0; j < nch; j += 4, w += 4 * patch) {
        const int32_t n = nch - j < 4 ? nch - j : 4;
        const int8_t *w1 = n > 1 ? w + patch : w, *w2 = n > 2 ? w + 2 * patch : w;
        const int8_t *w3 = n > 3 ? w + 3 * patch : w;
        int32_t s01[4] = {0, 0, 0, 0}, s23[4] = {0, 0, 0, 0};
        dot_2x2(xa, xb, w, w1, patch, s01);
        dot_2x2(xa, xb, w2, w3, patch, s23);
        const int32x4_t bias = vldrwq_s32(beff + j), mult = vldrwq_s32(bp->mult + j);
        const int32x4_t shift = vldrwq_s32(bp->shift + j);
        int32x4_t ra = tp_mve_vec4(s01[0], s01[1], s23[0], s23[1]), rb = tp_mve_vec4(s01[2], s01[3], s23[2], s23[3]);
        ra = vaddq_n_s32(tp_mve_requantize(vaddq_s32(ra, bias), mult, shift, fin->mode), fin->output_offset);
        rb = vaddq_n_s32(tp_mve_requantize(vaddq_s32(rb, bias), mult, shift, fin->mode), fin->output_offset);
        ra = vminq_s32(vmaxq_s32(ra, lo), hi);
        rb = vminq_s32(vmaxq_s32(rb, lo), hi);
        tp_mve_store4(outa + j, ra, n);
        tp_mve_store4(outb + j, rb, n);
    }
}

/* Fields too large to gather: per pixel and channel, the dot product over the valid
 * kernel-row segments plus in_off * (sum of the weights they cover). */
static void pixel_segments(const geometry *g, int32_t oy, int32_t ox, const int8_t *filter, const int32_t *bias,
                           const tp_mve_out *fin, int32_t out_c, int8_t *out)
{
    const tp_conv_params *p = g->p;
    const int32_t cin = g->in->c, kw = g->f->w, patch = g->f->h * kw * cin;
    const int32_t y0 = oy * p->stride.h - p->padding.h, x0 = ox * p->stride.w - p->padding.w;
    int32_t ky_lo, ky_hi, kx_lo, kx_hi;
    valid_taps(y0, g->f->h, p->dilation.h, g->in->h, &ky_lo, &ky_hi);
    valid_taps(x0, kw, p->dilation.w, g->in->w, &kx_lo, &kx_hi);
    const int32_t merged = p->dilation.w == 1; /* the valid kx of one row are contiguous */
    for (int32_t oc = 0; oc < out_c; oc += 4) {
        const int32_t n = out_c - oc < 4 ? out_c - oc : 4;
        int32_t acc[4] = {0, 0, 0, 0};
        for (int32_t j = 0; j < n; j++) {
            const int8_t *w = filter + (int64_t)(oc + j) * patch;
            int32_t s[4] = {0, 0, 0, 0}, wsum = 0;
            for (int32_t ky = ky_lo; ky < ky_hi; ky++) {
                const int8_t *row = g->batch + ((int64_t)(y0 + ky * p->dilation.h) * g->in->w + x0) * cin;
                const int8_t *wrow = w + ky * kw * cin;
                for (int32_t kx = kx_lo; kx < kx_hi; kx += merged ? kx_hi - kx_lo : 1) {
                    const int32_t len = merged ? (kx_hi - kx_lo) * cin : cin;
                    const int8_t *xs = row + kx * p->dilation.w * cin, *ws = wrow + kx * cin;
                    dot_2x2(xs, xs, ws, ws, len, s);
                    wsum = sum_s8(ws, len, wsum);
                }
            }
            acc[j] = s[0] + g->p->input_offset * wsum + (bias != NULL ? bias[oc + j] : 0);
        }
        const int32x4_t v = tp_mve_vec4(acc[0], acc[1], acc[2], acc[3]);
        tp_mve_store4(out + oc, tp_mve_finish(fin, v, oc, n), n);
    }
}

tp_status tp_convolve_s8(const tp_context *ctx, const tp_conv_params *params, const tp_quant_params *quant,
                         const tp_dims *input_dims, const int8_t *input, const tp_dims *filter_dims,
                         const int8_t *filter, const tp_dims *bias_dims, const int32_t *bias,
                         const tp_dims *output_dims, int8_t *output)
{
    (void)ctx;
    (void)bias_dims;
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    if (filter_dims->c != in_c || filter_dims->n != out_c) {
        return TP_ARG_ERROR;
    }
    const int32_t patch = filter_dims->h * filter_dims->w * in_c;
    const int32_t pixels = out_h * out_w;
    const int direct = filter_dims->h == 1 && filter_dims->w == 1 && params->padding.h == 0 &&
                       params->padding.w == 0;
    const int gathered = !direct && patch <= TP_MVE_CONV_PATCH_MAX;
    const tp_mve_out fin = tp_mve_out_make(quant, out_c, params->output_offset, &params->activation);
    int8_t field[2][TP_MVE_CONV_PATCH_MAX > 0 ? TP_MVE_CONV_PATCH_MAX : 1];
    for (int32_t b = 0; b < input_dims->n; b++) {
        const geometry g = {params, input_dims, filter_dims, input + (int64_t)b * in_h * in_w * in_c,
                            -params->input_offset};
        int8_t *out_batch = output + (int64_t)b * pixels * out_c;
        if (!direct && !gathered) {
            for (int32_t pix = 0; pix < pixels; pix++) {
                pixel_segments(&g, pix / out_w, pix % out_w, filter, bias, &fin, out_c,
                               out_batch + (int64_t)pix * out_c);
            }
            continue;
        }
        for (int32_t oc0 = 0; oc0 < out_c; oc0 += TP_MVE_CONV_CH_BLOCK) {
            const int32_t nch = out_c - oc0 < TP_MVE_CONV_CH_BLOCK ? out_c - oc0 : TP_MVE_CONV_CH_BLOCK;
            int32_t beff[TP_MVE_CONV_CH_BLOCK] = {0}; /* bias + in_off * sum(filter row) */
            tp_mve_block_params bp;
            tp_mve_block_load(&bp, &fin, oc0, nch);
            for (int32_t j = 0; j < nch; j++) {
                const int32_t sw = sum_s8(filter + (int64_t)(oc0 + j) * patch, patch, 0);
                beff[j] = (bias != NULL ? bias[oc0 + j] : 0) + params->input_offset * sw;
            }
            for (int32_t pa = 0; pa < pixels; pa += 2) {
                const int32_t pb = pa + 1 < pixels ? pa + 1 : pa;
                const int32_t ya = pa / out_w, xa = pa % out_w, yb = pb / out_w, xb = pb % out_w;
                const int8_t *fa, *fb;
                if (direct) {
                    fa = g.batch + ((int64_t)ya * params->stride.h * in_w + xa * params->stride.w) * in_c;
                    fb = g.batch + ((int64_t)yb * params->stride.h * in_w + xb * params->stride.w) * in_c;
                } else {
                    gather(&g, ya, xa, field[0]);
                    gather(&g, yb, xb, field[1]);
                    fa = field[0], fb = field[1];
                }
                pixels_block(fa, fb, filter, patch, oc0, nch, beff, &bp, &fin, out_batch + (int64_t)pa * out_c + oc0,
                             out_batch + (int64_t)pb * out_c + oc0);
            }
        }
    }
    return TP_OK;
}
