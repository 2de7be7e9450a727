/* CONV_2D int8, DSP extension. The code generator picks the path (params->variant).
 *
 * TP_VARIANT_FAST / FAST_WIDE (GEMM): two output pixels at a time are widened into the
 * caller's scratch (tp_convolve_s8_get_buffer_size) as int16 with the input offset added, their
 * lanes in the order SXTB16 unpacks the weights (even taps, odd taps), so each weight word
 * costs one load and two SXTB16 and feeds four SMLADs: two output channels x two pixels per
 * inner loop (about one instruction per MAC). A 1x1 convolution without padding reads its
 * pixels straight from the NHWC input; other shapes gather the patch (im2col) first, padding
 * with the zero point. FAST requantizes with tp_rq_apply (exact for the accumulators the
 * generator proved possible), FAST_WIDE with tp_rq_apply_wide (exact for any). Too little
 * scratch or single rounding is an argument error, never a silent change of path.
 *
 * TP_VARIANT_GENERIC (no scratch): im2col-free. In NHWC the taps of one kernel row
 * (kx = 0..Kw-1, all Cin) are contiguous in both the input and the filter when
 * dilation.w == 1, so each output pixel is a sum over kernel rows of contiguous int8 dot
 * products; padding clips the row segment. Pixels and output channels go in pairs. */
#include "tp_dsp_optimize.h" /* first: see there */
#include "tp_nn.h"
#include "tp_dsp_support.h"
#include "tp_dsp_buffer_sizes.h"

