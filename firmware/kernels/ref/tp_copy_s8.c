/* Data movement int8: strided copies and fills. Bytes move unchanged, as in TensorFlow Lite's
 * reference CONCATENATION, PAD, TRANSPOSE, STRIDED_SLICE, SLICE, SPLIT, PACK and UNPACK. */
#include <string.h>

#include "tp_nn.h"

tp_status tp_strided_copy_s8(const tp_copy_params *params, const int8_t *input, int8_t *output)
{
    const int32_t *n = params->shape;
    const int32_t *is = params->in_stride;
    const int32_t *os = params->out_stride;
    for (int32_t k = 0; k < TP_COPY_MAX_DIMS; k++) {
        if (n[k] < 0) {
            return TP_ARG_ERROR;
        }
    }
    const int32_t inner = n[5];
    const int32_t contiguous = is[5] == 1 && os[5] == 1;
    for (int32_t i0 = 0; i0 < n[0]; i0++) {
        for (int32_t i1 = 0; i1 < n[1]; i1++) {
            for (int32_t i2 = 0; i2 < n[2]; i2++) {
                for (int32_t i3 = 0; i3 < n[3]; i3++) {
                    for (int32_t i4 = 0; i4 < n[4]; i4++) {
                        const int32_t src = params->in_offset + i0 * is[0] + i1 * is[1] + i2 * is[2] + i3 * is[3] +
                                            i4 * is[4];
                        const int32_t dst = params->out_offset + i0 * os[0] + i1 * os[1] + i2 * os[2] +
                                            i3 * os[3] + i4 * os[4];
                        if (contiguous) {
                            memcpy(output + dst, input + src, (size_t)inner);
                        } else {
                            for (int32_t i5 = 0; i5 < inner; i5++) {
                                output[dst + i5 * os[5]] = input[src + i5 * is[5]];
                            }
                        }
                    }
                }
            }
        }
    }
    return TP_OK;
}

tp_status tp_fill_s8(int8_t value, int8_t *output, int32_t size)
{
    if (size < 0) {
        return TP_ARG_ERROR;
    }
    memset(output, (unsigned char)value, (size_t)size);
    return TP_OK;
}
