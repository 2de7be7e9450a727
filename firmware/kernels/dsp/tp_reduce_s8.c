/* MEAN int8, DSP extension: the sums of TensorFlow Lite's reference QuantizedMeanOrSum in
 * fewer instructions, then the same single requantization per output (the host folds 1/count
 * into the multiplier). The sum of (x + input_offset) is taken as sum(x) + count *
 * input_offset, the same int32 value (the code generator bounds count so neither overflows).
 *  - Spatial (the innermost kept dimension is contiguous, e.g. GlobalAveragePooling2D over
 *    NHWC): four neighbouring channels come in one word, and two SXTAB16 add them into four
 *    int16 lanes per reduced position (eight channels per pass); the lanes are widened into
 *    int32 every 256 positions (256 * 128 fits in int16).
 *  - Contiguous (the reduced dimensions are innermost, e.g. over channels): each word adds
 *    its four values into two int16 lanes pairs the same way.
 *  - Anything else: the portable loop. */
#include "tp_dsp_optimize.h" /* first: see there */
#include "tp_nn.h"
#include "tp_dsp_support.h"
#include "tp_reduce_support.h"

#define TP_MEAN_LANE_RUN 256 /* positions an int16 lane may add before it is widened */

/* The requantization of one call, prepared once: the sum's offset (count * input_offset) and
 * the double-rounding constants (tp_rq_apply is exact for |acc| <= count * 255 < 2^30, so for
 * up to 2^22 values per output; larger counts and single rounding take tp_requantize_fast). */
typedef struct {
    const tp_mean_params *params;
    int32_t bias;
    tp_rq rq;
    int32_t output_offset;
    int portable;
} tp_mean_ctx;

static inline int8_t tp_mean_finish(int32_t sum, const tp_mean_ctx *c)
{
    const int32_t acc = sum + c->bias;
    const int32_t v = c->portable ? tp_requantize_fast(acc, c->params->multiplier, c->params->shift,
                                                       c->params->rounding)
                                  : tp_rq_apply(acc, &c->rq);
    return (int8_t)__ssat(v + c->output_offset, 8);
}

/* The sums of eight (four) neighbouring channels at p over n positions `stride` apart, in
 * int16 lanes widened every TP_MEAN_LANE_RUN positions. */
static void tp_mean_sum8(const int8_t *p, int32_t n, int32_t stride, int32_t *s)
{
    for (int32_t j = 0; j < 8; j++) {
        s[j] = 0;
    }
    while (n > 0) {
        const int32_t run = n < TP_MEAN_LANE_RUN ? n : TP_MEAN_LANE_RUN;
        uint32_t l02 = 0, l13 = 0, l46 = 0, l57 = 0;
        const int8_t *end = p + run * stride;
        for (; p != end; p += stride) {
            const uint32_t v = tp_read_s8x4(p), w = tp_read_s8x4(p + 4);
            l02 = __sxtab16(l02, v);
            l13 = tp_sxtab16_hi(l13, v);
            l46 = __sxtab16(l46, w);
            l57 = tp_sxtab16_hi(l57, w);
        }
        s[0] += (int16_t)(l02 & 0xFFFFu), s[2] += (int16_t)(l02 >> 16);
        s[1] += (int16_t)(l13 & 0xFFFFu), s[3] += (int16_t)(l13 >> 16);
        s[4] += (int16_t)(l46 & 0xFFFFu), s[6] += (int16_t)(l46 >> 16);
        s[5] += (int16_t)(l57 & 0xFFFFu), s[7] += (int16_t)(l57 >> 16);
        n -= run;
    }
}

static void tp_mean_sum4(const int8_t *p, int32_t n, int32_t stride, int32_t *s)
{
    s[0] = s[1] = s[2] = s[3] = 0;
    while (n > 0) {
        const int32_t run = n < TP_MEAN_LANE_RUN ? n : TP_MEAN_LANE_RUN;
        uint32_t l02 = 0, l13 = 0;
        const int8_t *end = p + run * stride;
        for (; p != end; p += stride) {
            const uint32_t v = tp_read_s8x4(p);
            l02 = __sxtab16(l02, v);
            l13 = tp_sxtab16_hi(l13, v);
        }
        s[0] += (int16_t)(l02 & 0xFFFFu), s[2] += (int16_t)(l02 >> 16);
        s[1] += (int16_t)(l13 & 0xFFFFu), s[3] += (int16_t)(l13 >> 16);
        n -= run;
    }
}

