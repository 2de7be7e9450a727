/* Internal to the sparse kernels: the per-row requantize-and-store, and the FC/conv
 * entry points every format shares (only its row kernel differs). */
#ifndef TP_SPARSE_COMMON_H
#define TP_SPARSE_COMMON_H

#include <stddef.h>

#include "tp_nn_sparse.h"
#include "tp_nn_support.h"

static inline int8_t tp_sparse_finish(int32_t acc, int32_t o, const tp_quant_params *quant, int32_t output_offset,
                                      const tp_activation *act)
{
    const int32_t q = quant->per_channel ? o : 0;
    acc = tp_requantize(acc, quant->multiplier[q], quant->shift[q], quant->rounding);
    return tp_clamp_s8(acc + output_offset, act);
}

/* Defines tp_fully_connected_<fmt>_s8 and tp_convolve_<fmt>_s8 around rows_<fmt>(). */
#define TP_SPARSE_ENTRY_POINTS(fmt, type)                                                                      \
    tp_status tp_fully_connected_##fmt##_s8(const tp_context *ctx, const tp_fc_params *params,                \
                                            const tp_quant_params *quant, const tp_dims *input_dims,           \
                                            const int8_t *input, const tp_dims *filter_dims,                  \
                                            const type *filter, const tp_dims *bias_dims,                     \
                                            const int32_t *bias, const tp_dims *output_dims, int8_t *output)  \
    {                                                                                                          \
        (void)ctx;                                                                                             \
        (void)bias_dims;                                                                                       \
        const int32_t depth = filter_dims->c, out_c = output_dims->c;                                          \
        if (input_dims->c != depth || filter_dims->n != out_c || output_dims->n != input_dims->n ||            \
            params->filter_offset != 0) {                                                                      \
            return TP_ARG_ERROR;                                                                               \
        }                                                                                                      \
        for (int32_t r = 0; r < input_dims->n; r++) {                                                          \
            rows_##fmt(filter, input + (int64_t)r * depth, out_c, depth, bias, quant, params->output_offset,  \
                       &params->activation, output + (int64_t)r * out_c);                                     \
        }                                                                                                      \
        return TP_OK;                                                                                          \
    }                                                                                                          \
    tp_status tp_convolve_##fmt##_s8(const tp_context *ctx, const tp_conv_params *params,                     \
                                     const tp_quant_params *quant, const tp_dims *input_dims,                  \
                                     const int8_t *input, const tp_dims *filter_dims, const type *filter,     \
                                     const tp_dims *bias_dims, const int32_t *bias,                           \
                                     const tp_dims *output_dims, int8_t *output)                               \
    {                                                                                                          \
        (void)bias_dims;                                                                                       \
        return tp_sparse_conv_driver(ctx, params, quant, input_dims, input, filter_dims, filter, rows_##fmt,   \
                                     bias, output_dims, output);                                               \
    }

#endif /* TP_SPARSE_COMMON_H */
