/* FULLY_CONNECTED int8, MVE (Helium): four output channels share each 16-byte input
 * vector; VMLADAVA does 16 int8 MACs into a scalar accumulator and VADDVA sums the
 * weights, so the input offset is applied once per channel as in_off * sum(w) instead of
 * per element. The depth tail runs one predicated iteration. Requantization is vectorised
 * over the four channels (tp_mve_support.h). */
#include "tp_nn.h"
#include "tp_mve_support.h"
#include "tp_mve_buffer_sizes.h"

int32_t tp_fully_connected_s8_get_buffer_size(const tp_dims *filter_dims)
{
    return tp_mve_fully_connected_s8_get_buffer_size(filter_dims);
}

/* Accumulators of rows w0..w3 (may repeat a row past the end; its result is dropped):
 * sum(w*x) + in_off * sum(w). */
static inline int32x4_t dot_4ch(const int8_t *x, const int8_t *w0, const int8_t *w1, const int8_t *w2,
                                const int8_t *w3, int32_t depth, int32_t in_off)
{
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
    int32_t k = 0;
    for (; k + 16 <= depth; k += 16) {
        const int8x16_t xv = vldrbq_s8(x + k);
        int8x16_t wv = vldrbq_s8(w0 + k);
        s0 = vmladavaq_s8(s0, xv, wv);
        t0 = vaddvaq_s8(t0, wv);
        wv = vldrbq_s8(w1 + k);
        s1 = vmladavaq_s8(s1, xv, wv);
        t1 = vaddvaq_s8(t1, wv);
        wv = vldrbq_s8(w2 + k);
        s2 = vmladavaq_s8(s2, xv, wv);
        t2 = vaddvaq_s8(t2, wv);
        wv = vldrbq_s8(w3 + k);
        s3 = vmladavaq_s8(s3, xv, wv);
        t3 = vaddvaq_s8(t3, wv);
    }
    if (k < depth) { /* zeroing loads: inactive lanes add nothing */
        const mve_pred16_t p = vctp8q((uint32_t)(depth - k));
        const int8x16_t xv = vldrbq_z_s8(x + k, p);
        int8x16_t wv = vldrbq_z_s8(w0 + k, p);
        s0 = vmladavaq_s8(s0, xv, wv);
        t0 = vaddvaq_s8(t0, wv);
        wv = vldrbq_z_s8(w1 + k, p);
        s1 = vmladavaq_s8(s1, xv, wv);
        t1 = vaddvaq_s8(t1, wv);
        wv = vldrbq_z_s8(w2 + k, p);
        s2 = vmladavaq_s8(s2, xv, wv);
        t2 = vaddvaq_s8(t2, wv);
        wv = vldrbq_z_s8(w3 + k, p);
        s3 = vmladavaq_s8(s3, xv, wv);
        t3 = vaddvaq_s8(t3, wv);
    }
    const int32x4_t s = tp_mve_vec4(s0, s1, s2, s3);
    return vmlaq_n_s32(s, tp_mve_vec4(t0, t1, t2, t3), in_off);
}

static int32_t sum_s8(const int8_t *x, int32_t n)
{
    int32_t s = 0;
    for (int32_t k = 0; k < n; k += 16) {
        s = vaddvaq_s8(s, vldrbq_z_s8(x + k, vctp8q((uint32_t)(n - k))));
    }
    return s;
}

tp_status tp_fully_connected_s8(const tp_context *ctx, const tp_fc_params *params, const tp_quant_params *quant,
                                const tp_dims *input_dims, const int8_t *input, const tp_dims *filter_dims,
                                const int8_t *filter, const tp_dims *bias_dims, const int32_t *bias,
                                const tp_dims *output_dims, int8_t *output)
{
    (void)ctx;
    (void)bias_dims;
    const int32_t depth = filter_dims->c;
    const int32_t out_c = output_dims->c;
    if (input_dims->c != depth || filter_dims->n != out_c || output_dims->n != input_dims->n) {
        return TP_ARG_ERROR;
    }
    const tp_mve_out fin = tp_mve_out_make(quant, out_c, params->output_offset, &params->activation);
    const int32_t in_off = params->input_offset;
    for (int32_t r = 0; r < input_dims->n; r++) {
        const int8_t *x = input + (int64_t)r * depth;
        int8_t *out = output + (int64_t)r * out_c;
        /* asymmetric weights: (w + w_off)(x + in_off) adds w_off * sum(x + in_off) */
        const int32_t w_term = params->filter_offset == 0 ? 0
            : (int32_t)((uint32_t)params->filter_offset * (uint32_t)(sum_s8(x, depth) + depth * in_off));
        for (int32_t o = 0; o < out_c; o += 4) {
            const int32_t n = out_c - o < 4 ? out_c - o : 4;
            const int8_t *w0 = filter + (int64_t)o * depth;
            const int8_t *w1 = n > 1 ? w0 + depth : w0, *w2 = n > 2 ? w0 + 2 * depth : w0;
            const int8_t *w3 = n > 3 ? w0 + 3 * depth : w0;
            int32x4_t acc = vaddq_n_s32(dot_4ch(x, w0, w1, w2, w3, depth, in_off), w_term);
            if (bias != NULL) {
                acc = vaddq_s32(acc, vldrwq_z_s32(bias + o, vctp32q((uint32_t)n)));
            }
            tp_mve_store4(out + o, tp_mve_finish(&fin, acc, o, n), n);
        }
    }
    return TP_OK;
}
