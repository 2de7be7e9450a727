/* FULLY_CONNECTED int8, DSP extension: four output channels share each loaded input
 * word; SXTAB16 adds the input offset while widening, SMLAD does two MACs. Single rounding
 * (TFLite's FULLY_CONNECTED) takes SMMUL/SMMULR instead of a 64-bit shift. One loop for every
 * variant; double rounding requantizes by tp_requant_double_bounded for TP_VARIANT_FAST (the
 * code generator proved its accumulators in range) and exactly for any accumulator otherwise. */
#include "tp_dsp_optimize.h" /* first: see there */
#include "tp_nn.h"
#include "tp_dsp_support.h"
#include "tp_dsp_buffer_sizes.h"

int32_t tp_fully_connected_s8_get_buffer_size(const tp_dims *filter_dims)
{
    return tp_dsp_fully_connected_s8_get_buffer_size(filter_dims);
}

/* acc[0..3] += rows w, w + depth, w + 2 depth, w + 3 depth . (x + offset), depth / 4 words.
 * One input word, widened once (2 SXTAB16), feeds four channels: per 16 MACs 5 loads,
 * 10 unpacks, 8 SMLADs. Assembly: 14 registers are live, which GCC 12 spills. */
TP_ASM_LEAF void row_4ch(const int8_t *x, const int8_t *w, int32_t depth, uint32_t off2, int32_t acc[4])
{
    int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
    const int8_t *w2 = w + 2 * depth;
    const int8_t *end = x + (depth & ~3);
    const int8_t *stop = x + depth;
    uint32_t v, x02, x13, t;
    if (x < end) {
        __asm__ volatile(
            "1:\n\t"
            "ldr     %[t], [%[x]], #4\n\t"
            "sxtab16 %[x02], %[o2], %[t]\n\t"
            "sxtab16 %[x13], %[o2], %[t], ror #8\n\t"
            "ldr     %[v], [%[w], %[d]]\n\t"
            "sxtb16  %[t], %[v]\n\t"
            "smlad   %[s1], %[x02], %[t], %[s1]\n\t"
            "sxtb16  %[t], %[v], ror #8\n\t"
            "smlad   %[s1], %[x13], %[t], %[s1]\n\t"
            "ldr     %[v], [%[w]], #4\n\t"
            "sxtb16  %[t], %[v]\n\t"
            "smlad   %[s0], %[x02], %[t], %[s0]\n\t"
            "sxtb16  %[t], %[v], ror #8\n\t"
            "smlad   %[s0], %[x13], %[t], %[s0]\n\t"
            "ldr     %[v], [%[w2], %[d]]\n\t"
            "sxtb16  %[t], %[v]\n\t"
            "smlad   %[s3], %[x02], %[t], %[s3]\n\t"
            "sxtb16  %[t], %[v], ror #8\n\t"
            "smlad   %[s3], %[x13], %[t], %[s3]\n\t"
            "ldr     %[v], [%[w2]], #4\n\t"
            "sxtb16  %[t], %[v]\n\t"
            "smlad   %[s2], %[x02], %[t], %[s2]\n\t"
            "sxtb16  %[t], %[v], ror #8\n\t"
            "smlad   %[s2], %[x13], %[t], %[s2]\n\t"
            "cmp     %[x], %[end]\n\t"
            "blo     1b\n\t"
            : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [x] "+r"(x), [w] "+r"(w), [w2] "+r"(w2),
              [v] "=&r"(v), [x02] "=&r"(x02), [x13] "=&r"(x13), [t] "=&r"(t)
            : [d] "r"(depth), [o2] "r"(off2), [end] "r"(end)
            : "memory", "cc");
    }
    for (int32_t k = 0; k < stop - x; k++) {
        const int32_t xv = x[k] + (int16_t)off2;
        s0 += w[k] * xv;
        s1 += w[k + depth] * xv;
        s2 += w2[k] * xv;
        s3 += w2[k + depth] * xv;
    }
    acc[0] = s0, acc[1] = s1, acc[2] = s2, acc[3] = s3;
}

