/* N:M int8 kernels, DSP extension (2:4 fast paths; other N:M run the portable loop).
 *
 * Convolution: four output pixels at a time. For each group of 4 inputs and each pixel
 * the kernel writes a table of the six int16 pairs (x[p0], x[p1]), p0 < p1, that a 2:4
 * group can keep, at the slot its index nibble p0 | p1 << 2 names (11 slots, 4..14), the
 * four pixels side by side. A channel's group then costs one nibble extract, one address
 * add, one SXTB16 (its two weights, stored a0 b0 a1 b1 per pair of groups), two LDRD and
 * four SMLAD (8 kept MACs): 42 instructions per 4 groups x 4 pixels (assembly, 14 live
 * registers). The table is built once per pixel block and shared by every channel.
 * Scratch: 176 * groups + 4 * 4 * groups + 4 bytes (tp_dsp_convolve_nm_s8_get_buffer_size);
 * with less, the portable per-pixel loop runs.
 *
 * FULLY_CONNECTED (one pixel) has nothing to share the selection with: it runs the
 * portable row loop with the per-call requantization and four outputs per store. */
#include "tp_dsp_optimize.h" /* first: see there */
#include "tp_nm_rows.h"
#include "tp_sparse_dsp.h"

#define NM_SLOTS TP_DSP_NM_SLOTS             /* index nibbles 4..14 */
#define NM_GROUP_BYTES TP_DSP_NM_GROUP_BYTES /* 11 slots x 4 pixels x int16 pair */

/* The int16 pairs (x[p0], x[p1]): bottom lane x[p0], matching the weight a0. */
static inline uint32_t pk_bb(uint32_t a, uint32_t b) { return (a & 0xFFFFu) | (b << 16); }
static inline uint32_t pk_bt(uint32_t a, uint32_t b) { return (a & 0xFFFFu) | (b & 0xFFFF0000u); }
static inline uint32_t pk_tt(uint32_t a, uint32_t b) { return (a >> 16) | (b & 0xFFFF0000u); }

/* Slot (n - 4) of group g, pixel j at word ((g * 11 + n - 4) * 4 + j). */
static void build_table(uint32_t *t, const int8_t *const field[4], int32_t groups)
{
    for (int32_t g = 0; g < groups; g++, t += NM_SLOTS * 4) {
        for (int32_t j = 0; j < 4; j++) {
            const uint32_t w = tp_read_s8x4(field[j] + 4 * g);
            const uint32_t x02 = __sxtb16(w), x13 = tp_sxtb16_hi(w);
            uint32_t *e = t + j;
            e[0 * 4] = pk_bb(x02, x13);  /* n = 4:  (x0, x1) */
            e[4 * 4] = x02;              /* n = 8:  (x0, x2) */
            e[5 * 4] = pk_bt(x13, x02);  /* n = 9:  (x1, x2) */
            e[8 * 4] = pk_bt(x02, x13);  /* n = 12: (x0, x3) */
            e[9 * 4] = x13;              /* n = 13: (x1, x3) */
            e[10 * 4] = pk_tt(x02, x13); /* n = 14: (x2, x3) */
        }
    }
}

/* One group: nibble in %[a] already extracted; K = the group's offset in the block. */
#define NM_GROUP(K, UNPACK)                                          \
    "add    %[a], %[tb], %[a], lsl #4\n\t"                           \
    UNPACK                                                           \
    "ldrd   %[xa], %[xc], [%[a], #" #K "*176-64]\n\t"                \
    "smlad  %[s0], %[u], %[xa], %[s0]\n\t"                           \
    "smlad  %[s1], %[u], %[xc], %[s1]\n\t"                           \
    "ldrd   %[xa], %[xc], [%[a], #" #K "*176-56]\n\t"                \
    "smlad  %[s2], %[u], %[xa], %[s2]\n\t"                           \
    "smlad  %[s3], %[u], %[xc], %[s3]\n\t"

