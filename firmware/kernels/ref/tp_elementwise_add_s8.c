/* ADD int8: both inputs are brought to a common scale with 20 bits of headroom, summed,
 * then requantized to the output scale (TFLite's integer ADD). */
#include "tp_nn.h"
#include "tp_nn_support.h"

tp_status tp_elementwise_add_s8(const tp_add_params *params, const int8_t *input1, const int8_t *input2,
                                int8_t *output, int32_t size)
{
    const int32_t scale_up = (int32_t)(INT32_C(1) << params->left_shift);
    for (int32_t i = 0; i < size; i++) {
        const int32_t a = ((int32_t)input1[i] + params->input1_offset) * scale_up;
        const int32_t b = ((int32_t)input2[i] + params->input2_offset) * scale_up;
        const int32_t sa = tp_requantize(a, params->input1_multiplier, params->input1_shift, params->rounding);
        const int32_t sb = tp_requantize(b, params->input2_multiplier, params->input2_shift, params->rounding);
        int32_t out = tp_requantize(sa + sb, params->output_multiplier, params->output_shift, params->rounding);
        out += params->output_offset;
        output[i] = tp_clamp_s8(out, &params->activation);
    }
    return TP_OK;
}
