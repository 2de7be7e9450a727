/* CONV_2D int8, DSP extension, im2col-free and without scratch memory.
 *
 * In NHWC the taps of one kernel row (kx = 0..Kw-1, all Cin) are contiguous in both the
 * input and the filter when dilation.w == 1, so each output pixel is a sum over kernel
 * rows of contiguous int8 dot products (the whole patch at once for a 1x1 convolution:
 * a GEMM). Padding clips the row segment, since TFLite's padding contributes nothing.
 * Pixels go in pairs and output channels in pairs: each loaded word feeds two SMLADs.
 * Small patches (<= TP_CONV_PATCH_MAX bytes, e.g. a first layer with one input channel)
 * are instead gathered for two pixels into a stack buffer padded with the zero point,
 * so that every pixel pair runs one long dot product instead of many short ones. */
#include "tp_nn.h"
#include "tp_dsp_support.h"

int32_t tp_convolve_s8_get_buffer_size(const tp_dims *input_dims, const tp_dims *filter_dims)
{
    (void)input_dims;
    (void)filter_dims;
    return 0;
}

/* The part of the kernel window inside the input, for one output pixel. */
typedef struct {
    int32_t y0, x0;       /* input coordinate of tap (0, 0) */
    int32_t ky_lo, ky_hi; /* valid kernel rows [lo, hi) */
    int32_t kx_lo, kx_hi; /* valid kernel columns [lo, hi) */
} window;

static inline int32_t first_valid(int32_t start, int32_t dil)
{
    return start >= 0 ? 0 : (-start + dil - 1) / dil;
}

static inline int32_t end_valid(int32_t start, int32_t k, int32_t dil, int32_t size)
{
    /* smallest t >= 0 with start + t*dil >= size, capped at k */
    const int32_t room = size - start;
    if (room <= 0) {
        return 0;
    }
    const int32_t t = (room + dil - 1) / dil;
    return t < k ? t : k;
}

static inline window make_window(int32_t oy, int32_t ox, const tp_conv_params *p, const tp_dims *in,
                                 const tp_dims *f)
{
    window w;
    w.y0 = oy * p->stride.h - p->padding.h;
    w.x0 = ox * p->stride.w - p->padding.w;
    w.ky_lo = first_valid(w.y0, p->dilation.h);
    w.ky_hi = end_valid(w.y0, f->h, p->dilation.h, in->h);
    w.kx_lo = first_valid(w.x0, p->dilation.w);
    w.kx_hi = end_valid(w.x0, f->w, p->dilation.w, in->w);
    return w;
}

static inline int same_clip(const window *a, const window *b)
{
    return a->ky_lo == b->ky_lo && a->ky_hi == b->ky_hi && a->kx_lo == b->kx_lo && a->kx_hi == b->kx_hi;
}

/* Accumulate channel pair (f0, f1) over pixel pair (wa, wb) with identical clipping. */
static void conv_2x2(const int8_t *in, const tp_dims *id, const tp_dims *fd, const tp_conv_params *p,
                     const window *wa, const window *wb, const int8_t *f0, const int8_t *f1, uint32_t off2,
                     int32_t acc[4])
{
    const int32_t cin = id->c, dy = p->dilation.h, dx = p->dilation.w;
    for (int32_t ky = wa->ky_lo; ky < wa->ky_hi; ky++) {
        const int8_t *ra = in + ((int64_t)(wa->y0 + ky * dy) * id->w + wa->x0) * cin;
        const int8_t *rb = in + ((int64_t)(wb->y0 + ky * dy) * id->w + wb->x0) * cin;
        const int32_t frow = ky * fd->w * cin;
        if (dx == 1) {
            const int32_t s = wa->kx_lo * cin, len = (wa->kx_hi - wa->kx_lo) * cin;
            tp_dot_2x2(f0 + frow + s, f1 + frow + s, ra + s, rb + s, len, off2, &acc[0], &acc[1], &acc[2], &acc[3]);
        } else {
            for (int32_t kx = wa->kx_lo; kx < wa->kx_hi; kx++) {
                const int32_t fs = frow + kx * cin, xs = kx * dx * cin;
                tp_dot_2x2(f0 + fs, f1 + fs, ra + xs, rb + xs, cin, off2, &acc[0], &acc[1], &acc[2], &acc[3]);
            }
        }
    }
}

