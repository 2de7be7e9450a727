/* DEPTHWISE_CONV_2D int8, DSP extension. With depth multiplier 1, four neighbouring
 * channels come in one word for input and filter alike; SXTAB16/SXTB16 widen them and
 * SMLABB/SMLATT do one MAC per channel. 3x3 windows fully inside the input take an
 * unrolled path; other depth multipliers use the portable loop. */
#include "tp_nn.h"
#include "tp_dsp_support.h"

int32_t tp_depthwise_conv_s8_get_buffer_size(const tp_dims *input_dims, const tp_dims *filter_dims)
{
    (void)input_dims;
    (void)filter_dims;
    return 0;
}

/* acc[0..3] (channels c..c+3) += one tap. */
#define TP_DW_TAP(xp, wp)                                                              \
    do {                                                                               \
        const uint32_t v_ = tp_read_s8x4(xp), u_ = tp_read_s8x4(wp);                   \
        const uint32_t x02_ = __sxtab16(off2, v_), x13_ = tp_sxtab16_hi(off2, v_); \
        const uint32_t w02_ = __sxtb16(u_), w13_ = tp_sxtb16_hi(u_);             \
        a0 = __smlabb(x02_, w02_, a0);                                                 \
        a2 = __smlatt(x02_, w02_, a2);                                                 \
        a1 = __smlabb(x13_, w13_, a1);                                                 \
        a3 = __smlatt(x13_, w13_, a3);                                                 \
    } while (0)

static tp_status depthwise_generic(const tp_dw_conv_params *params, const tp_quant_params *quant,
                                   const tp_dims *input_dims, const int8_t *input, const tp_dims *filter_dims,
                                   const int8_t *filter, const int32_t *bias, const tp_dims *output_dims,
                                   int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t mult = params->ch_mult;
    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in_batch = input + (int64_t)b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < out_h; oy++) {
            const int32_t y0 = oy * params->stride.h - params->padding.h;
            for (int32_t ox = 0; ox < out_w; ox++) {
                const int32_t x0 = ox * params->stride.w - params->padding.w;
                for (int32_t oc = 0; oc < out_c; oc++) {
                    const int32_t ic = oc / mult;
                    int32_t acc = bias != NULL ? bias[oc] : 0;
                    for (int32_t ky = 0; ky < k_h; ky++) {
                        const int32_t y = y0 + ky * params->dilation.h;
                        if (y < 0 || y >= in_h) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < k_w; kx++) {
                            const int32_t x = x0 + kx * params->dilation.w;
                            if (x < 0 || x >= in_w) {
                                continue;
                            }
                            acc += filter[((int64_t)ky * k_w + kx) * out_c + oc] *
                                   (in_batch[((int64_t)y * in_w + x) * in_c + ic] + params->input_offset);
                        }
                    }
                    const int32_t q = quant->per_channel ? oc : 0;
                    *output++ = tp_finish_s8(acc, quant->multiplier[q], quant->shift[q], quant->rounding,
                                             params->output_offset, &params->activation);
                }
            }
        }
    }
    return TP_OK;
}

tp_status tp_depthwise_conv_s8(const tp_context *ctx, const tp_dw_conv_params *params,
                               const tp_quant_params *quant, const tp_dims *input_dims, const int8_t *input,
                               const tp_dims *filter_dims, const int8_t *filter, const tp_dims *bias_dims,
                               const int32_t *bias, const tp_dims *output_dims, int8_t *output)
{
    (void)ctx;
    (void)bias_dims;
    const int32_t in_h = input_dims->h, in_w = input_dims->w, c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    if (output_dims->c != c * params->ch_mult || filter_dims->c != output_dims->c) {
        return TP_ARG_ERROR;
    }
    if (params->ch_mult != 1) {
        return depthwise_generic(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output);
    }
    const uint32_t off2 = tp_dup16(params->input_offset);
    const int32_t dy = params->dilation.h, dx = params->dilation.w;
    const int32_t row = in_w * c;
    const int is3x3 = k_h == 3 && k_w == 3 && dy == 1 && dx == 1;
    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in = input + (int64_t)b * in_h * row;
        for (int32_t oy = 0; oy < out_h; oy++) {
            const int32_t y0 = oy * params->stride.h - params->padding.h;
            for (int32_t ox = 0; ox < out_w; ox++) {
                const int32_t x0 = ox * params->stride.w - params->padding.w;
                const int inside = y0 >= 0 && x0 >= 0 && y0 + (k_h - 1) * dy < in_h && x0 + (k_w - 1) * dx < in_w;
                const int8_t *px = in + (int64_t)y0 * row + (int64_t)x0 * c;
                int32_t ch = 0;
                for (; ch + 4 <= c; ch += 4) {
                    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                    if (bias != NULL) {
                        a0 = bias[ch], a1 = bias[ch + 1], a2 = bias[ch + 2], a3 = bias[ch + 3];
                    }
                    if (inside && is3x3) {
                        const int8_t *x = px + ch, *w = filter + ch;
                        TP_DW_TAP(x, w);
                        TP_DW_TAP(x + c, w + c);
                        TP_DW_TAP(x + 2 * c, w + 2 * c);
                        x += row, w += 3 * c;
                        TP_DW_TAP(x, w);
                        TP_DW_TAP(x + c, w + c);
                        TP_DW_TAP(x + 2 * c, w + 2 * c);
                        x += row, w += 3 * c;
                        TP_DW_TAP(x, w);
                        TP_DW_TAP(x + c, w + c);
                        TP_DW_TAP(x + 2 * c, w + 2 * c);
                    } else {
                        for (int32_t ky = 0; ky < k_h; ky++) {
                            const int32_t y = y0 + ky * dy;
                            if (y < 0 || y >= in_h) {
                                continue;
                            }
                            for (int32_t kx = 0; kx < k_w; kx++) {
                                const int32_t x = x0 + kx * dx;
                                if (x < 0 || x >= in_w) {
                                    continue;
                                }
                                TP_DW_TAP(in + (int64_t)y * row + (int64_t)x * c + ch,
                                          filter + ((int64_t)ky * k_w + kx) * c + ch);
                            }
                        }
                    }
                    const int32_t acc[4] = {a0, a1, a2, a3};
                    for (int32_t j = 0; j < 4; j++) {
                        const int32_t q = quant->per_channel ? ch + j : 0;
                        output[ch + j] = tp_finish_s8(acc[j], quant->multiplier[q], quant->shift[q],
                                                      quant->rounding, params->output_offset, &params->activation);
                    }
                }
                for (; ch < c; ch++) {
                    int32_t acc = bias != NULL ? bias[ch] : 0;
                    for (int32_t ky = 0; ky < k_h; ky++) {
                        const int32_t y = y0 + ky * dy;
                        if (y < 0 || y >= in_h) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < k_w; kx++) {
                            const int32_t x = x0 + kx * dx;
                            if (x < 0 || x >= in_w) {
                                continue;
                            }
                            acc += filter[((int64_t)ky * k_w + kx) * c + ch] *
                                   (in[(int64_t)y * row + (int64_t)x * c + ch] + params->input_offset);
                        }
                    }
                    const int32_t q = quant->per_channel ? ch : 0;
                    output[ch] = tp_finish_s8(acc, quant->multiplier[q], quant->shift[q], quant->rounding,
                                              params->output_offset, &params->activation);
                }
                output += c;
            }
        }
    }
    return TP_OK;
}
