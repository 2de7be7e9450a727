/* Table look-up for int8 -> int8 element-wise operators (activations, requantization).
 *
 * All the arithmetic happened on the host when the table was built; here each value is a
 * load from the 256-entry table. Reading input[i] before writing output[i] makes the
 * in-place call (output == input) safe. */
#include <stddef.h>

#include "tp_nn.h"

tp_status tp_lut_s8(const int8_t *table, const int8_t *input, int8_t *output, int32_t size)
{
    if (table == NULL || input == NULL || output == NULL || size < 0) {
        return TP_ARG_ERROR;
    }
    const int8_t *centre = table + 128; /* centre[x] for x in [-128, 127] */
    for (int32_t i = 0; i < size; i++) {
        output[i] = centre[input[i]];
    }
    return TP_OK;
}
