/* tinyml-prune int8 kernels: portable reference implementations.
 *
 * Each kernel reproduces TensorFlow Lite's reference kernel bit for bit. Optimized
 * variants (DSP, MVE) keep these names and signatures and are chosen by the build.
 */
#ifndef TP_NN_H
#define TP_NN_H

#include <stdint.h>

#include "tp_nn_types.h"
#include "tp_nn_sparse.h" /* CSR, bitmask, N:M kernels */
#include "tp_nn_elementwise.h"
#include "tp_nn_activation.h"
#include "tp_nn_reduce.h"
#include "tp_nn_resize.h"
#include "tp_nn_shape.h"
#include "tp_nn_transpose_conv.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CONV_2D, per-channel quantization. filter_dims: n = out channels, h, w, c = in channels. */
tp_status tp_convolve_s8(const tp_context *ctx, const tp_conv_params *params, const tp_quant_params *quant,
                         const tp_dims *input_dims, const int8_t *input, const tp_dims *filter_dims,
                         const int8_t *filter, const tp_dims *bias_dims, const int32_t *bias,
                         const tp_dims *output_dims, int8_t *output);
int32_t tp_convolve_s8_get_buffer_size(const tp_dims *input_dims, const tp_dims *filter_dims);

/* DEPTHWISE_CONV_2D, any depth multiplier. filter_dims: h, w, c = out channels. */
tp_status tp_depthwise_conv_s8(const tp_context *ctx, const tp_dw_conv_params *params,
                               const tp_quant_params *quant, const tp_dims *input_dims, const int8_t *input,
                               const tp_dims *filter_dims, const int8_t *filter, const tp_dims *bias_dims,
                               const int32_t *bias, const tp_dims *output_dims, int8_t *output);
int32_t tp_depthwise_conv_s8_get_buffer_size(const tp_dims *input_dims, const tp_dims *filter_dims);

/* FULLY_CONNECTED. input_dims: n = rows, c = in features; filter_dims: n = out, c = in;
 * output_dims: n = rows, c = out. Per-tensor or per-channel per quant->per_channel. */
tp_status tp_fully_connected_s8(const tp_context *ctx, const tp_fc_params *params, const tp_quant_params *quant,
                                const tp_dims *input_dims, const int8_t *input, const tp_dims *filter_dims,
                                const int8_t *filter, const tp_dims *bias_dims, const int32_t *bias,
                                const tp_dims *output_dims, int8_t *output);
int32_t tp_fully_connected_s8_get_buffer_size(const tp_dims *filter_dims);

/* AVERAGE_POOL_2D / MAX_POOL_2D: input and output share scale and zero point. */
tp_status tp_avgpool_s8(const tp_context *ctx, const tp_pool_params *params, const tp_dims *input_dims,
                        const int8_t *input, const tp_dims *filter_dims, const tp_dims *output_dims,
                        int8_t *output);
tp_status tp_maxpool_s8(const tp_context *ctx, const tp_pool_params *params, const tp_dims *input_dims,
                        const int8_t *input, const tp_dims *filter_dims, const tp_dims *output_dims,
                        int8_t *output);

/* SOFTMAX over the last dimension of `rows` rows of `row_size`. */
tp_status tp_softmax_s8(const tp_softmax_params *params, const int8_t *input, int32_t rows, int32_t row_size,
                        int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_NN_H */
