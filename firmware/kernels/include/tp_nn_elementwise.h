/* tinyml-prune int8 kernels: Elementwise binary ops with broadcasting (ADD, SUB, MUL, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE, PRELU). */
#ifndef TP_NN_ELEMENTWISE_H
#define TP_NN_ELEMENTWISE_H

#include <stdint.h>

#include "tp_nn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most dimensions of a broadcast walk (after the host drops extent-1 dimensions and merges
 * neighbours that broadcast alike, 6-D TFLite shapes fit). */
#define TP_EW_MAX_DIMS 6

/* How the output's elements map onto the two inputs, computed on the host: the output's
 * extents, outermost first, and each input's stride in elements along every dimension
 * (0 where that input is broadcast). Equal shapes are one dimension with strides 1 and 1. */
typedef struct {
    int32_t rank; /* dimensions used, 1..TP_EW_MAX_DIMS */
    int32_t dims[TP_EW_MAX_DIMS];
    int32_t stride1[TP_EW_MAX_DIMS];
    int32_t stride2[TP_EW_MAX_DIMS];
} tp_ew_shape;

/* One innermost row: n outputs, input k advancing by step_k (0 or 1) elements per output. */
typedef void (*tp_ew_row_fn)(const void *params, const int8_t *input1, int32_t step1, const int8_t *input2,
                             int32_t step2, int8_t *output, int32_t n);

/* Walks `shape` row by row, calling `row` on each (the kernels below use it). */
tp_status tp_elementwise_broadcast_s8(const tp_ew_shape *shape, const void *params, tp_ew_row_fn row,
                                      const int8_t *input1, const int8_t *input2, int8_t *output);

/* TFLite's integer ADD / SUB / SQUARED_DIFFERENCE: both inputs, zero point removed and shifted
 * left by `left_shift` (20 for ADD and SUB, 7 for SQUARED_DIFFERENCE), are rescaled to twice
 * the larger input scale; their sum, difference or squared difference is requantized to the
 * output scale, offset by the output zero point and clamped. */
typedef struct {
    int32_t input1_offset; /* -input 1 zero point */
    int32_t input1_multiplier;
    int32_t input1_shift;
    int32_t input2_offset; /* -input 2 zero point */
    int32_t input2_multiplier;
    int32_t input2_shift;
    int32_t left_shift;
    int32_t output_offset; /* output zero point */
    int32_t output_multiplier;
    int32_t output_shift;
    tp_rounding rounding;
    tp_activation activation;
} tp_add_params;

/* TFLite's integer MUL: (x1 - zp1) * (x2 - zp2) requantized once by s1 * s2 / s_out. */
typedef struct {
    int32_t input1_offset;
    int32_t input2_offset;
    int32_t output_offset;
    int32_t output_multiplier;
    int32_t output_shift;
    tp_rounding rounding;
    tp_activation activation;
} tp_mul_params;

/* TFLite's integer PRELU: x - zp_in >= 0 is requantized by s_in / s_out, otherwise
 * (x - zp_in) * (alpha - zp_alpha) by s_in * s_alpha / s_out; alpha broadcasts into x. */
typedef struct {
    int32_t input_offset;
    int32_t alpha_offset;
    int32_t output_offset;
    int32_t positive_multiplier;
    int32_t positive_shift;
    int32_t negative_multiplier;
    int32_t negative_shift;
    tp_rounding rounding;
    tp_activation activation;
} tp_prelu_params;

tp_status tp_elementwise_add_s8(const tp_add_params *params, const tp_ew_shape *shape, const int8_t *input1,
                                const int8_t *input2, int8_t *output);
tp_status tp_elementwise_sub_s8(const tp_add_params *params, const tp_ew_shape *shape, const int8_t *input1,
                                const int8_t *input2, int8_t *output);
tp_status tp_elementwise_squared_difference_s8(const tp_add_params *params, const tp_ew_shape *shape,
                                               const int8_t *input1, const int8_t *input2, int8_t *output);
tp_status tp_elementwise_mul_s8(const tp_mul_params *params, const tp_ew_shape *shape, const int8_t *input1,
                                const int8_t *input2, int8_t *output);

/* MAXIMUM / MINIMUM compare the stored int8 codes, as TFLite's reference does (scales and
 * zero points are not consulted; converters give both inputs the output's quantization). */
tp_status tp_elementwise_maximum_s8(const tp_ew_shape *shape, const int8_t *input1, const int8_t *input2,
                                    int8_t *output);
tp_status tp_elementwise_minimum_s8(const tp_ew_shape *shape, const int8_t *input1, const int8_t *input2,
                                    int8_t *output);

/* PRELU: input 1 is the input, input 2 alpha (shape->stride2 broadcasts it). */
tp_status tp_prelu_s8(const tp_prelu_params *params, const tp_ew_shape *shape, const int8_t *input,
                      const int8_t *alpha, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_NN_ELEMENTWISE_H */
