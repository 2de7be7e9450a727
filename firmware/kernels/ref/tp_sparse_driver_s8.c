/* The loops shared by every sparse format: gather one output pixel's input patch
 * (im2col with the zero point as padding), then let the format's row kernel produce
 * all output channels of that pixel. */
#include "tp_nn_sparse.h"

#include <stddef.h>

static int is_pointwise(const tp_conv_params *params, const tp_dims *filter_dims)
{
    return filter_dims->h == 1 && filter_dims->w == 1 && params->padding.h == 0 && params->padding.w == 0;
}

int32_t tp_convolve_sparse_s8_get_buffer_size(const tp_conv_params *params, const tp_dims *filter_dims)
{
    return is_pointwise(params, filter_dims) ? 0 : filter_dims->h * filter_dims->w * filter_dims->c;
}

tp_status tp_sparse_conv_driver(const tp_context *ctx, const tp_conv_params *params, const tp_quant_params *quant,
                                const tp_dims *input_dims, const int8_t *input, const tp_dims *filter_dims,
                                const void *filter, tp_sparse_rows_fn rows_fn, const int32_t *bias,
                                const tp_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t cols = k_h * k_w * in_c;
    const int pointwise = is_pointwise(params, filter_dims);
    if (filter_dims->c != in_c || filter_dims->n != out_c) {
        return TP_ARG_ERROR;
    }
    if (!pointwise && (ctx == NULL || ctx->buf == NULL || ctx->size < cols)) {
        return TP_ARG_ERROR;
    }
    const int8_t pad = (int8_t)(-params->input_offset);
    int8_t *patch = pointwise ? NULL : (int8_t *)ctx->buf;
    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in_batch = input + (int64_t)b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < out_h; oy++) {
            const int32_t y0 = oy * params->stride.h - params->padding.h;
            for (int32_t ox = 0; ox < out_w; ox++) {
                const int32_t x0 = ox * params->stride.w - params->padding.w;
                const int8_t *x;
                if (pointwise) {
                    x = in_batch + ((int64_t)y0 * in_w + x0) * in_c;
                } else {
                    int8_t *dst = patch;
                    for (int32_t ky = 0; ky < k_h; ky++) {
                        const int32_t y = y0 + ky * params->dilation.h;
                        for (int32_t kx = 0; kx < k_w; kx++) {
                            const int32_t xx = x0 + kx * params->dilation.w;
                            const int inside = y >= 0 && y < in_h && xx >= 0 && xx < in_w;
                            const int8_t *src = in_batch + ((int64_t)y * in_w + xx) * in_c;
                            for (int32_t c = 0; c < in_c; c++) {
                                dst[c] = inside ? src[c] : pad;
                            }
                            dst += in_c;
                        }
                    }
                    x = patch;
                }
                rows_fn(filter, x, out_c, cols, bias, quant, params->output_offset, &params->activation, output);
                output += out_c;
            }
        }
    }
    return TP_OK;
}
