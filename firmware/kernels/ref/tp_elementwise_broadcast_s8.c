/* The broadcast walk shared by the elementwise kernels: the host has already dropped
 * extent-1 dimensions and merged neighbours that broadcast alike, so the innermost
 * dimension is one long row (the whole tensor when both shapes are equal) and each input
 * steps through it by 1, or by 0 where it is broadcast. */
#include "tp_nn.h"

tp_status tp_elementwise_broadcast_s8(const tp_ew_shape *shape, const void *params, tp_ew_row_fn row,
                                      const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const int32_t rank = shape->rank;
    if (rank < 1 || rank > TP_EW_MAX_DIMS) {
        return TP_ARG_ERROR;
    }
    int32_t rows = 1;
    for (int32_t d = 0; d < rank; d++) {
        if (shape->dims[d] < 1) {
            return TP_ARG_ERROR;
        }
        if (d < rank - 1) {
            rows *= shape->dims[d];
        }
    }
    const int32_t inner = rank - 1;
    const int32_t n = shape->dims[inner];
    int32_t index[TP_EW_MAX_DIMS] = {0};
    int32_t offset1 = 0;
    int32_t offset2 = 0;
    for (int32_t r = 0; r < rows; r++) {
        row(params, input1 + offset1, shape->stride1[inner], input2 + offset2, shape->stride2[inner], output, n);
        output += n;
        /* Advance the row-major counter over the outer dimensions. */
        for (int32_t d = inner - 1; d >= 0; d--) {
            index[d]++;
            offset1 += shape->stride1[d];
            offset2 += shape->stride2[d];
            if (index[d] < shape->dims[d]) {
                break;
            }
            offset1 -= shape->stride1[d] * shape->dims[d];
            offset2 -= shape->stride2[d] * shape->dims[d];
            index[d] = 0;
        }
    }
    return TP_OK;
}
