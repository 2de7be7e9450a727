/* Shared by the DSP-extension sparse kernels (tp_csr_s8.c, tp_nm_s8.c): requantization
 * decided once per call, and the int8 im2col of one output pixel. Sparse kernels start
 * from the folded bias (tp_nn_sparse.h), so they multiply raw int8 inputs. */
#ifndef TP_SPARSE_DSP_H
#define TP_SPARSE_DSP_H

#include "tp_dsp_buffer_sizes.h" /* tp_sparse_pointwise */
#include "tp_dsp_support.h"
#include "tp_sparse_common.h"

/* How one call requantizes: single rounding is exact on the fast path for every input;
 * double rounding needs tp_requant_headroom(). */
typedef struct {
    const int32_t *mult, *shift;
    int32_t qstep; /* 1 per-channel, 0 per-tensor */
    int32_t oo, amin, amax;
    int mode; /* 0 single fast, 1 double bounded, 2 general */
    int full; /* the activation range is all of int8: one SSAT clamps */
} tp_sparse_rq;

/* The folded bias b' = b + off * sum(w) bounds the accumulator less tightly than b: with
 * |b| <= |b'| + 255 * 127 * taps, twice the taps keeps tp_requant_headroom() sound. */
static inline tp_sparse_rq tp_sparse_rq_make(const tp_quant_params *q, const int32_t *bias, int32_t channels,
                                             int32_t taps, int32_t output_offset, const tp_activation *act)
{
    tp_sparse_rq r;
    r.mult = q->multiplier;
    r.shift = q->shift;
    r.qstep = q->per_channel ? 1 : 0;
    r.oo = output_offset;
    r.amin = act->min;
    r.amax = act->max;
    r.full = act->min <= -128 && act->max >= 127;
    if (q->rounding == TP_ROUND_SINGLE) {
        r.mode = 0;
    } else {
        r.mode = tp_requant_headroom(q, bias, channels, 2 * taps, 127) ? 1 : 2;
    }
    return r;
}

/* One requantized output; `mode` is a constant where the caller specialises its loop. */
static inline __attribute__((always_inline)) uint32_t tp_sparse_out_m(int32_t acc, int32_t o, const tp_sparse_rq *r,
                                                                      const int mode)
{
    const int32_t i = o * r->qstep;
    int32_t v;
    if (mode == 0) {
        v = tp_requant_single_fast(acc, r->mult[i], r->shift[i]);
    } else if (mode == 1) {
        v = tp_requant_double_bounded(acc, r->mult[i], r->shift[i]);
    } else {
        v = tp_requantize_fast(acc, r->mult[i], r->shift[i], TP_ROUND_DOUBLE);
    }
    return (uint8_t)tp_clamp_fast(v, r->oo, r->full, r->amin, r->amax);
}

static inline uint32_t tp_sparse_out(int32_t acc, int32_t o, const tp_sparse_rq *r)
{
    return tp_sparse_out_m(acc, o, r, r->mode);
}

/* Four requantized outputs in one (possibly unaligned) store. */
static inline __attribute__((always_inline)) void tp_sparse_store4(int8_t *out, int32_t o, const int32_t acc[4],
                                                                   const tp_sparse_rq *r, const int mode)
{
    const uint32_t word = tp_sparse_out_m(acc[0], o, r, mode) | tp_sparse_out_m(acc[1], o + 1, r, mode) << 8 |
                          tp_sparse_out_m(acc[2], o + 2, r, mode) << 16 | tp_sparse_out_m(acc[3], o + 3, r, mode) << 24;
    memcpy(out + o, &word, sizeof word);
}

/* Pointer to output pixel `pix`'s receptive field, Kh*Kw*Cin int8 in the filter's order:
 * the input itself for an unpadded 1x1 convolution, else gathered into `patch` with the
 * input zero point as padding (it contributes zero against the folded bias). Kernel rows
 * that lie wholly inside the input are one copy when dilation.w is 1. */
static inline const int8_t *tp_sparse_field(const int8_t *in, const tp_dims *id, const tp_dims *fd,
                                            const tp_conv_params *p, int32_t pix, int32_t out_w, int8_t *patch)
{
    const int32_t cin = id->c;
    const int32_t y0 = (pix / out_w) * p->stride.h - p->padding.h;
    const int32_t x0 = (pix % out_w) * p->stride.w - p->padding.w;
    if (tp_sparse_pointwise(p, fd)) {
        return in + ((int64_t)y0 * id->w + x0) * cin;
    }
    const int8_t pad = (int8_t)(-p->input_offset);
    const int32_t row = fd->w * cin;
    const int whole_x = p->dilation.w == 1 && x0 >= 0 && x0 + fd->w <= id->w;
    int8_t *dst = patch;
    for (int32_t ky = 0; ky < fd->h; ky++, dst += row) {
        const int32_t y = y0 + ky * p->dilation.h;
        if (y < 0 || y >= id->h) {
            memset(dst, pad, (size_t)row);
        } else if (whole_x) {
            memcpy(dst, in + ((int64_t)y * id->w + x0) * cin, (size_t)row);
        } else {
            for (int32_t kx = 0; kx < fd->w; kx++) {
                const int32_t x = x0 + kx * p->dilation.w;
                if (x >= 0 && x < id->w) {
                    memcpy(dst + kx * cin, in + ((int64_t)y * id->w + x) * cin, (size_t)cin);
                } else {
                    memset(dst + kx * cin, pad, (size_t)cin);
                }
            }
        }
    }
    return patch;
}

#endif /* TP_SPARSE_DSP_H */
