/* CSR int8 kernels, DSP extension: the same tp_csr arrays as the reference kernels.
 *
 * Per nonzero the work is one column load, one input load addressed by it and one
 * half-word multiply-accumulate; four weights come in one word and two SXTB16 (so the
 * loop costs ~4.25 instructions per nonzero, assembly with post-indexed loads).
 * Requantization is decided once per call (tp_sparse_dsp.h) and four outputs share one
 * store. Convolutions gather each pixel's field as the reference does and run the same
 * row loop. */
#include "tp_dsp_optimize.h" /* first: see there */
#include "tp_sparse_dsp.h"

/* acc + sum_k v[k] * x[col[k]] over n nonzeros; LDRC loads the next column index. */
#define TP_CSR_DOT(name, ctype, LDRC)                                                              \
    static inline int32_t name(const int8_t *v, const ctype *c, int32_t n, const int8_t *x, int32_t acc) \
    {                                                                                              \
        const int8_t *end4 = v + (n & ~3);                                                         \
        uint32_t w, w02, w13, k, t;                                                                \
        if (v < end4) {                                                                            \
            __asm__ volatile("1:\n\t"                                                              \
                             "ldr    %[w], [%[v]], #4\n\t"                                         \
                             LDRC                                                                  \
                             "ldrsb  %[t], [%[x], %[k]]\n\t"                                       \
                             "sxtb16 %[w02], %[w]\n\t"                                             \
                             "smlabb %[acc], %[w02], %[t], %[acc]\n\t"                             \
                             LDRC                                                                  \
                             "ldrsb  %[t], [%[x], %[k]]\n\t"                                       \
                             "sxtb16 %[w13], %[w], ror #8\n\t"                                     \
                             "smlabb %[acc], %[w13], %[t], %[acc]\n\t"                             \
                             LDRC                                                                  \
                             "ldrsb  %[t], [%[x], %[k]]\n\t"                                       \
                             "smlatb %[acc], %[w02], %[t], %[acc]\n\t"                             \
                             LDRC                                                                  \
                             "ldrsb  %[t], [%[x], %[k]]\n\t"                                       \
                             "smlatb %[acc], %[w13], %[t], %[acc]\n\t"                             \
                             "cmp    %[v], %[end]\n\t"                                             \
                             "blo    1b\n\t"                                                       \
                             : [acc] "+r"(acc), [v] "+r"(v), [c] "+r"(c), [w] "=&r"(w), [w02] "=&r"(w02), \
                               [w13] "=&r"(w13), [k] "=&r"(k), [t] "=&r"(t)                        \
                             : [x] "r"(x), [end] "r"(end4)                                         \
                             : "memory", "cc");                                                    \
        }                                                                                          \
        switch (n & 3) { /* straight-line tail: rows are short at high sparsity */                \
        case 3:                                                                                    \
            acc += v[2] * x[c[2]];                                                                 \
            /* fall through */                                                                     \
        case 2:                                                                                    \
            acc += v[1] * x[c[1]];                                                                 \
            /* fall through */                                                                     \
        case 1:                                                                                    \
            acc += v[0] * x[c[0]];                                                                 \
            break;                                                                                 \
        default:                                                                                   \
            break;                                                                                 \
        }                                                                                          \
        return acc;                                                                                \
    }

TP_CSR_DOT(dot_c8, uint8_t, "ldrb   %[k], [%[c]], #1\n\t")
TP_CSR_DOT(dot_c16, uint16_t, "ldrh   %[k], [%[c]], #2\n\t")

/* All `rows` outputs of one input vector (an FC row or a conv pixel's field); `wide` (16-bit
 * columns) and `mode` (requantization) are constants in each specialised copy. */
static inline __attribute__((always_inline)) void csr_rows_m(const tp_csr *f, const int8_t *x, int32_t rows,
                                                             const int32_t *bias, const tp_sparse_rq *rq, int8_t *out,
                                                             const int wide, const int mode)
{
    const int8_t *v = f->values;
    const uint8_t *c8 = f->cols8;
    const uint16_t *c16 = f->cols16;
    const uint16_t *len = f->row_len;
    int32_t acc[4];
    for (int32_t o = 0; o < rows; o++) {
        const int32_t n = len[o];
        const int32_t b = bias != NULL ? bias[o] : 0;
        if (wide) {
            acc[o & 3] = dot_c16(v, c16, n, x, b);
            c16 += n;
        } else {
            acc[o & 3] = dot_c8(v, c8, n, x, b);
            c8 += n;
        }
        v += n;
        if ((o & 3) == 3) {
            tp_sparse_store4(out, o - 3, acc, rq, mode);
        }
    }
    for (int32_t o = rows & ~3; o < rows; o++) {
        out[o] = (int8_t)tp_sparse_out_m(acc[o & 3], o, rq, mode);
    }
}

static void csr_rows(const tp_csr *f, const int8_t *x, int32_t rows, const int32_t *bias, const tp_sparse_rq *rq,
                     int8_t *out)
{
    const int wide = f->cols8 == NULL;
    if (rq->mode == 0) {
        wide ? csr_rows_m(f, x, rows, bias, rq, out, 1, 0) : csr_rows_m(f, x, rows, bias, rq, out, 0, 0);
    } else if (rq->mode == 1) {
        wide ? csr_rows_m(f, x, rows, bias, rq, out, 1, 1) : csr_rows_m(f, x, rows, bias, rq, out, 0, 1);
    } else {
        csr_rows_m(f, x, rows, bias, rq, out, wide, 2);
    }
}

tp_status tp_fully_connected_csr_s8(const tp_context *ctx, const tp_fc_params *params, const tp_quant_params *quant,
                                    const tp_dims *input_dims, const int8_t *input, const tp_dims *filter_dims,
                                    const tp_csr *filter, const tp_dims *bias_dims, const int32_t *bias,
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
        csr_rows(filter, input + (int64_t)r * depth, out_c, bias, &rq, output + (int64_t)r * out_c);
    }
    return TP_OK;
}

tp_status tp_convolve_csr_s8(const tp_context *ctx, const tp_conv_params *params, const tp_quant_params *quant,
                             const tp_dims *input_dims, const int8_t *input, const tp_dims *filter_dims,
                             const tp_csr *filter, const tp_dims *bias_dims, const int32_t *bias,
                             const tp_dims *output_dims, int8_t *output)
{
    (void)bias_dims;
    const int32_t out_c = output_dims->c, cols = filter_dims->h * filter_dims->w * filter_dims->c;
    if (filter_dims->c != input_dims->c || filter_dims->n != out_c) {
        return TP_ARG_ERROR;
    }
    const int pointwise = tp_sparse_pointwise(params, filter_dims);
    if (!pointwise && (ctx == NULL || ctx->buf == NULL || ctx->size < cols)) {
        return TP_ARG_ERROR;
    }
    const tp_sparse_rq rq = tp_sparse_rq_make(quant, bias, out_c, cols, params->output_offset, &params->activation);
    const int32_t pixels = output_dims->h * output_dims->w;
    const int64_t in_size = (int64_t)input_dims->h * input_dims->w * input_dims->c;
    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in = input + b * in_size;
        for (int32_t pix = 0; pix < pixels; pix++, output += out_c) {
            const int8_t *x = tp_sparse_field(in, input_dims, filter_dims, params, pix, output_dims->w,
                                              pointwise ? NULL : (int8_t *)ctx->buf);
            csr_rows(filter, x, out_c, bias, &rq, output);
        }
    }
    return TP_OK;
}