#define NM_LO "sxtb16 %[u], %[w]\n\t"
#define NM_HI "sxtb16 %[u], %[w], ror #8\n\t"

#define NM_OPERANDS                                                                                 \
    : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [tb] "+r"(tb), [wp] "+r"(wp),      \
      [ip] "+r"(ip), [iw] "=&r"(iw), [w] "=&r"(w), [u] "=&r"(u), [a] "=&r"(a), [xa] "=&r"(xa),       \
      [xc] "=&r"(xc)                                                                                \
    : [wend] "r"(wend)                                                                              \
    : "memory", "cc"

/* acc[0..3] (four pixels) += one 2:4 row against the block's table. */
static inline __attribute__((always_inline)) void nm_row_4px(const int8_t *v, const uint8_t *index, int32_t groups, const uint32_t *table,
                              int32_t acc[4])
{
    int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
    const int8_t *wp = v;
    const uint8_t *ip = index;
    uint32_t tb = (uint32_t)table;
    const int8_t *wend = v + 8 * (groups >> 2);
    uint32_t iw, w, u, a, xa, xc;
    if (wp < wend) {
        __asm__ volatile("1:\n\t"
                         "ldrh   %[iw], [%[ip]], #2\n\t"
                         "ldr    %[w], [%[wp]], #4\n\t"
                         "and    %[a], %[iw], #15\n\t" NM_GROUP(0, NM_LO)
                         "ubfx   %[a], %[iw], #4, #4\n\t" NM_GROUP(1, NM_HI)
                         "ldr    %[w], [%[wp]], #4\n\t"
                         "ubfx   %[a], %[iw], #8, #4\n\t" NM_GROUP(2, NM_LO)
                         "lsr    %[a], %[iw], #12\n\t" NM_GROUP(3, NM_HI)
                         "add    %[tb], %[tb], #704\n\t"
                         "cmp    %[wp], %[wend]\n\t"
                         "blo    1b\n\t" NM_OPERANDS);
    }
    if (groups & 2) {
        __asm__ volatile("ldrb   %[iw], [%[ip]], #1\n\t"
                         "ldr    %[w], [%[wp]], #4\n\t"
                         "and    %[a], %[iw], #15\n\t" NM_GROUP(0, NM_LO)
                         "lsr    %[a], %[iw], #4\n\t" NM_GROUP(1, NM_HI)
                         "add    %[tb], %[tb], #352\n\t" NM_OPERANDS);
    }
    if (groups & 1) { /* a last unpaired group, stored a0 a1 */
        const uint32_t wv = ((uint32_t)(uint16_t)(int16_t)wp[0]) | ((uint32_t)(int32_t)wp[1] << 16);
        const uint32_t *e = (const uint32_t *)tb + ((*ip & 15u) - 4u) * 4u;
        s0 = __smlad(wv, e[0], s0);
        s1 = __smlad(wv, e[1], s1);
        s2 = __smlad(wv, e[2], s2);
        s3 = __smlad(wv, e[3], s3);
    }
    acc[0] = s0, acc[1] = s1, acc[2] = s2, acc[3] = s3;
}

/* All channels of one pixel block. `mode` 1 (double rounding with headroom, the usual
 * case) prepares each channel's constants once for its four pixels; `full` = no clamp but
 * the int8 range. Both are constants in the specialised copies. */
