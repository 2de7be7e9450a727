/* TRANSPOSE_CONV int8, output-stationary: output (oy, ox) gathers the input pixels (iy, ix)
 * with iy * stride - pad + fy == oy for some filter tap fy (likewise x). The int32 sums equal
 * TFLite's scatter formulation exactly; no scratch is needed. */
#include "tp_nn.h"
#include "tp_nn_support.h"

tp_status tp_transpose_conv_s8(const tp_transpose_conv_params *params, const tp_quant_params *quant,
                               const tp_dims *input_dims, const int8_t *input, const tp_dims *filter_dims,
                               const int8_t *filter, const tp_dims *bias_dims, const int32_t *bias,
                               const tp_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t sh = params->stride.h, sw = params->stride.w;
    if (filter_dims->n != out_c || filter_dims->c != in_c || sh < 1 || sw < 1 ||
        (bias != NULL && bias_dims->c != out_c)) {
        return TP_ARG_ERROR;
    }
    for (int32_t b = 0; b < output_dims->n; b++) {
        const int8_t *in_b = input + (int64_t)b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < out_h; oy++) {
            for (int32_t ox = 0; ox < out_w; ox++) {
                int8_t *out = output + (((int64_t)b * out_h + oy) * out_w + ox) * out_c;
                for (int32_t oc = 0; oc < out_c; oc++) {
                    int32_t acc = 0;
                    for (int32_t fy = 0; fy < k_h; fy++) {
                        const int32_t ty = oy + params->padding.h - fy;
                        if (ty < 0 || ty % sh != 0 || ty / sh >= in_h) {
                            continue;
                        }
                        for (int32_t fx = 0; fx < k_w; fx++) {
                            const int32_t tx = ox + params->padding.w - fx;
                            if (tx < 0 || tx % sw != 0 || tx / sw >= in_w) {
                                continue;
                            }
                            const int8_t *px = in_b + ((int64_t)(ty / sh) * in_w + tx / sw) * in_c;
                            const int8_t *f = filter + (((int64_t)oc * k_h + fy) * k_w + fx) * in_c;
                            for (int32_t ic = 0; ic < in_c; ic++) {
                                acc += ((int32_t)px[ic] + params->input_offset) * (int32_t)f[ic];
                            }
                        }
                    }
                    if (bias != NULL) {
                        acc += bias[oc];
                    }
                    const int32_t ch = quant->per_channel ? oc : 0;
                    acc = tp_requantize(acc, quant->multiplier[ch], quant->shift[ch], quant->rounding);
                    out[oc] = tp_clamp_s8(acc + params->output_offset, &params->activation);
                }
            }
        }
    }
    return TP_OK;
}
