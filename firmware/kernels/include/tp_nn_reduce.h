/* tinyml-prune int8 kernels: Reductions (MEAN). */
#ifndef TP_NN_REDUCE_H
#define TP_NN_REDUCE_H

#include <stdint.h>

#include "tp_nn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most dimension groups on either side of a reduction after adjacent kept (or reduced)
 * dimensions are merged: a rank-8 tensor alternating kept and reduced axes needs 4. */
#define TP_REDUCE_MAX_GROUPS 4

/* A set of merged dimensions, outermost first, with their strides in input elements. */
typedef struct {
    int32_t count; /* groups used; 0 = a single position */
    int32_t extent[TP_REDUCE_MAX_GROUPS];
    int32_t stride[TP_REDUCE_MAX_GROUPS];
} tp_reduce_axes;

/* Which input elements feed which output: one output per position of `kept` (in output
 * order), the sum over every position of `reduced` added to that position's offset. */
typedef struct {
    tp_reduce_axes kept;
    tp_reduce_axes reduced;
} tp_reduce_shape;

/* TFLite's integer MEAN: sum(x - input zero point) over the reduced elements, times a
 * multiplier that already includes 1/count (computed on the host), plus the output zero
 * point, saturated to int8. */
typedef struct {
    int32_t input_offset;  /* -input zero point */
    int32_t output_offset; /* output zero point */
    int32_t multiplier;
    int32_t shift;
    tp_rounding rounding;
} tp_mean_params;

/* MEAN int8 over any set of axes (keep_dims only changes the output's shape, not its bytes). */
tp_status tp_mean_s8(const tp_mean_params *params, const tp_reduce_shape *shape, const int8_t *input,
                     int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_NN_REDUCE_H */
