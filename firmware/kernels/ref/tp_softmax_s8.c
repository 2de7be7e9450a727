/* SOFTMAX int8 -> int8 as TFLite computes it: exp(x - max) from a float table indexed by
 * the quantized difference, a float sum, then round-half-away-from-zero into the output.
 * Float operations run in the same order as TFLite's so results match bit for bit. */
#include <math.h>

#include "tp_nn.h"
#include "tp_nn_support.h"

tp_status tp_softmax_s8(const tp_softmax_params *params, const int8_t *input, int32_t rows, int32_t row_size,
                        int8_t *output)
{
    for (int32_t r = 0; r < rows; r++) {
        int32_t max_val = INT8_MIN;
        for (int32_t j = 0; j < row_size; j++) {
            max_val = TP_MAX(max_val, (int32_t)input[j]);
        }
        /* entry (255 - max + x) holds exp(-beta * scale * (max - x)); x <= max keeps it in [0, 255]. */
        const float *table = params->exp_table + (255 - max_val);
        float sum = 0.0f;
        for (int32_t j = 0; j < row_size; j++) {
            sum += table[input[j]];
        }
        const float inv_sum = 1.0f / (sum * params->output_scale);
        for (int32_t j = 0; j < row_size; j++) {
            const float prob = table[input[j]] * inv_sum;
            const int32_t q = (int32_t)roundf(prob) + params->output_offset;
            output[j] = (int8_t)TP_MIN(TP_MAX(q, INT8_MIN), INT8_MAX);
        }
        input += row_size;
        output += row_size;
    }
    return TP_OK;
}