/* The sum of n contiguous values at p. */
static int32_t tp_mean_sum_contiguous(const int8_t *p, int32_t n)
{
    int32_t sum = 0;
    while (n >= 4) {
        const int32_t words = n / 4 < TP_MEAN_LANE_RUN ? n / 4 : TP_MEAN_LANE_RUN;
        uint32_t l02 = 0, l13 = 0;
        for (int32_t k = 0; k < words; k++, p += 4) {
            const uint32_t v = tp_read_s8x4(p);
            l02 = __sxtab16(l02, v);
            l13 = tp_sxtab16_hi(l13, v);
        }
        sum += (int16_t)(l02 & 0xFFFFu) + (int16_t)(l02 >> 16) + (int16_t)(l13 & 0xFFFFu) + (int16_t)(l13 >> 16);
        n -= 4 * words;
    }
    for (; n > 0; n--) {
        sum += *p++;
    }
    return sum;
}

/* The innermost kept group is contiguous (stride 1) and the reduced positions are one
 * strided run: channel groups of four, then single channels. */
static void tp_mean_spatial(const tp_mean_ctx *ctx, const tp_reduce_shape *shape, const int8_t *input,
                            int8_t *output, int32_t count)
{
    tp_reduce_axes outer = shape->kept;
    outer.count--;
    const int32_t channels = shape->kept.extent[shape->kept.count - 1];
    const int32_t outer_n = tp_reduce_positions(&outer);
    const int32_t stride = shape->reduced.count == 0 ? 0 : shape->reduced.stride[0];
    int32_t index[TP_REDUCE_MAX_GROUPS] = {0};
    int32_t base = 0;
    for (int32_t o = 0; o < outer_n; o++) {
        const int8_t *in = input + base;
        int32_t c = 0;
        int32_t s[8];
        for (; c + 8 <= channels; c += 8) {
            tp_mean_sum8(in + c, count, stride, s);
            for (int32_t j = 0; j < 8; j++) {
                output[c + j] = tp_mean_finish(s[j], ctx);
            }
        }
        for (; c + 4 <= channels; c += 4) {
            tp_mean_sum4(in + c, count, stride, s);
            for (int32_t j = 0; j < 4; j++) {
                output[c + j] = tp_mean_finish(s[j], ctx);
            }
        }
        for (; c < channels; c++) {
            const int8_t *p = in + c;
            int32_t sum = 0;
            for (int32_t r = 0; r < count; r++, p += stride) {
                sum += *p;
            }
            output[c] = tp_mean_finish(sum, ctx);
        }
        output += channels;
        base += tp_reduce_step(&outer, index);
    }
}

tp_status tp_mean_s8(const tp_mean_params *params, const tp_reduce_shape *shape, const int8_t *input,
                     int8_t *output)
{
    const tp_reduce_axes *kept = &shape->kept;
    const tp_reduce_axes *reduced = &shape->reduced;
    if (kept->count < 0 || kept->count > TP_REDUCE_MAX_GROUPS || reduced->count < 0 ||
        reduced->count > TP_REDUCE_MAX_GROUPS) {
        return TP_ARG_ERROR;
    }
    const int32_t outputs = tp_reduce_positions(kept);
    const int32_t count = tp_reduce_positions(reduced);
    tp_mean_ctx c;
    c.params = params;
    c.bias = count * params->input_offset;
    c.rq = tp_rq_make(params->multiplier, params->shift);
    c.output_offset = params->output_offset;
    c.portable = params->rounding != TP_ROUND_DOUBLE || count > (INT32_C(1) << 22) || params->shift < -31;
    if (kept->count >= 1 && kept->stride[kept->count - 1] == 1 && reduced->count <= 1) {
        tp_mean_spatial(&c, shape, input, output, count);
        return TP_OK;
    }
    int32_t out_index[TP_REDUCE_MAX_GROUPS] = {0};
    int32_t base = 0;
    if (reduced->count == 1 && reduced->stride[0] == 1) {
        for (int32_t o = 0; o < outputs; o++) {
            output[o] = tp_mean_finish(tp_mean_sum_contiguous(input + base, count), &c);
            base += tp_reduce_step(kept, out_index);
        }
        return TP_OK;
    }
    const tp_activation int8_range = {INT8_MIN, INT8_MAX};
    for (int32_t o = 0; o < outputs; o++) {
        int32_t red_index[TP_REDUCE_MAX_GROUPS] = {0};
        int32_t offset = base;
        int32_t acc = 0;
        for (int32_t r = 0; r < count; r++) {
            acc += (int32_t)input[offset] + params->input_offset;
            offset += tp_reduce_step(reduced, red_index);
        }
        int32_t out = tp_requantize(acc, params->multiplier, params->shift, params->rounding);
        output[o] = tp_clamp_s8(out + params->output_offset, &int8_range);
        base += tp_reduce_step(kept, out_index);
    }
    return TP_OK;
}
