/* CONV_2D int8, per-channel requantization: direct convolution, no scratch memory. */
#include "tp_nn.h"
#include "tp_nn_support.h"

int32_t tp_convolve_s8_get_buffer_size(const tp_dims *input_dims, const tp_dims *filter_dims)
{
    (void)input_dims;
    (void)filter_dims;
    return 0;
}

tp_status tp_convolve_s8(const tp_context *ctx, const tp_conv_params *params, const tp_quant_params *quant,
                         const tp_dims *input_dims, const int8_t *input, const tp_dims *filter_dims,
                         const int8_t *filter, const tp_dims *bias_dims, const int32_t *bias,
                         const tp_dims *output_dims, int8_t *output)
{
    (void)ctx;
    (void)bias_dims;
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    if (filter_dims->c != in_c || filter_dims->n != out_c) {
        return TP_ARG_ERROR;
    }
    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in_batch = input + (int64_t)b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < out_h; oy++) {
            const int32_t y0 = oy * params->stride.h - params->padding.h;
            for (int32_t ox = 0; ox < out_w; ox++) {
                const int32_t x0 = ox * params->stride.w - params->padding.w;
                for (int32_t oc = 0; oc < out_c; oc++) {
                    const int8_t *f = filter + (int64_t)oc * k_h * k_w * in_c;
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < k_h; ky++) {
                        const int32_t y = y0 + ky * params->dilation.h;
                        if (y < 0 || y >= in_h) {
                            continue; /* padding reads the zero point: contributes nothing */
                        }
                        for (int32_t kx = 0; kx < k_w; kx++) {
                            const int32_t x = x0 + kx * params->dilation.w;
                            if (x < 0 || x >= in_w) {
                                continue;
                            }
                            const int8_t *px = in_batch + ((int64_t)y * in_w + x) * in_c;
                            const int8_t *fk = f + ((int64_t)ky * k_w + kx) * in_c;
                            for (int32_t ic = 0; ic < in_c; ic++) {
                                acc += (int32_t)fk[ic] * ((int32_t)px[ic] + params->input_offset);
                            }
                        }
                    }
                    if (bias != NULL) {
                        acc += bias[oc];
                    }
                    const int32_t q = quant->per_channel ? oc : 0;
                    acc = tp_requantize(acc, quant->multiplier[q], quant->shift[q], quant->rounding);
                    acc += params->output_offset;
                    *output++ = tp_clamp_s8(acc, &params->activation);
                }
            }
        }
    }
    return TP_OK;
}
