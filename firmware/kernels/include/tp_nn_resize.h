/* tinyml-prune int8 kernels: Resizing (RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR). */
#ifndef TP_NN_RESIZE_H
#define TP_NN_RESIZE_H

#include <stdint.h>

#include "tp_nn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where each output row and column reads from: computed on the host (TFLite's float
 * arithmetic for the nearest-neighbour index, its 10-bit fixed point for bilinear). */
typedef struct {
    const int32_t *y_index; /* output_dims->h entries: input row of each output row */
    const int32_t *x_index; /* output_dims->w entries: input column of each output column */
} tp_resize_nearest_params;

/* Per output row (and column) three entries: the lower and upper input row and the upper
 * row's weight in 1/1024 (the lower row's is 1024 minus it; it may exceed 1024 near the
 * border with half-pixel centers, where both rows are the same). */
typedef struct {
    const int32_t *y_map; /* 3 * output_dims->h entries: lower, upper, weight */
    const int32_t *x_map; /* 3 * output_dims->w entries */
} tp_resize_bilinear_params;

/* RESIZE_NEAREST_NEIGHBOR int8: a copy through the index maps (same quantization). */
tp_status tp_resize_nearest_s8(const tp_resize_nearest_params *params, const tp_dims *input_dims,
                               const int8_t *input, const tp_dims *output_dims, int8_t *output);

/* RESIZE_BILINEAR int8, TFLite's integer reference: the four weighted neighbours summed with
 * 20 fractional bits, rounded half away from zero (same quantization). */
tp_status tp_resize_bilinear_s8(const tp_resize_bilinear_params *params, const tp_dims *input_dims,
                                const int8_t *input, const tp_dims *output_dims, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_NN_RESIZE_H */