static int32_t conv_1x1(const int8_t *in, const tp_dims *id, const tp_dims *fd, const tp_conv_params *p,
                        const window *wa, const int8_t *f0, uint32_t off2, int32_t acc)
{
    const int32_t cin = id->c, dy = p->dilation.h, dx = p->dilation.w;
    for (int32_t ky = wa->ky_lo; ky < wa->ky_hi; ky++) {
        const int8_t *ra = in + ((int64_t)(wa->y0 + ky * dy) * id->w + wa->x0) * cin;
        const int32_t frow = ky * fd->w * cin;
        if (dx == 1) {
            const int32_t s = wa->kx_lo * cin;
            acc = tp_dot_1x1(f0 + frow + s, ra + s, (wa->kx_hi - wa->kx_lo) * cin, off2, acc);
        } else {
            for (int32_t kx = wa->kx_lo; kx < wa->kx_hi; kx++) {
                acc = tp_dot_1x1(f0 + frow + kx * cin, ra + kx * dx * cin, cin, off2, acc);
            }
        }
    }
    return acc;
}

#define TP_CONV_PATCH_MAX 256

static void gather_patch(const int8_t *in, const tp_dims *id, const tp_dims *fd, const tp_conv_params *p,
                         int32_t pix, int32_t out_w, int8_t *dst)
{
    const int32_t cin = id->c;
    const int32_t y0 = (pix / out_w) * p->stride.h - p->padding.h;
    const int32_t x0 = (pix % out_w) * p->stride.w - p->padding.w;
    const int8_t pad = (int8_t)(-p->input_offset); /* the zero point: (pad + offset) * w = 0 */
    for (int32_t ky = 0; ky < fd->h; ky++) {
        const int32_t y = y0 + ky * p->dilation.h;
        for (int32_t kx = 0; kx < fd->w; kx++) {
            const int32_t x = x0 + kx * p->dilation.w;
            if (y >= 0 && y < id->h && x >= 0 && x < id->w) {
                memcpy(dst, in + ((int64_t)y * id->w + x) * cin, (size_t)cin);
            } else {
                memset(dst, pad, (size_t)cin);
            }
            dst += cin;
        }
    }
}

static inline int8_t finish(int32_t acc, int32_t oc, const tp_conv_params *p, const tp_quant_params *q)
{
    const int32_t i = q->per_channel ? oc : 0;
    return tp_finish_s8(acc, q->multiplier[i], q->shift[i], q->rounding, p->output_offset, &p->activation);
}

