/* MAXIMUM and MINIMUM int8: the larger (smaller) stored code of the two inputs, as
 * TFLite's reference compares them (no requantization). */
#include <stddef.h>

#include "tp_nn.h"

static void tp_maximum_row(const void *p, const int8_t *a, int32_t step1, const int8_t *b, int32_t step2,
                           int8_t *out, int32_t n)
{
    (void)p;
    for (int32_t i = 0; i < n; i++, a += step1, b += step2) {
        out[i] = *a > *b ? *a : *b;
    }
}

static void tp_minimum_row(const void *p, const int8_t *a, int32_t step1, const int8_t *b, int32_t step2,
                           int8_t *out, int32_t n)
{
    (void)p;
    for (int32_t i = 0; i < n; i++, a += step1, b += step2) {
        out[i] = *a < *b ? *a : *b;
    }
}

tp_status tp_elementwise_maximum_s8(const tp_ew_shape *shape, const int8_t *input1, const int8_t *input2,
                                    int8_t *output)
{
    return tp_elementwise_broadcast_s8(shape, NULL, tp_maximum_row, input1, input2, output);
}

tp_status tp_elementwise_minimum_s8(const tp_ew_shape *shape, const int8_t *input1, const int8_t *input2,
                                    int8_t *output)
{
    return tp_elementwise_broadcast_s8(shape, NULL, tp_minimum_row, input1, input2, output);
}
