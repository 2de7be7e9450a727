/* ADD, SUB and SQUARED_DIFFERENCE int8, DSP extension: TFLite's integer arithmetic of the
 * reference kernel, in fewer instructions. The constants are prepared once per call:
 *  - each input's rescale, requantize((x + offset) << left_shift, M, shift) with a right
 *    shift, is SMMULR(((x + offset) << (left_shift + 1)), M) followed by a rounding right
 *    shift (none for the larger-scale input, whose multiplier is 2^30 with shift 0):
 *    gemmlowp's doubling high multiply equals SMMULR of the doubled value whenever that fits
 *    in int32 (|x + offset| <= 255, left_shift <= 20), and the input offset is pre-shifted
 *    so the widening costs one shifted add;
 *  - an input broadcast along the row (step 0) is rescaled once per row;
 *  - the output requantization is tp_rq_right (QADD, SMMULR, rounding shift), exact because
 *    the sum, difference (< 2^28) or squared difference (< 2^30) is below 2^30.
 * Calls with single rounding, a left-shifting output multiplier or shifts out of those
 * ranges take the portable per-element arithmetic. Output may alias an input (each element
 * is read before it is written). */
#include "tp_dsp_optimize.h" /* first: see there */
#include "tp_nn.h"
#include "tp_dsp_support.h"

enum { TP_EW_ADD, TP_EW_SUB, TP_EW_SQUARED_DIFFERENCE };

/* One input's rescale: x -> SMMULR((x << lsh) + offset, mult), rounding right shift by rsh. */
typedef struct {
    int32_t offset; /* input offset << lsh */
    int32_t mult;
    int32_t round; /* 2^(rsh - 1), or 0 */
    int32_t neg;   /* -1 when rsh > 0: negative values round their ties away from zero */
    int32_t rsh;   /* -shift: 0 for the larger-scale input (multiplier 2^30, shift 0) */
} tp_add_input;

typedef struct {
    const tp_add_params *params;
    tp_add_input in1;
    tp_add_input in2;
    int32_t lsh; /* left_shift + 1 */
    tp_rq_right out;
    int32_t output_offset;
    int32_t act_min;
    int32_t act_max;
} tp_add_ctx;

static inline int32_t tp_scaled_input(int32_t x, int32_t offset, int32_t scale_up, int32_t multiplier,
                                      int32_t shift, tp_rounding rounding)
{
    return tp_requantize((x + offset) * scale_up, multiplier, shift, rounding);
}

/* The portable arithmetic of the reference kernel, for the calls the fast path does not take. */
static inline __attribute__((always_inline)) void tp_add_row_portable(const void *p, const int8_t *a, int32_t step1,
                                                                 const int8_t *b, int32_t step2, int8_t *out,
                                                                 int32_t n, int kind)
{
    const tp_add_params *params = ((const tp_add_ctx *)p)->params;
    const int32_t scale_up = (int32_t)(INT32_C(1) << params->left_shift);
    for (int32_t i = 0; i < n; i++, a += step1, b += step2) {
        const int32_t sa = tp_scaled_input(*a, params->input1_offset, scale_up, params->input1_multiplier,
                                           params->input1_shift, params->rounding);
        const int32_t sb = tp_scaled_input(*b, params->input2_offset, scale_up, params->input2_multiplier,
                                           params->input2_shift, params->rounding);
        /* |sa - sb| < 2^15 with left_shift 7, so the square fits in 31 bits. */
        const int32_t v = kind == TP_EW_ADD ? sa + sb : kind == TP_EW_SUB ? sa - sb : (sa - sb) * (sa - sb);
        const int32_t r = tp_requantize(v, params->output_multiplier, params->output_shift, params->rounding);
        out[i] = tp_clamp_s8(r + params->output_offset, &params->activation);
    }
}

static inline __attribute__((always_inline)) int32_t tp_add_scale(int32_t x, const tp_add_input *in, int32_t lsh)
{
    const int32_t high = tp_mulhi_r((int32_t)((uint32_t)x << lsh) + in->offset, in->mult);
    return (high + in->round + ((high >> 31) & in->neg)) >> in->rsh;
}

static inline __attribute__((always_inline)) int8_t tp_add_finish(int32_t sa, int32_t sb, const tp_add_ctx *c,
                                                                  int kind, int full)
{
    const int32_t v = kind == TP_EW_ADD ? sa + sb : kind == TP_EW_SUB ? sa - sb : (sa - sb) * (sa - sb);
    return (int8_t)tp_clamp_fast(tp_rq_right_apply(v, &c->out), c->output_offset, full, c->act_min, c->act_max);
}

/* One row; `kind` and `full` (the activation range is all of int8) are constants in each
 * caller below. */
static inline __attribute__((always_inline)) void tp_add_row_body(const tp_add_ctx *c, const int8_t *a,
                                                                  int32_t step1, const int8_t *b, int32_t step2,
                                                                  int8_t *out, int32_t n, int kind, int full)
{
    const int32_t lsh = c->lsh;
    if (step1 != 0 && step2 != 0) {
        int32_t i = 0;
        for (; i + 2 <= n; i += 2) {
            const int32_t a0 = a[i], a1 = a[i + 1], b0 = b[i], b1 = b[i + 1];
            const int32_t sa0 = tp_add_scale(a0, &c->in1, lsh), sb0 = tp_add_scale(b0, &c->in2, lsh);
            const int32_t sa1 = tp_add_scale(a1, &c->in1, lsh), sb1 = tp_add_scale(b1, &c->in2, lsh);
            out[i] = tp_add_finish(sa0, sb0, c, kind, full);
            out[i + 1] = tp_add_finish(sa1, sb1, c, kind, full);
        }
        if (i < n) {
            out[i] = tp_add_finish(tp_add_scale(a[i], &c->in1, lsh), tp_add_scale(b[i], &c->in2, lsh), c, kind,
                                   full);
        }
    } else if (step1 != 0) {
        const int32_t sb = tp_add_scale(*b, &c->in2, lsh);
        for (int32_t i = 0; i < n; i++) {
            out[i] = tp_add_finish(tp_add_scale(a[i], &c->in1, lsh), sb, c, kind, full);
        }
    } else {
        const int32_t sa = tp_add_scale(*a, &c->in1, lsh);
        for (int32_t i = 0; i < n; i++, b += step2) {
            out[i] = tp_add_finish(sa, tp_add_scale(*b, &c->in2, lsh), c, kind, full);
        }
    }
}

