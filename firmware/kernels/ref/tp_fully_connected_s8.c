/* FULLY_CONNECTED int8: out[r][o] = requant(sum_k (w[o][k] + w_off) * (in[r][k] + in_off) + bias[o]). */
#include "tp_nn.h"
#include "tp_nn_support.h"

int32_t tp_fully_connected_s8_get_buffer_size(const tp_dims *filter_dims)
{
    (void)filter_dims;
    return 0;
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
    for (int32_t r = 0; r < input_dims->n; r++) {
        const int8_t *in_row = input + (int64_t)r * depth;
        for (int32_t o = 0; o < out_c; o++) {
            const int8_t *w = filter + (int64_t)o * depth;
            int32_t acc = 0;
            for (int32_t k = 0; k < depth; k++) {
                acc += ((int32_t)w[k] + params->filter_offset) * ((int32_t)in_row[k] + params->input_offset);
            }
            if (bias != NULL) {
                acc += bias[o];
            }
            const int32_t q = quant->per_channel ? o : 0;
            acc = tp_requantize(acc, quant->multiplier[q], quant->shift[q], quant->rounding);
            acc += params->output_offset;
            output[(int64_t)r * out_c + o] = tp_clamp_s8(acc, &params->activation);
        }
    }
    return TP_OK;
}
