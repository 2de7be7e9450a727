/* GATHER int8 along one axis with host-known indices (TensorFlow Lite's reference Gather,
 * batch dimensions included); bytes move unchanged. */
#include <string.h>

#include "tp_nn.h"

tp_status tp_gather_s8(const tp_gather_params *params, const int32_t *indices, const int8_t *input,
                       int8_t *output)
{
    const int32_t inner = params->inner;
    const int32_t axis_size = params->axis_size;
    const int32_t coords = params->coords;
    for (int32_t b = 0; b < params->batch; b++) {
        for (int32_t o = 0; o < params->outer; o++) {
            for (int32_t j = 0; j < coords; j++) {
                const int32_t index = indices[b * coords + j];
                if (index < 0 || index >= axis_size) {
                    return TP_ARG_ERROR;
                }
                const int32_t src = ((b * params->outer + o) * axis_size + index) * inner;
                const int32_t dst = ((b * params->outer + o) * coords + j) * inner;
                memcpy(output + dst, input + src, (size_t)inner);
            }
        }
    }
    return TP_OK;
}