/* Scratch for a pixel pair (tp_dsp_buffer_sizes.h). The code generator reserves this. */
int32_t tp_convolve_s8_get_buffer_size(const tp_dims *input_dims, const tp_dims *filter_dims)
{
    return tp_dsp_convolve_s8_get_buffer_size(input_dims, filter_dims);
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

/* n bytes from src to dst: words, then the last 0-3 bytes (no library call: the stems copy
 * rows of 3-9 bytes, where a memcpy call costs more than the copy). */
static inline void copy_bytes(int8_t *dst, const int8_t *src, int32_t n)
{
    int32_t k = 0;
    for (; k + 4 <= n; k += 4) {
        const uint32_t v = tp_read_s8x4(src + k);
        memcpy(dst + k, &v, sizeof v);
    }
    switch (n - k) {
    case 3:
        dst[k + 2] = src[k + 2];
        /* fall through */
    case 2:
        dst[k + 1] = src[k + 1];
        /* fall through */
    case 1:
        dst[k] = src[k];
        break;
    default:
        break;
    }
}

static inline void fill_bytes(int8_t *dst, int8_t value, int32_t n)
{
    for (int32_t k = 0; k < n; k++) {
        __asm__("" : : : "memory"); /* keeps GCC from turning the loop into a memset call */
        dst[k] = value;
    }
}

/* The patch of output pixel `pix` (kernel rows outer, NHWC inside), the zero point outside
 * the input. A window whose columns are all inside (dilation.w == 1) copies each kernel row
 * as one run of Kw * Cin bytes. */
static void gather_patch(const int8_t *in, const tp_dims *id, const tp_dims *fd, const tp_conv_params *p,
                         int32_t pix, int32_t out_w, int8_t *dst)
{
    const int32_t cin = id->c, kw = fd->w;
    const int32_t y0 = (pix / out_w) * p->stride.h - p->padding.h;
    const int32_t x0 = (pix % out_w) * p->stride.w - p->padding.w;
    const int8_t pad = (int8_t)(-p->input_offset); /* the zero point: (pad + offset) * w = 0 */
    const int rows_whole = p->dilation.w == 1 && x0 >= 0 && x0 + kw <= id->w;
    const int32_t run = kw * cin;
    for (int32_t ky = 0; ky < fd->h; ky++) {
        const int32_t y = y0 + ky * p->dilation.h;
        if (y < 0 || y >= id->h) {
            fill_bytes(dst, pad, run);
            dst += run;
            continue;
        }
        const int8_t *row = in + (int64_t)y * id->w * cin;
        if (rows_whole) {
            copy_bytes(dst, row + (int64_t)x0 * cin, run);
            dst += run;
            continue;
        }
        for (int32_t kx = 0; kx < kw; kx++) {
            const int32_t x = x0 + kx * p->dilation.w;
            if (x >= 0 && x < id->w) {
                copy_bytes(dst, row + (int64_t)x * cin, cin);
            } else {
                fill_bytes(dst, pad, cin);
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

static void convolve_clip(const tp_conv_params *params, const tp_quant_params *quant, const tp_dims *input_dims,
                          const int8_t *input, const tp_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                          const tp_dims *output_dims, int8_t *output)
{
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t patch = filter_dims->h * filter_dims->w * filter_dims->c;
    const uint32_t off2 = tp_dup16(params->input_offset);
    const int32_t pixels = out_h * out_w;
    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in = input + (int64_t)b * input_dims->h * input_dims->w * input_dims->c;
        int8_t *out = output + (int64_t)b * pixels * out_c;
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
}

/* ---- GEMM path ------------------------------------------------------------------------- */

/* One group of 4 taps for 2 channels x 2 pixels: 2 weight loads, 2 LDRD of widened inputs,
 * 4 SXTB16, 8 SMLAD. Written in assembly because GCC 12 runs out of registers here (13 are
 * live) and spills the loop bound; post-indexed loads also save the pointer updates. */
#define TP_MAC_2X2_STEP                                   \
    "ldr    %[u1], [%[f], %[stride]]\n\t"                 \
    "ldr    %[u0], [%[f]], #4\n\t"                        \
    "ldrd   %[xa], %[xb], [%[x]], #8\n\t"                 \
    "sxtb16 %[w], %[u0]\n\t"                              \
    "smlad  %[s0a], %[w], %[xa], %[s0a]\n\t"              \
    "smlad  %[s0b], %[w], %[xb], %[s0b]\n\t"              \
    "sxtb16 %[w], %[u1]\n\t"                              \
    "smlad  %[s1a], %[w], %[xa], %[s1a]\n\t"              \
    "smlad  %[s1b], %[w], %[xb], %[s1b]\n\t"              \
    "ldrd   %[xa], %[xb], [%[x]], #8\n\t"                 \
    "sxtb16 %[w], %[u0], ror #8\n\t"                      \
    "smlad  %[s0a], %[w], %[xa], %[s0a]\n\t"              \
    "smlad  %[s0b], %[w], %[xb], %[s0b]\n\t"              \
    "sxtb16 %[w], %[u1], ror #8\n\t"                      \
    "smlad  %[s1a], %[w], %[xa], %[s1a]\n\t"              \
    "smlad  %[s1b], %[w], %[xb], %[s1b]\n\t"

#define TP_MAC_2X2_OPERANDS                                                                             \
    : [s0a] "+r"(s0a), [s0b] "+r"(s0b), [s1a] "+r"(s1a), [s1b] "+r"(s1b), [f] "+r"(f0), [x] "+r"(x),     \
      [u0] "=&r"(u0), [u1] "=&r"(u1), [xa] "=&r"(xa), [xb] "=&r"(xb), [w] "=&r"(w)                       \
    : [stride] "r"(stride), [end] "r"(end)                                                              \
    : "memory"

/* acc = (ch0,a), (ch0,b), (ch1,a), (ch1,b) += patch . widened inputs; ch1's row at f0 + stride.
 * Widened inputs per group of 4 taps: [a(0,2), b(0,2), a(1,3), b(1,3)], matching SXTB16's lanes. */
static inline void mac_2x2(const int8_t *f0, int32_t stride, const uint32_t *x, int32_t n4, int32_t acc[4])
{
    int32_t s0a = acc[0], s0b = acc[1], s1a = acc[2], s1b = acc[3];
    uint32_t u0, u1, xa, xb, w;
    const uint32_t *end = x + 4 * n4;
    if (n4 & 1) {
        __asm__ volatile(TP_MAC_2X2_STEP TP_MAC_2X2_OPERANDS);
    }
    if (n4 > 1) {
        __asm__ volatile("1:\n\t" TP_MAC_2X2_STEP TP_MAC_2X2_STEP
                         "cmp    %[x], %[end]\n\t"
                         "blo    1b\n\t" TP_MAC_2X2_OPERANDS);
    }
    acc[0] = s0a, acc[1] = s0b, acc[2] = s1a, acc[3] = s1b;
}

static inline void mac_1x2(const int8_t *f0, const uint32_t *x, int32_t n4, int32_t acc[2])
{
    int32_t sa = acc[0], sb = acc[1];
    const uint32_t *end = x + 4 * n4;
    while (x < end) {
        const uint32_t u0 = tp_read_s8x4(f0);
        f0 += 4;
        uint32_t w = __sxtb16(u0);
        sa = __smlad(w, x[0], sa);
        sb = __smlad(w, x[1], sb);
        w = tp_sxtb16_hi(u0);
        sa = __smlad(w, x[2], sa);
        sb = __smlad(w, x[3], sb);
        x += 4;
    }
    acc[0] = sa, acc[1] = sb;
}

/* The p4 taps of pixels a and b (int8, zero-point padded to p4) widened into x. */
static inline void widen_pair(const int8_t *a, const int8_t *b, int32_t p4, uint32_t off2, uint32_t *x)
{
    for (int32_t k = 0; k < p4; k += 4, x += 4) {
        tp_widen4(a + k, off2, &x[0], &x[2]);
        tp_widen4(b + k, off2, &x[1], &x[3]);
    }
}

/* One kernel-row tail (patch % 4 taps) for a channel, both pixels. */
static inline void tail_1x2(const int8_t *f, const int8_t *a, const int8_t *b, int32_t from, int32_t patch,
                            int32_t off, int32_t acc[2])
{
    for (int32_t k = from; k < patch; k++) {
        acc[0] += f[k] * (a[k] + off);
        acc[1] += f[k] * (b[k] + off);
    }
}

/* `wide` is a constant in every call: the requantization of the variant. */
#define RQ(acc, r) (wide ? tp_rq_apply_wide((acc), (r)) : tp_rq_apply((acc), (r)))

static inline __attribute__((always_inline)) void gemm_pixels(
    const tp_conv_params *p, const tp_quant_params *q, const tp_dims *id, const int8_t *in, const tp_dims *fd,
    const int8_t *filter, const int32_t *bias, int32_t out_w, int32_t out_c, int8_t *out, int32_t pix, int two,
    uint32_t *x, int8_t *ga, int8_t *gb, int full, int wide)
{
    const int32_t patch = fd->h * fd->w * fd->c, p4 = (patch + 3) & ~3, n4 = patch >> 2;
    const int pointwise = fd->h == 1 && fd->w == 1 && p->padding.h == 0 && p->padding.w == 0 && (patch & 3) == 0;
    const int8_t *a, *b;
    if (pointwise) {
        const int32_t pb = two ? pix + 1 : pix;
        a = in + ((int64_t)(pix / out_w) * p->stride.h * id->w + (pix % out_w) * p->stride.w) * id->c;
        b = in + ((int64_t)(pb / out_w) * p->stride.h * id->w + (pb % out_w) * p->stride.w) * id->c;
    } else {
        gather_patch(in, id, fd, p, pix, out_w, ga);
        if (two) {
            gather_patch(in, id, fd, p, pix + 1, out_w, gb);
        }
        const int8_t pad = (int8_t)(-p->input_offset);
        fill_bytes(ga + patch, pad, p4 - patch);
        fill_bytes(gb + patch, pad, p4 - patch);
        a = ga;
        b = two ? gb : ga;
    }
    widen_pair(a, b, p4, tp_dup16(p->input_offset), x);
    const int32_t off = p->input_offset, oo = p->output_offset;
    const int32_t amin = p->activation.min, amax = p->activation.max;
    const int32_t *mult = q->multiplier, *shift = q->shift;
    const int32_t qstep = q->per_channel ? 1 : 0;
    int8_t *oa = out + (int64_t)pix * out_c, *ob = two ? oa + out_c : oa;
    int32_t oc = 0;
    /* With patch % 4 != 0 the widened taps patch..p4-1 are zero (zero-point padding plus the
     * offset), so a channel pair's rows may run on into the next channel's weights: whole
     * groups of 4, no tail, for every pair whose reads stay inside the filter (run_end). */
    int32_t run_end = 0; /* oc < run_end  <=>  (oc + 1) * patch + p4 <= out_c * patch */
    if ((patch & 3) && (int64_t)out_c * patch >= p4) {
        run_end = (int32_t)(((int64_t)out_c * patch - p4) / patch);
    }
    for (; oc + 2 <= out_c && oc < run_end; oc += 2) {
        const int8_t *f0 = filter + (int64_t)oc * patch;
        const int32_t b0 = bias != NULL ? bias[oc] : 0, b1 = bias != NULL ? bias[oc + 1] : 0;
        int32_t acc[4] = {b0, b0, b1, b1};
        mac_2x2(f0, patch, x, p4 >> 2, acc);
        const tp_rq r0 = tp_rq_make(mult[oc * qstep], shift[oc * qstep]);
        const tp_rq r1 = tp_rq_make(mult[(oc + 1) * qstep], shift[(oc + 1) * qstep]);
        ob[oc] = (int8_t)tp_clamp_fast(RQ(acc[1], &r0), oo, full, amin, amax);
        ob[oc + 1] = (int8_t)tp_clamp_fast(RQ(acc[3], &r1), oo, full, amin, amax);
        oa[oc] = (int8_t)tp_clamp_fast(RQ(acc[0], &r0), oo, full, amin, amax);
        oa[oc + 1] = (int8_t)tp_clamp_fast(RQ(acc[2], &r1), oo, full, amin, amax);
    }
    for (; oc + 2 <= out_c; oc += 2) {
        const int8_t *f0 = filter + (int64_t)oc * patch;
        const int32_t b0 = bias != NULL ? bias[oc] : 0, b1 = bias != NULL ? bias[oc + 1] : 0;
        int32_t acc[4] = {b0, b0, b1, b1};
        mac_2x2(f0, patch, x, n4, acc);
        if (patch & 3) {
            tail_1x2(f0, a, b, n4 * 4, patch, off, &acc[0]);
            tail_1x2(f0 + patch, a, b, n4 * 4, patch, off, &acc[2]);
        }
        const tp_rq r0 = tp_rq_make(mult[oc * qstep], shift[oc * qstep]);
        const tp_rq r1 = tp_rq_make(mult[(oc + 1) * qstep], shift[(oc + 1) * qstep]);
        /* ob == oa for a single last pixel: b's results go first, a's overwrite them */
        ob[oc] = (int8_t)tp_clamp_fast(RQ(acc[1], &r0), oo, full, amin, amax);
        ob[oc + 1] = (int8_t)tp_clamp_fast(RQ(acc[3], &r1), oo, full, amin, amax);
        oa[oc] = (int8_t)tp_clamp_fast(RQ(acc[0], &r0), oo, full, amin, amax);
        oa[oc + 1] = (int8_t)tp_clamp_fast(RQ(acc[2], &r1), oo, full, amin, amax);
    }
    if (oc < out_c) {
        const int8_t *f0 = filter + (int64_t)oc * patch;
        const int32_t b0 = bias != NULL ? bias[oc] : 0;
        int32_t acc[2] = {b0, b0};
        mac_1x2(f0, x, n4, acc);
        tail_1x2(f0, a, b, n4 * 4, patch, off, acc);
        const tp_rq r0 = tp_rq_make(mult[oc * qstep], shift[oc * qstep]);
        ob[oc] = (int8_t)tp_clamp_fast(RQ(acc[1], &r0), oo, full, amin, amax);
        oa[oc] = (int8_t)tp_clamp_fast(RQ(acc[0], &r0), oo, full, amin, amax);
    }
}
#undef RQ

static void convolve_gemm(const tp_conv_params *p, const tp_quant_params *q, const tp_dims *id, const int8_t *in,
                          const tp_dims *fd, const int8_t *filter, const int32_t *bias, const tp_dims *od,
                          int8_t *out, uint32_t *x, int wide)
{
    const int32_t patch = fd->h * fd->w * fd->c, p4 = (patch + 3) & ~3;
    int8_t *ga = (int8_t *)(x + p4), *gb = ga + p4;
    const int32_t pixels = od->h * od->w;
    const int full = p->activation.min <= -128 && p->activation.max >= 127;
    for (int32_t pix = 0; pix < pixels; pix += 2) {
        const int two = pix + 1 < pixels;
        if (wide) {
            gemm_pixels(p, q, id, in, fd, filter, bias, od->w, od->c, out, pix, two, x, ga, gb, 0, 1);
        } else if (full) {
            gemm_pixels(p, q, id, in, fd, filter, bias, od->w, od->c, out, pix, two, x, ga, gb, 1, 0);
        } else {
            gemm_pixels(p, q, id, in, fd, filter, bias, od->w, od->c, out, pix, two, x, ga, gb, 0, 0);
        }
    }
}

tp_status tp_convolve_s8(const tp_context *ctx, const tp_conv_params *params, const tp_quant_params *quant,
                         const tp_dims *input_dims, const int8_t *input, const tp_dims *filter_dims,
                         const int8_t *filter, const tp_dims *bias_dims, const int32_t *bias,
                         const tp_dims *output_dims, int8_t *output)
{
    (void)bias_dims;
    const int32_t out_c = output_dims->c;
    if (filter_dims->c != input_dims->c || filter_dims->n != out_c) {
        return TP_ARG_ERROR;
    }
    uintptr_t buf = ctx != NULL ? (uintptr_t)ctx->buf : 0;
    const int32_t skew = (int32_t)((4 - (buf & 3)) & 3);
    const tp_kernel_variant variant = params->variant;
    const int gemm = variant == TP_VARIANT_FAST || variant == TP_VARIANT_FAST_WIDE;
    const int32_t need = tp_convolve_s8_get_buffer_size(input_dims, filter_dims) - 4;
    if (gemm && (buf == 0 || ctx->size - skew < need || quant->rounding != TP_ROUND_DOUBLE)) {
        return TP_ARG_ERROR;
    }
    if (!gemm && variant != TP_VARIANT_GENERIC) {
        return TP_ARG_ERROR;
    }
    const int64_t in_size = (int64_t)input_dims->h * input_dims->w * input_dims->c;
    const int64_t out_size = (int64_t)output_dims->h * output_dims->w * out_c;
    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in = input + b * in_size;
        int8_t *out = output + b * out_size;
        if (gemm) {
            convolve_gemm(params, quant, input_dims, in, filter_dims, filter, bias, output_dims, out,
                          (uint32_t *)(buf + (uintptr_t)skew), variant == TP_VARIANT_FAST_WIDE);
        } else {
            const tp_dims one = {1, input_dims->h, input_dims->w, input_dims->c};
            const tp_dims one_out = {1, output_dims->h, output_dims->w, out_c};
            convolve_clip(params, quant, &one, in, filter_dims, filter, bias, &one_out, out);
        }
    }
    return TP_OK;
}