static inline int32_t fc_requant(int32_t acc, int32_t mult, int32_t shift, tp_rounding rounding, int fast_double)
{
    if (rounding == TP_ROUND_SINGLE) {
        return tp_requant_single_fast(acc, mult, shift);
    }
    return fast_double ? tp_requant_double_bounded(acc, mult, shift) : tp_requantize_fast(acc, mult, shift, rounding);
}

static inline uint32_t fc_out(int32_t acc, const int32_t *mult, const int32_t *shift, tp_rounding rounding,
                              int32_t i, int fast_double, int32_t oo, int32_t amin, int32_t amax)
{
    const int full = amin <= -128 && amax >= 127;
    return (uint8_t)tp_clamp_fast(fc_requant(acc, mult[i], shift[i], rounding, fast_double), oo, full, amin, amax);
}

tp_status tp_fully_connected_s8(const tp_context *ctx, const tp_fc_params *params, const tp_quant_params *quant,
                                const tp_dims *input_dims, const int8_t *input, const tp_dims *filter_dims,
                                const int8_t *filter, const tp_dims *bias_dims, const int32_t *bias,
                                const tp_dims *output_dims, int8_t *output)
{
    (void)ctx;
    (void)bias_dims;
    const int32_t depth = filter_dims->c;
    const int32_t out_c = output_dims->c;
    if (input_dims->c != depth || filter_dims->n != out_c || output_dims->n != input_dims->n) {
        return TP_ARG_ERROR;
    }
    const uint32_t off2 = tp_dup16(params->input_offset);
    const int32_t qs = quant->per_channel ? 1 : 0;
    const int32_t *mult = quant->multiplier, *shift = quant->shift;
    const tp_rounding rnd = quant->rounding;
    const int fast_double = params->variant == TP_VARIANT_FAST;
    const int32_t oo = params->output_offset, amin = params->activation.min, amax = params->activation.max;
    for (int32_t r = 0; r < input_dims->n; r++) {
        const int8_t *x = input + (int64_t)r * depth;
        int8_t *out = output + (int64_t)r * out_c;
        int32_t extra = 0; /* asymmetric weights: filter_offset * sum(x + input_offset), same for every channel */
        if (params->filter_offset != 0) {
            for (int32_t k = 0; k < depth; k++) {
                extra += x[k] + params->input_offset;
            }
            extra *= params->filter_offset;
        }
        int32_t o = 0;
        for (; o + 4 <= out_c; o += 4) {
            int32_t acc[4] = {extra, extra, extra, extra};
            if (bias != NULL) {
                acc[0] += bias[o], acc[1] += bias[o + 1], acc[2] += bias[o + 2], acc[3] += bias[o + 3];
            }
            row_4ch(x, filter + (int64_t)o * depth, depth, off2, acc);
            /* all four before one store: an int8 store may alias the parameters */
            const uint32_t word = fc_out(acc[0], mult, shift, rnd, o * qs, fast_double, oo, amin, amax) |
                                  fc_out(acc[1], mult, shift, rnd, (o + 1) * qs, fast_double, oo, amin, amax) << 8 |
                                  fc_out(acc[2], mult, shift, rnd, (o + 2) * qs, fast_double, oo, amin, amax) << 16 |
                                  fc_out(acc[3], mult, shift, rnd, (o + 3) * qs, fast_double, oo, amin, amax) << 24;
            memcpy(out + o, &word, sizeof word);
        }
        for (; o < out_c; o++) {
            const int32_t acc = tp_dot_1x1(filter + (int64_t)o * depth, x, depth, off2,
                                           extra + (bias != NULL ? bias[o] : 0));
            out[o] = (int8_t)fc_out(acc, mult, shift, rnd, o * qs, fast_double, oo, amin, amax);
        }
    }
    return TP_OK;
}