static inline __attribute__((always_inline)) void nm_block(const tp_nm *f, const uint32_t *table, int32_t groups,
                                                           int32_t out_c, const int32_t *bias, const tp_sparse_rq *rq,
                                                           int8_t *out, int32_t count, const int mode, const int full)
{
    const int32_t row_bytes = (groups + 1) >> 1;
    const int8_t *v = f->values;
    const uint8_t *index = f->index;
    for (int32_t o = 0; o < out_c; o++, v += 2 * groups, index += row_bytes) {
        const int32_t b = bias != NULL ? bias[o] : 0;
        int32_t acc[4] = {b, b, b, b};
        nm_row_4px(v, index, groups, table, acc);
        int8_t *dst = out + o;
        if (mode == 1) {
            const tp_rq r = tp_rq_make(rq->mult[o * rq->qstep], rq->shift[o * rq->qstep]);
            if (count == 4) {
                dst[0] = (int8_t)tp_clamp_fast(tp_rq_apply(acc[0], &r), rq->oo, full, rq->amin, rq->amax);
                dst[out_c] = (int8_t)tp_clamp_fast(tp_rq_apply(acc[1], &r), rq->oo, full, rq->amin, rq->amax);
                dst[2 * out_c] = (int8_t)tp_clamp_fast(tp_rq_apply(acc[2], &r), rq->oo, full, rq->amin, rq->amax);
                dst[3 * out_c] = (int8_t)tp_clamp_fast(tp_rq_apply(acc[3], &r), rq->oo, full, rq->amin, rq->amax);
                continue;
            }
            for (int32_t j = 0; j < count; j++, dst += out_c) {
                *dst = (int8_t)tp_clamp_fast(tp_rq_apply(acc[j], &r), rq->oo, full, rq->amin, rq->amax);
            }
        } else {
            for (int32_t j = 0; j < count; j++, dst += out_c) {
                *dst = (int8_t)tp_sparse_out_m(acc[j], o, rq, mode);
            }
        }
    }
}

static tp_status conv_2to4(const tp_context *ctx, const tp_conv_params *params, const tp_sparse_rq *rq,
                           const tp_dims *input_dims, const int8_t *input, const tp_dims *filter_dims, const tp_nm *f,
                           const int32_t *bias, const tp_dims *output_dims, int8_t *output)
{
    const int32_t out_c = output_dims->c, cols = filter_dims->h * filter_dims->w * filter_dims->c;
    const int32_t groups = (cols + 3) >> 2, p4 = groups * 4;
    const uintptr_t buf = (uintptr_t)ctx->buf;
    uint32_t *table = (uint32_t *)((buf + 3u) & ~(uintptr_t)3u);
    int8_t *patch = (int8_t *)(table + NM_SLOTS * 4 * groups);
    /* read the input in place only when whole words stay inside each pixel's field */
    const int direct = tp_sparse_pointwise(params, filter_dims) && (cols & 3) == 0;
    const int8_t pad = (int8_t)(-params->input_offset);
    for (int32_t j = 0; j < 4; j++) {
        memset(patch + j * p4 + cols, pad, (size_t)(p4 - cols)); /* the short group's spare taps */
    }
    const int32_t pixels = output_dims->h * output_dims->w;
    const int64_t in_size = (int64_t)input_dims->h * input_dims->w * input_dims->c;
    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in = input + b * in_size;
        for (int32_t pix = 0; pix < pixels; pix += 4) {
            const int32_t count = pixels - pix < 4 ? pixels - pix : 4;
            const int8_t *field[4];
            for (int32_t j = 0; j < 4; j++) {
                const int32_t p = pix + (j < count ? j : count - 1); /* repeat the last pixel; not stored */
                if (direct) {
                    field[j] = tp_sparse_field(in, input_dims, filter_dims, params, p, output_dims->w, NULL);
                } else if (j < count) {
                    field[j] = tp_sparse_field(in, input_dims, filter_dims, params, p, output_dims->w, patch + j * p4);
                    if (field[j] != patch + j * p4) {
                        memcpy(patch + j * p4, field[j], (size_t)cols);
                        field[j] = patch + j * p4;
                    }
                } else {
                    field[j] = field[count - 1];
                }
            }
            build_table(table, field, groups);
            if (rq->mode == 1 && rq->full) { /* the usual cases, specialised */
                nm_block(f, table, groups, out_c, bias, rq, output, count, 1, 1);
            } else if (rq->mode == 1) {
                nm_block(f, table, groups, out_c, bias, rq, output, count, 1, 0);
            } else {
                nm_block(f, table, groups, out_c, bias, rq, output, count, rq->mode, rq->full);
            }
            output += count * out_c;
        }
    }
    return TP_OK;
}

