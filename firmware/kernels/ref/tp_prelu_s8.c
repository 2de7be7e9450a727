/* PRELU int8, TFLite's integer arithmetic: a non-negative input (zero point removed) is
 * requantized by input_scale / output_scale; a negative one is multiplied by its alpha
 * (zero point removed) and requantized by input_scale * alpha_scale / output_scale. */
#include "tp_nn.h"
#include "tp_nn_support.h"

static void tp_prelu_row(const void *p, const int8_t *x, int32_t step1, const int8_t *alpha, int32_t step2,
                         int8_t *out, int32_t n)
{
    const tp_prelu_params *params = (const tp_prelu_params *)p;
    for (int32_t i = 0; i < n; i++, x += step1, alpha += step2) {
        const int32_t v = (int32_t)*x + params->input_offset;
        int32_t y;
        if (v >= 0) {
            y = tp_requantize(v, params->positive_multiplier, params->positive_shift, params->rounding);
        } else {
            const int32_t a = (int32_t)*alpha + params->alpha_offset;
            y = tp_requantize(v * a, params->negative_multiplier, params->negative_shift, params->rounding);
        }
        out[i] = tp_clamp_s8(y + params->output_offset, &params->activation);
    }
}

tp_status tp_prelu_s8(const tp_prelu_params *params, const tp_ew_shape *shape, const int8_t *input,
                      const int8_t *alpha, int8_t *output)
{
    return tp_elementwise_broadcast_s8(shape, params, tp_prelu_row, input, alpha, output);
}
