/* ADD, SUB and SQUARED_DIFFERENCE int8, TFLite's integer arithmetic: each input, zero point
 * removed and shifted left by params->left_shift, is rescaled to twice the larger input
 * scale; the sum, difference or squared difference is requantized to the output scale. */
#include "tp_nn.h"
#include "tp_nn_support.h"

static inline int32_t tp_scaled_input(int32_t x, int32_t offset, int32_t scale_up, int32_t multiplier,
                                      int32_t shift, tp_rounding rounding)
{
    return tp_requantize((x + offset) * scale_up, multiplier, shift, rounding);
}

static void tp_add_row(const void *p, const int8_t *a, int32_t step1, const int8_t *b, int32_t step2,
                       int8_t *out, int32_t n)
{
    const tp_add_params *params = (const tp_add_params *)p;
    const int32_t scale_up = (int32_t)(INT32_C(1) << params->left_shift);
    for (int32_t i = 0; i < n; i++, a += step1, b += step2) {
        const int32_t sa = tp_scaled_input(*a, params->input1_offset, scale_up, params->input1_multiplier,
                                           params->input1_shift, params->rounding);
        const int32_t sb = tp_scaled_input(*b, params->input2_offset, scale_up, params->input2_multiplier,
                                           params->input2_shift, params->rounding);
        const int32_t v = tp_requantize(sa + sb, params->output_multiplier, params->output_shift, params->rounding);
        out[i] = tp_clamp_s8(v + params->output_offset, &params->activation);
    }
}

static void tp_sub_row(const void *p, const int8_t *a, int32_t step1, const int8_t *b, int32_t step2,
                       int8_t *out, int32_t n)
{
    const tp_add_params *params = (const tp_add_params *)p;
    const int32_t scale_up = (int32_t)(INT32_C(1) << params->left_shift);
    for (int32_t i = 0; i < n; i++, a += step1, b += step2) {
        const int32_t sa = tp_scaled_input(*a, params->input1_offset, scale_up, params->input1_multiplier,
                                           params->input1_shift, params->rounding);
        const int32_t sb = tp_scaled_input(*b, params->input2_offset, scale_up, params->input2_multiplier,
                                           params->input2_shift, params->rounding);
        const int32_t v = tp_requantize(sa - sb, params->output_multiplier, params->output_shift, params->rounding);
        out[i] = tp_clamp_s8(v + params->output_offset, &params->activation);
    }
}

static void tp_squared_difference_row(const void *p, const int8_t *a, int32_t step1, const int8_t *b,
                                      int32_t step2, int8_t *out, int32_t n)
{
    const tp_add_params *params = (const tp_add_params *)p;
    const int32_t scale_up = (int32_t)(INT32_C(1) << params->left_shift);
    for (int32_t i = 0; i < n; i++, a += step1, b += step2) {
        const int32_t sa = tp_scaled_input(*a, params->input1_offset, scale_up, params->input1_multiplier,
                                           params->input1_shift, params->rounding);
        const int32_t sb = tp_scaled_input(*b, params->input2_offset, scale_up, params->input2_multiplier,
                                           params->input2_shift, params->rounding);
        /* |sa - sb| < 2^15 with left_shift 7, so the square fits in 31 bits. */
        const int32_t diff = sa - sb;
        const int32_t v = tp_requantize(diff * diff, params->output_multiplier, params->output_shift,
                                        params->rounding);
        out[i] = tp_clamp_s8(v + params->output_offset, &params->activation);
    }
}

tp_status tp_elementwise_add_s8(const tp_add_params *params, const tp_ew_shape *shape, const int8_t *input1,
                                const int8_t *input2, int8_t *output)
{
    return tp_elementwise_broadcast_s8(shape, params, tp_add_row, input1, input2, output);
}

tp_status tp_elementwise_sub_s8(const tp_add_params *params, const tp_ew_shape *shape, const int8_t *input1,
                                const int8_t *input2, int8_t *output)
{
    return tp_elementwise_broadcast_s8(shape, params, tp_sub_row, input1, input2, output);
}

tp_status tp_elementwise_squared_difference_s8(const tp_add_params *params, const tp_ew_shape *shape,
                                               const int8_t *input1, const int8_t *input2, int8_t *output)
{
    return tp_elementwise_broadcast_s8(shape, params, tp_squared_difference_row, input1, input2, output);
}
