/* RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR int8 (NHWC). The host computes which input
 * rows and columns each output row and column reads, so the kernels only gather and weigh. */
#include "tp_nn.h"
#include "tp_nn_support.h"

static int tp_resize_dims_ok(const tp_dims *in, const tp_dims *out)
{
    return in->n == out->n && in->c == out->c && in->h > 0 && in->w > 0;
}

tp_status tp_resize_nearest_s8(const tp_resize_nearest_params *params, const tp_dims *input_dims,
                               const int8_t *input, const tp_dims *output_dims, int8_t *output)
{
    if (!tp_resize_dims_ok(input_dims, output_dims)) {
        return TP_ARG_ERROR;
    }
    const int32_t ch = input_dims->c;
    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in_batch = input + (int64_t)b * input_dims->h * input_dims->w * ch;
        for (int32_t oy = 0; oy < output_dims->h; oy++) {
            const int8_t *in_row = in_batch + (int64_t)params->y_index[oy] * input_dims->w * ch;
            for (int32_t ox = 0; ox < output_dims->w; ox++) {
                const int8_t *src = in_row + (int64_t)params->x_index[ox] * ch;
                for (int32_t c = 0; c < ch; c++) {
                    *output++ = src[c];
                }
            }
        }
    }
    return TP_OK;
}

tp_status tp_resize_bilinear_s8(const tp_resize_bilinear_params *params, const tp_dims *input_dims,
                                const int8_t *input, const tp_dims *output_dims, int8_t *output)
{
    if (!tp_resize_dims_ok(input_dims, output_dims)) {
        return TP_ARG_ERROR;
    }
    const int32_t ch = input_dims->c;
    const int32_t row = input_dims->w * ch;
    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in_batch = input + (int64_t)b * input_dims->h * row;
        for (int32_t oy = 0; oy < output_dims->h; oy++) {
            const int32_t *ym = params->y_map + 3 * oy;
            const int8_t *top = in_batch + (int64_t)ym[0] * row;
            const int8_t *bottom = in_batch + (int64_t)ym[1] * row;
            const int32_t wy1 = ym[2], wy0 = 1024 - ym[2];
            for (int32_t ox = 0; ox < output_dims->w; ox++) {
                const int32_t *xm = params->x_map + 3 * ox;
                const int32_t x0 = xm[0] * ch, x1 = xm[1] * ch;
                const int32_t wx1 = xm[2], wx0 = 1024 - xm[2];
                for (int32_t c = 0; c < ch; c++) {
                    /* |weights| per axis sum to at most 2048, so |acc| < 128 * 2048^2 = 2^29:
                     * int32 holds TFLite's int64 sum exactly. */
                    const int32_t t = (int32_t)top[x0 + c] * wx0 + (int32_t)top[x1 + c] * wx1;
                    const int32_t u = (int32_t)bottom[x0 + c] * wx0 + (int32_t)bottom[x1 + c] * wx1;
                    const int32_t acc = t * wy0 + u * wy1;
                    const int32_t rounded = acc >= 0 ? (acc + (1 << 19)) >> 20 : -((-acc + (1 << 19)) >> 20);
                    *output++ = (int8_t)rounded;
                }
            }
        }
    }
    return TP_OK;
}