tp_status tp_convolve_nm_s8(const tp_context *ctx, const tp_conv_params *params, const tp_quant_params *quant,
                            const tp_dims *input_dims, const int8_t *input, const tp_dims *filter_dims,
                            const tp_nm *filter, const tp_dims *bias_dims, const int32_t *bias,
                            const tp_dims *output_dims, int8_t *output)
{
    (void)bias_dims;
    const int32_t out_c = output_dims->c, cols = filter_dims->h * filter_dims->w * filter_dims->c;
    if (filter_dims->c != input_dims->c || filter_dims->n != out_c) {
        return TP_ARG_ERROR;
    }
    const tp_sparse_rq rq = tp_sparse_rq_make(quant, bias, out_c, cols, params->output_offset, &params->activation);
    const int32_t groups = (cols + 3) >> 2;
    const int fast = filter->n == 2 && filter->m == 4 && ctx != NULL && ctx->buf != NULL;
    if (fast && ctx->size >= tp_dsp_nm_scratch(groups)) {
        return conv_2to4(ctx, params, &rq, input_dims, input, filter_dims, filter, bias, output_dims, output);
    }
    /* portable: one pixel at a time (the reference kernel's loop) */
    const int pointwise = tp_sparse_pointwise(params, filter_dims);
    if (!pointwise && (ctx == NULL || ctx->buf == NULL || ctx->size < cols)) {
        return TP_ARG_ERROR;
    }
    const int32_t pixels = output_dims->h * output_dims->w;
    const int64_t in_size = (int64_t)input_dims->h * input_dims->w * input_dims->c;
    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in = input + b * in_size;
        for (int32_t pix = 0; pix < pixels; pix++, output += out_c) {
            const int8_t *x = tp_sparse_field(in, input_dims, filter_dims, params, pix, output_dims->w,
                                              pointwise ? NULL : (int8_t *)ctx->buf);
            for (int32_t o = 0; o < out_c; o++) {
                output[o] = (int8_t)tp_sparse_out(tp_nm_row_dot(filter, o, x, cols, bias != NULL ? bias[o] : 0), o, &rq);
            }
        }
    }
    return TP_OK;
}

tp_status tp_fully_connected_nm_s8(const tp_context *ctx, const tp_fc_params *params, const tp_quant_params *quant,
                                   const tp_dims *input_dims, const int8_t *input, const tp_dims *filter_dims,
                                   const tp_nm *filter, const tp_dims *bias_dims, const int32_t *bias,
                                   const tp_dims *output_dims, int8_t *output)
{
    (void)ctx;
    (void)bias_dims;
    const int32_t depth = filter_dims->c, out_c = output_dims->c;
    if (input_dims->c != depth || filter_dims->n != out_c || output_dims->n != input_dims->n ||
        params->filter_offset != 0) {
        return TP_ARG_ERROR;
    }
    const tp_sparse_rq rq = tp_sparse_rq_make(quant, bias, out_c, depth, params->output_offset, &params->activation);
    for (int32_t r = 0; r < input_dims->n; r++) {
        const int8_t *x = input + (int64_t)r * depth;
        int8_t *out = output + (int64_t)r * out_c;
        int32_t acc[4];
        for (int32_t o = 0; o < out_c; o++) {
            acc[o & 3] = tp_nm_row_dot(filter, o, x, depth, bias != NULL ? bias[o] : 0);
            if ((o & 3) == 3) {
                tp_sparse_store4(out, o - 3, acc, &rq, rq.mode);
            }
        }
        for (int32_t o = out_c & ~3; o < out_c; o++) {
            out[o] = (int8_t)tp_sparse_out(acc[o & 3], o, &rq);
        }
    }
    return TP_OK;
}
