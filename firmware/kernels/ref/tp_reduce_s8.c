/* MEAN int8: for every output, the sum of its reduced inputs (zero point removed) is
 * requantized once with a multiplier that folds in 1/count, as TensorFlow Lite's reference
 * QuantizedMeanOrSum does (the host computes that multiplier). */
#include "tp_nn.h"
#include "tp_nn_support.h"
#include "tp_reduce_support.h"

tp_status tp_mean_s8(const tp_mean_params *params, const tp_reduce_shape *shape, const int8_t *input,
                     int8_t *output)
{
    const tp_reduce_axes *kept = &shape->kept;
    const tp_reduce_axes *reduced = &shape->reduced;
    if (kept->count < 0 || kept->count > TP_REDUCE_MAX_GROUPS || reduced->count < 0 ||
        reduced->count > TP_REDUCE_MAX_GROUPS) {
        return TP_ARG_ERROR;
    }
    const int32_t outputs = tp_reduce_positions(kept);
    const int32_t count = tp_reduce_positions(reduced);
    const tp_activation int8_range = {INT8_MIN, INT8_MAX};
    int32_t out_index[TP_REDUCE_MAX_GROUPS] = {0};
    int32_t base = 0;
    for (int32_t o = 0; o < outputs; o++) {
        int32_t red_index[TP_REDUCE_MAX_GROUPS] = {0};
        int32_t offset = base;
        int32_t acc = 0;
        for (int32_t r = 0; r < count; r++) {
            acc += (int32_t)input[offset] + params->input_offset;
            offset += tp_reduce_step(reduced, red_index);
        }
        int32_t out = tp_requantize(acc, params->multiplier, params->shift, params->rounding);
        output[o] = tp_clamp_s8(out + params->output_offset, &int8_range);
        base += tp_reduce_step(kept, out_index);
    }
    return TP_OK;
}
