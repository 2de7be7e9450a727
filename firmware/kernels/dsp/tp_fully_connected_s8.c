/* FULLY_CONNECTED int8, DSP extension: four output channels share each loaded input
 * word; SXTAB16 adds the input offset while widening, SMLAD does two MACs. */
#include "tp_nn.h"
#include "tp_dsp_support.h"

int32_t tp_fully_connected_s8_get_buffer_size(const tp_dims *filter_dims)
{
    (void)filter_dims;
    return 0;
}

static void row_4ch(const int8_t *x, const int8_t *w, int32_t depth, uint32_t off2, int32_t acc[4])
{
    const int8_t *w0 = w, *w1 = w + depth, *w2 = w + 2 * depth, *w3 = w + 3 * depth;
    int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
    int32_t k = 0;
    for (; k + 4 <= depth; k += 4) {
        const uint32_t v = tp_read_s8x4(x + k);
        const uint32_t x02 = __sxtab16(off2, v), x13 = tp_sxtab16_hi(off2, v);
        uint32_t u = tp_read_s8x4(w0 + k);
        s0 = __smlad(x02, __sxtb16(u), __smlad(x13, tp_sxtb16_hi(u), s0));
        u = tp_read_s8x4(w1 + k);
        s1 = __smlad(x02, __sxtb16(u), __smlad(x13, tp_sxtb16_hi(u), s1));
        u = tp_read_s8x4(w2 + k);
        s2 = __smlad(x02, __sxtb16(u), __smlad(x13, tp_sxtb16_hi(u), s2));
        u = tp_read_s8x4(w3 + k);
        s3 = __smlad(x02, __sxtb16(u), __smlad(x13, tp_sxtb16_hi(u), s3));
    }
    for (; k < depth; k++) {
        const int32_t v = x[k] + (int16_t)off2;
        s0 += w0[k] * v;
        s1 += w1[k] * v;
        s2 += w2[k] * v;
        s3 += w3[k] * v;
    }
    acc[0] = s0, acc[1] = s1, acc[2] = s2, acc[3] = s3;
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
    const uint32_t off2 = tp_dup16(params->input_offset);
    const int32_t per_ch = quant->per_channel;
    for (int32_t r = 0; r < input_dims->n; r++) {
        const int8_t *x = input + (int64_t)r * depth;
        int8_t *out = output + (int64_t)r * out_c;
        for (int32_t o = 0; o < out_c;) {
            const int32_t n = out_c - o >= 4 ? 4 : 1;
            int32_t acc[4] = {0, 0, 0, 0};
            for (int32_t j = 0; j < n; j++) {
                acc[j] = bias != NULL ? bias[o + j] : 0;
            }
            if (n == 4) {
                row_4ch(x, filter + (int64_t)o * depth, depth, off2, acc);
            } else {
                acc[0] = tp_dot_1x1(filter + (int64_t)o * depth, x, depth, off2, acc[0]);
            }
            if (params->filter_offset != 0) { /* asymmetric weights: add filter_offset * sum(x + off) */
                int32_t sx = 0;
                for (int32_t k = 0; k < depth; k++) {
                    sx += x[k] + params->input_offset;
                }
                for (int32_t j = 0; j < n; j++) {
                    acc[j] += params->filter_offset * sx;
                }
            }
            for (int32_t j = 0; j < n; j++, o++) {
                const int32_t q = per_ch ? o : 0;
                out[o] = tp_finish_s8(acc[j], quant->multiplier[q], quant->shift[q], quant->rounding,
                                      params->output_offset, &params->activation);
            }
        }
    }
    return TP_OK;
}
