/* tinyml-prune int8 kernels: Activations as ops (RELU family, LEAKY_RELU, LOGISTIC, TANH, HARD_SWISH) and int8 requantization (QUANTIZE). */
#ifndef TP_NN_ACTIVATION_H
#define TP_NN_ACTIVATION_H

#include <stdint.h>

#include "tp_nn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of entries of a tp_lut_s8 table: one per int8 input value. */
#define TP_LUT_S8_ENTRIES 256

/* Any int8 -> int8 function of one value, tabulated on the host: output[i] =
 * table[input[i] + 128]. The generator computes the table with TFLite's reference arithmetic
 * for RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, LOGISTIC, TANH, HARD_SWISH and int8 -> int8
 * QUANTIZE. `output` may be `input` (in place); otherwise the two must not overlap. */
tp_status tp_lut_s8(const int8_t *table, const int8_t *input, int8_t *output, int32_t size);

#ifdef __cplusplus
}
#endif

#endif /* TP_NN_ACTIVATION_H */
