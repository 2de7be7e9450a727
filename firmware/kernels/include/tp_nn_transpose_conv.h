/* tinyml-prune int8 kernels: TRANSPOSE_CONV. */
#ifndef TP_NN_TRANSPOSE_CONV_H
#define TP_NN_TRANSPOSE_CONV_H

#include <stdint.h>

#include "tp_nn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t input_offset;  /* -input zero point */
    int32_t output_offset; /* output zero point */
    tp_tile stride;
    tp_tile padding; /* TFLite's: of the forward convolution from output back to input */
    tp_activation activation;
} tp_transpose_conv_params;

/* TRANSPOSE_CONV. filter_dims: n = out channels, h, w, c = in channels; per-channel or
 * per-tensor requantization per quant->per_channel; bias may be NULL. No scratch. */
tp_status tp_transpose_conv_s8(const tp_transpose_conv_params *params, const tp_quant_params *quant,
                               const tp_dims *input_dims, const int8_t *input, const tp_dims *filter_dims,
                               const int8_t *filter, const tp_dims *bias_dims, const int32_t *bias,
                               const tp_dims *output_dims, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_NN_TRANSPOSE_CONV_H */
