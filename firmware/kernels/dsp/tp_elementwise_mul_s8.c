/* MUL int8, DSP extension: TFLite's integer arithmetic of the reference kernel, in fewer
 * instructions. Four neighbouring elements of each input come in one word; SXTAB16 widens
 * them to int16 pairs with the zero point removed and SMULBB/SMULTT form the four products
 * (|product| <= 255 * 255). An input broadcast along the row (step 0) is widened once per
 * row. The requantization constants are prepared once per call (tp_rq: SMMULR on the
 * doubled product, a rounding right shift), exact for every product when the call uses
 * double rounding and the multiplier's left shift is at most 13 (the shifted product stays
 * below 2^30); other calls take the portable per-element arithmetic. Output may alias an
 * input: each group of four is read before it is written. */
#include "tp_dsp_optimize.h" /* first: see there */
#include "tp_nn.h"
#include "tp_dsp_support.h"

/* The constants of one call, prepared once and handed to every row. */
typedef struct {
    const tp_mul_params *params;
    uint32_t off1x2; /* input 1 offset in both 16-bit lanes */
    uint32_t off2x2;
    tp_rq rq;
    int32_t output_offset;
    int32_t act_min;
    int32_t act_max;
} tp_mul_ctx;

/* The portable arithmetic of the reference kernel (rounding or shifts the fast path does not take). */
static void tp_mul_row_ref(const void *p, const int8_t *a, int32_t step1, const int8_t *b, int32_t step2,
                           int8_t *out, int32_t n)
{
    const tp_mul_params *params = ((const tp_mul_ctx *)p)->params;
    for (int32_t i = 0; i < n; i++, a += step1, b += step2) {
        const int32_t prod = ((int32_t)*a + params->input1_offset) * ((int32_t)*b + params->input2_offset);
        const int32_t v = tp_requantize(prod, params->output_multiplier, params->output_shift, params->rounding);
        out[i] = tp_clamp_s8(v + params->output_offset, &params->activation);
    }
}

/* The products of the bottom (top) int16 lanes: SMULBB (SMULTT). */
static inline int32_t tp_mul_bb(uint32_t a, uint32_t b)
{
    return (int32_t)(int16_t)(a & 0xFFFFu) * (int16_t)(b & 0xFFFFu);
}

static inline int32_t tp_mul_tt(uint32_t a, uint32_t b)
{
    return ((int32_t)a >> 16) * ((int32_t)b >> 16);
}

static inline __attribute__((always_inline)) int8_t tp_mul_finish(int32_t prod, const tp_mul_ctx *c, int full)
{
    return (int8_t)tp_clamp_fast(tp_rq_apply(prod, &c->rq), c->output_offset, full, c->act_min, c->act_max);
}

/* One row; `full` (the activation range is all of int8) is a constant in each caller below. */
static inline __attribute__((always_inline)) void tp_mul_row_body(const tp_mul_ctx *c, const int8_t *a,
                                                                  int32_t step1, const int8_t *b, int32_t step2,
                                                                  int8_t *out, int32_t n, int full)
{
    int32_t i = 0;
    if ((step1 | step2) == 1 && n >= 4) {
        /* Steps (1, 1), (1, 0) or (0, 1): a broadcast input is one value for the whole row. */
        uint32_t a02 = 0, a13 = 0, b02 = 0, b13 = 0;
        if (step1 == 0) {
            a02 = a13 = tp_dup16((int32_t)*a + c->params->input1_offset);
        }
        if (step2 == 0) {
            b02 = b13 = tp_dup16((int32_t)*b + c->params->input2_offset);
        }
        for (; i + 4 <= n; i += 4) {
            if (step1) {
                const uint32_t v = tp_read_s8x4(a + i);
                a02 = __sxtab16(c->off1x2, v);
                a13 = tp_sxtab16_hi(c->off1x2, v);
            }
            if (step2) {
                const uint32_t v = tp_read_s8x4(b + i);
                b02 = __sxtab16(c->off2x2, v);
                b13 = tp_sxtab16_hi(c->off2x2, v);
            }
            const int32_t p0 = tp_mul_bb(a02, b02), p1 = tp_mul_bb(a13, b13);
            const int32_t p2 = tp_mul_tt(a02, b02), p3 = tp_mul_tt(a13, b13);
            out[i] = tp_mul_finish(p0, c, full);
            out[i + 1] = tp_mul_finish(p1, c, full);
            out[i + 2] = tp_mul_finish(p2, c, full);
            out[i + 3] = tp_mul_finish(p3, c, full);
        }
    }
    a += i * step1;
    b += i * step2;
    for (; i < n; i++, a += step1, b += step2) {
        const int32_t prod = ((int32_t)*a + c->params->input1_offset) * ((int32_t)*b + c->params->input2_offset);
        out[i] = tp_mul_finish(prod, c, full);
    }
}

static void tp_mul_row_full(const void *p, const int8_t *a, int32_t step1, const int8_t *b, int32_t step2,
                            int8_t *out, int32_t n)
{
    tp_mul_row_body((const tp_mul_ctx *)p, a, step1, b, step2, out, n, 1);
}

static void tp_mul_row_clamped(const void *p, const int8_t *a, int32_t step1, const int8_t *b, int32_t step2,
                               int8_t *out, int32_t n)
{
    tp_mul_row_body((const tp_mul_ctx *)p, a, step1, b, step2, out, n, 0);
}

tp_status tp_elementwise_mul_s8(const tp_mul_params *params, const tp_ew_shape *shape, const int8_t *input1,
                                const int8_t *input2, int8_t *output)
{
    tp_mul_ctx c;
    c.params = params;
    c.off1x2 = tp_dup16(params->input1_offset);
    c.off2x2 = tp_dup16(params->input2_offset);
    c.rq = tp_rq_make(params->output_multiplier, params->output_shift);
    c.output_offset = params->output_offset;
    c.act_min = params->activation.min;
    c.act_max = params->activation.max;
    /* Inputs plus offsets within [-255, 255] (int8 zero points) keep the int16 lanes exact. */
    const int fast = params->rounding == TP_ROUND_DOUBLE && params->output_shift <= 13 &&
                     params->output_shift >= -31 && params->input1_offset >= -127 && params->input1_offset <= 128 &&
                     params->input2_offset >= -127 && params->input2_offset <= 128;
    const int full = c.act_min <= INT8_MIN && c.act_max >= INT8_MAX;
    const tp_ew_row_fn row = !fast ? tp_mul_row_ref : full ? tp_mul_row_full : tp_mul_row_clamped;
    return tp_elementwise_broadcast_s8(shape, &c, row, input1, input2, output);
}
