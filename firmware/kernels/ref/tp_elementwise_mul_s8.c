/* MUL int8, TFLite's integer arithmetic: the product of the two zero-point-free inputs is
 * requantized once by input1_scale * input2_scale / output_scale. */
#include "tp_nn.h"
#include "tp_nn_support.h"

static void tp_mul_row(const void *p, const int8_t *a, int32_t step1, const int8_t *b, int32_t step2,
                       int8_t *out, int32_t n)
{
    const tp_mul_params *params = (const tp_mul_params *)p;
    for (int32_t i = 0; i < n; i++, a += step1, b += step2) {
        const int32_t prod = ((int32_t)*a + params->input1_offset) * ((int32_t)*b + params->input2_offset);
        const int32_t v = tp_requantize(prod, params->output_multiplier, params->output_shift, params->rounding);
        out[i] = tp_clamp_s8(v + params->output_offset, &params->activation);
    }
}

tp_status tp_elementwise_mul_s8(const tp_mul_params *params, const tp_ew_shape *shape, const int8_t *input1,
                                const int8_t *input2, int8_t *output)
{
    return tp_elementwise_broadcast_s8(shape, params, tp_mul_row, input1, input2, output);
}