tp_status tp_convolve_s8(const tp_context *ctx, const tp_conv_params *params, const tp_quant_params *quant,
                         const tp_dims *input_dims, const int8_t *input, const tp_dims *filter_dims,
                         const int8_t *filter, const tp_dims *bias_dims, const int32_t *bias,
                         const tp_dims *output_dims, int8_t *output)
{
    (void)ctx;
    (void)bias_dims;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t patch = filter_dims->h * filter_dims->w * filter_dims->c;
    if (filter_dims->c != input_dims->c || filter_dims->n != out_c) {
        return TP_ARG_ERROR;
    }
    const uint32_t off2 = tp_dup16(params->input_offset);
    const int32_t pixels = out_h * out_w;
    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in = input + (int64_t)b * input_dims->h * input_dims->w * input_dims->c;
        int8_t *out = output + (int64_t)b * pixels * out_c;
        const int pointwise = filter_dims->h == 1 && filter_dims->w == 1 && params->padding.h == 0 &&
                              params->padding.w == 0;
        if (!pointwise && patch <= TP_CONV_PATCH_MAX) {
            int8_t cols[2][TP_CONV_PATCH_MAX];
            for (int32_t pix = 0; pix < pixels; pix += 2) {
                const int two = pix + 1 < pixels;
                gather_patch(in, input_dims, filter_dims, params, pix, out_w, cols[0]);
                if (two) {
                    gather_patch(in, input_dims, filter_dims, params, pix + 1, out_w, cols[1]);
                }
                int8_t *oa = out + (int64_t)pix * out_c, *ob = oa + out_c;
                int32_t oc = 0;
                for (; oc + 2 <= out_c; oc += 2) {
                    const int8_t *f0 = filter + (int64_t)oc * patch;
                    const int32_t b0 = bias != NULL ? bias[oc] : 0, b1 = bias != NULL ? bias[oc + 1] : 0;
                    int32_t a0a = b0, a0b = b0, a1a = b1, a1b = b1;
                    tp_dot_2x2(f0, f0 + patch, cols[0], cols[two], patch, off2, &a0a, &a0b, &a1a, &a1b);
                    oa[oc] = finish(a0a, oc, params, quant);
                    oa[oc + 1] = finish(a1a, oc + 1, params, quant);
                    if (two) {
                        ob[oc] = finish(a0b, oc, params, quant);
                        ob[oc + 1] = finish(a1b, oc + 1, params, quant);
                    }
                }
                for (; oc < out_c; oc++) {
                    const int8_t *f0 = filter + (int64_t)oc * patch;
                    const int32_t b0 = bias != NULL ? bias[oc] : 0;
                    oa[oc] = finish(tp_dot_1x1(f0, cols[0], patch, off2, b0), oc, params, quant);
                    if (two) {
                        ob[oc] = finish(tp_dot_1x1(f0, cols[1], patch, off2, b0), oc, params, quant);
                    }
                }
            }
            continue;
        }
        for (int32_t pix = 0; pix < pixels;) {
            const window wa = make_window(pix / out_w, pix % out_w, params, input_dims, filter_dims);
            window wb = wa;
            int pair = 0;
            if (pix + 1 < pixels) {
                wb = make_window((pix + 1) / out_w, (pix + 1) % out_w, params, input_dims, filter_dims);
                pair = same_clip(&wa, &wb);
            }
            int8_t *oa = out + (int64_t)pix * out_c;
            int32_t oc = 0;
            if (pair) {
                int8_t *ob = oa + out_c;
                for (; oc + 2 <= out_c; oc += 2) {
                    const int8_t *f0 = filter + (int64_t)oc * patch;
                    const int32_t b0 = bias != NULL ? bias[oc] : 0, b1 = bias != NULL ? bias[oc + 1] : 0;
                    int32_t acc[4] = {b0, b0, b1, b1};
                    conv_2x2(in, input_dims, filter_dims, params, &wa, &wb, f0, f0 + patch, off2, acc);
                    oa[oc] = finish(acc[0], oc, params, quant);
                    ob[oc] = finish(acc[1], oc, params, quant);
                    oa[oc + 1] = finish(acc[2], oc + 1, params, quant);
                    ob[oc + 1] = finish(acc[3], oc + 1, params, quant);
                }
                for (; oc < out_c; oc++) {
                    const int8_t *f0 = filter + (int64_t)oc * patch;
                    const int32_t b0 = bias != NULL ? bias[oc] : 0;
                    oa[oc] = finish(conv_1x1(in, input_dims, filter_dims, params, &wa, f0, off2, b0), oc, params, quant);
                    ob[oc] = finish(conv_1x1(in, input_dims, filter_dims, params, &wb, f0, off2, b0), oc, params, quant);
                }
                pix += 2;
            } else {
                for (; oc < out_c; oc++) {
                    const int8_t *f0 = filter + (int64_t)oc * patch;
                    const int32_t b0 = bias != NULL ? bias[oc] : 0;
                    oa[oc] = finish(conv_1x1(in, input_dims, filter_dims, params, &wa, f0, off2, b0), oc, params, quant);
                }
                pix += 1;
            }
        }
    }
    return TP_OK;
}
