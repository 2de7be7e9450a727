#ifndef TP_RUNTIME_H
#define TP_RUNTIME_H

#include <stdint.h>

/* zlib-compatible CRC-32; start with crc = 0. */
uint32_t tp_crc32_update(uint32_t crc, const uint8_t *data, uint32_t len);

/* Serve the protocol forever (returns only through TP_CMD_EXIT). */
void tp_runtime_serve(void);

/* Peak stack use in bytes, from the painted stack region. */
uint32_t tp_stack_peak_bytes(void);

#endif /* TP_RUNTIME_H */