#define TP_ADD_ROWS(name, kind)                                                                                 \
    static void name##_row_ref(const void *p, const int8_t *a, int32_t s1, const int8_t *b, int32_t s2,         \
                               int8_t *out, int32_t n)                                                          \
    {                                                                                                           \
        tp_add_row_portable(p, a, s1, b, s2, out, n, kind);                                                        \
    }                                                                                                           \
    static void name##_row_full(const void *p, const int8_t *a, int32_t s1, const int8_t *b, int32_t s2,        \
                                int8_t *out, int32_t n)                                                         \
    {                                                                                                           \
        tp_add_row_body((const tp_add_ctx *)p, a, s1, b, s2, out, n, kind, 1);                                  \
    }                                                                                                           \
    static void name##_row_clamped(const void *p, const int8_t *a, int32_t s1, const int8_t *b, int32_t s2,     \
                                   int8_t *out, int32_t n)                                                      \
    {                                                                                                           \
        tp_add_row_body((const tp_add_ctx *)p, a, s1, b, s2, out, n, kind, 0);                                  \
    }

TP_ADD_ROWS(tp_add, TP_EW_ADD)
TP_ADD_ROWS(tp_sub, TP_EW_SUB)
TP_ADD_ROWS(tp_squared_difference, TP_EW_SQUARED_DIFFERENCE)

static int tp_add_input_fast(int32_t offset, int32_t shift)
{
    return offset >= -127 && offset <= 128 && shift >= -31 && shift <= 0;
}

static void tp_add_input_make(tp_add_input *in, int32_t offset, int32_t multiplier, int32_t shift, int32_t lsh)
{
    in->offset = (int32_t)((uint32_t)offset << lsh);
    in->mult = multiplier;
    in->rsh = -shift;
    in->neg = shift < 0 ? -1 : 0;
    in->round = shift < 0 ? (int32_t)(UINT32_C(1) << (in->rsh - 1)) : 0;
}

/* Prepares the call's constants; returns whether the fast rows are exact for it. */
static int tp_add_prepare(const tp_add_params *params, int kind, tp_add_ctx *c)
{
    c->params = params;
    const int32_t max_left = kind == TP_EW_SQUARED_DIFFERENCE ? 7 : 20;
    if (params->rounding != TP_ROUND_DOUBLE || params->left_shift < 0 || params->left_shift > max_left ||
        !tp_add_input_fast(params->input1_offset, params->input1_shift) ||
        !tp_add_input_fast(params->input2_offset, params->input2_shift) || params->output_shift > -1 ||
        params->output_shift < -31) {
        return 0;
    }
    c->lsh = params->left_shift + 1;
    tp_add_input_make(&c->in1, params->input1_offset, params->input1_multiplier, params->input1_shift, c->lsh);
    tp_add_input_make(&c->in2, params->input2_offset, params->input2_multiplier, params->input2_shift, c->lsh);
    c->out = tp_rq_right_make(params->output_multiplier, params->output_shift);
    c->output_offset = params->output_offset;
    c->act_min = params->activation.min;
    c->act_max = params->activation.max;
    return 1;
}

static tp_ew_row_fn tp_add_pick(const tp_add_ctx *c, int fast, tp_ew_row_fn ref, tp_ew_row_fn full,
                                tp_ew_row_fn clamped)
{
    if (!fast) {
        return ref;
    }
    return c->act_min <= INT8_MIN && c->act_max >= INT8_MAX ? full : clamped;
}

tp_status tp_elementwise_add_s8(const tp_add_params *params, const tp_ew_shape *shape, const int8_t *input1,
                                const int8_t *input2, int8_t *output)
{
    tp_add_ctx c;
    const int fast = tp_add_prepare(params, TP_EW_ADD, &c);
    return tp_elementwise_broadcast_s8(shape, &c, tp_add_pick(&c, fast, tp_add_row_ref, tp_add_row_full,
                                                               tp_add_row_clamped),
                                       input1, input2, output);
}

tp_status tp_elementwise_sub_s8(const tp_add_params *params, const tp_ew_shape *shape, const int8_t *input1,
                                const int8_t *input2, int8_t *output)
{
    tp_add_ctx c;
    const int fast = tp_add_prepare(params, TP_EW_SUB, &c);
    return tp_elementwise_broadcast_s8(shape, &c, tp_add_pick(&c, fast, tp_sub_row_ref, tp_sub_row_full,
                                                               tp_sub_row_clamped),
                                       input1, input2, output);
}

tp_status tp_elementwise_squared_difference_s8(const tp_add_params *params, const tp_ew_shape *shape,
                                               const int8_t *input1, const int8_t *input2, int8_t *output)
{
    tp_add_ctx c;
    const int fast = tp_add_prepare(params, TP_EW_SQUARED_DIFFERENCE, &c);
    return tp_elementwise_broadcast_s8(shape, &c, tp_add_pick(&c, fast, tp_squared_difference_row_ref,
                                                               tp_squared_difference_row_full,
                                                               tp_squared_difference_row_clamped),
                                       input1, input2, output);
}
