/* Walking the kept and reduced axes of a MEAN (shared by the reference and DSP kernels). */
#ifndef TP_REDUCE_SUPPORT_H
#define TP_REDUCE_SUPPORT_H

#include <stdint.h>

#include "tp_nn_reduce.h"

/* Advance a row-major counter over `axes`; returns the change of the input offset (back to
 * the start after the last position). */
static inline int32_t tp_reduce_step(const tp_reduce_axes *axes, int32_t *index)
{
    int32_t delta = 0;
    for (int32_t d = axes->count - 1; d >= 0; d--) {
        index[d]++;
        delta += axes->stride[d];
        if (index[d] < axes->extent[d]) {
            return delta;
        }
        delta -= axes->extent[d] * axes->stride[d];
        index[d] = 0;
    }
    return delta;
}

static inline int32_t tp_reduce_positions(const tp_reduce_axes *axes)
{
    int32_t n = 1;
    for (int32_t d = 0; d < axes->count; d++) {
        n *= axes->extent[d];
    }
    return n;
}

#endif /* TP_REDUCE_SUPPORT_H */
