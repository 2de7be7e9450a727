/* CRC-32 (IEEE 802.3, reflected 0xEDB88320), the same as Python's zlib.crc32.
 * Bitwise: frames are small and a 1 KB table would cost RAM or flash on an M0. */
#include "tp_runtime.h"

uint32_t tp_crc32_update(uint32_t crc, const uint8_t *data, uint32_t len)
{
    crc = ~crc;
    for (uint32_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int b = 0; b < 8; b++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}
