/* tinyml-prune int8 kernels: Data movement (CONCATENATION, PAD, TRANSPOSE, STRIDED_SLICE/SLICE, SPLIT, PACK/UNPACK). */
#ifndef TP_NN_SHAPE_H
#define TP_NN_SHAPE_H

#include <stdint.h>

#include "tp_nn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_COPY_MAX_DIMS 6

/* A strided copy: for every index (i0..i5) below shape,
 *   output[out_offset + sum(ik * out_stride[k])] = input[in_offset + sum(ik * in_stride[k])].
 * Every data-movement operator is one or more of these, computed on the host: a slice, a
 * transpose, one input's block of a concatenation or pack, one output of a split or unpack,
 * the interior of a pad. Strides may be negative (reversed slices). Unused leading axes
 * have size 1; when both innermost strides are 1 the innermost axis is one memcpy. */
typedef struct {
    int32_t shape[TP_COPY_MAX_DIMS];
    int32_t in_stride[TP_COPY_MAX_DIMS];
    int32_t out_stride[TP_COPY_MAX_DIMS];
    int32_t in_offset;
    int32_t out_offset;
} tp_copy_params;

tp_status tp_strided_copy_s8(const tp_copy_params *params, const int8_t *input, int8_t *output);

/* output[0..size) = value (the border of PAD / PADV2). */
tp_status tp_fill_s8(int8_t value, int8_t *output, int32_t size);

/* GATHER with host-known indices (all within [0, axis_size)):
 * output[b][o][j][i] = input[b][o][indices[b][j]][i], b < batch, o < outer, j < coords,
 * i < inner (indices laid out [batch][coords]). */
typedef struct {
    int32_t batch;
    int32_t outer;
    int32_t axis_size;
    int32_t coords;
    int32_t inner;
} tp_gather_params;

tp_status tp_gather_s8(const tp_gather_params *params, const int32_t *indices, const int8_t *input,
                       int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_NN_SHAPE_H */
