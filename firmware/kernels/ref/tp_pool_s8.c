/* AVERAGE_POOL_2D and MAX_POOL_2D int8. Windows are clipped at the borders: padding
 * is never counted (TFLite divides by the number of taps actually inside the input). */
#include "tp_nn.h"
#include "tp_nn_support.h"

typedef enum { TP_POOL_AVG, TP_POOL_MAX } tp_pool_kind;

static tp_status tp_pool_s8(tp_pool_kind kind, const tp_pool_params *params, const tp_dims *input_dims,
                            const int8_t *input, const tp_dims *filter_dims, const tp_dims *output_dims,
                            int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, ch = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    if (output_dims->c != ch) {
        return TP_ARG_ERROR;
    }
    for (int32_t b = 0; b < input_dims->n; b++) {
        const int8_t *in_batch = input + (int64_t)b * in_h * in_w * ch;
        for (int32_t oy = 0; oy < out_h; oy++) {
            const int32_t y0 = oy * params->stride.h - params->padding.h;
            const int32_t ky_start = TP_MAX(0, -y0);
            const int32_t ky_end = TP_MIN(filter_dims->h, in_h - y0);
            for (int32_t ox = 0; ox < out_w; ox++) {
                const int32_t x0 = ox * params->stride.w - params->padding.w;
                const int32_t kx_start = TP_MAX(0, -x0);
                const int32_t kx_end = TP_MIN(filter_dims->w, in_w - x0);
                for (int32_t c = 0; c < ch; c++) {
                    int32_t acc = kind == TP_POOL_MAX ? INT8_MIN : 0;
                    int32_t count = 0;
                    for (int32_t ky = ky_start; ky < ky_end; ky++) {
                        for (int32_t kx = kx_start; kx < kx_end; kx++) {
                            const int32_t v = in_batch[((int64_t)(y0 + ky) * in_w + (x0 + kx)) * ch + c];
                            acc = kind == TP_POOL_MAX ? TP_MAX(acc, v) : acc + v;
                            count++;
                        }
                    }
                    if (count == 0) {
                        return TP_ARG_ERROR; /* a window entirely in the padding */
                    }
                    if (kind == TP_POOL_AVG) {
                        /* Round half away from zero, as TFLite does. */
                        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    }
                    *output++ = tp_clamp_s8(acc, &params->activation);
                }
            }
        }
    }
    return TP_OK;
}

tp_status tp_avgpool_s8(const tp_context *ctx, const tp_pool_params *params, const tp_dims *input_dims,
                        const int8_t *input, const tp_dims *filter_dims, const tp_dims *output_dims,
                        int8_t *output)
{
    (void)ctx;
    return tp_pool_s8(TP_POOL_AVG, params, input_dims, input, filter_dims, output_dims, output);
}

tp_status tp_maxpool_s8(const tp_context *ctx, const tp_pool_params *params, const tp_dims *input_dims,
                        const int8_t *input, const tp_dims *filter_dims, const tp_dims *output_dims,
                        int8_t *output)
{
    (void)ctx;
    return tp_pool_s8(TP_POOL_MAX, params, input_dims, input, filter_dims, output_dims, output);
}
