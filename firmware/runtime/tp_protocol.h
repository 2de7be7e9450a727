/* The framed serial protocol between the host harness and the firmware.
 *
 *   offset 0  magic    2 bytes  'T' 'P'
 *          2  command  1 byte   request code; replies set bit 7 (TP_REPLY)
 *          3  seq      1 byte   echoed in the reply
 *          4  length   2 bytes  little-endian payload length
 *          6  payload  length bytes
 *     6+len   crc32    4 bytes  little-endian CRC-32 (zlib) over command..payload
 *
 * Every request gets exactly one reply. A frame that cannot be served (bad CRC, unknown
 * command, length over TP_MAX_PAYLOAD, a gap between bytes longer than
 * TP_FRAME_TIMEOUT_MS) gets a TP_CMD_ERROR reply whose payload is one tp_error_t byte,
 * and the receiver goes back to hunting for the magic. The host's mirror of this file is
 * tinyml_prune/harness/protocol.py. */
#ifndef TP_PROTOCOL_H
#define TP_PROTOCOL_H

#define TP_MAGIC0 0x54u /* 'T' */
#define TP_MAGIC1 0x50u /* 'P' */
#define TP_HEADER_BYTES 6u
#define TP_CRC_BYTES 4u
#define TP_PROTOCOL_VERSION 1u
#define TP_REPLY 0x80u

typedef enum {
    TP_CMD_INFO = 0x01,   /* -> ASCII "key=value;..." */
    TP_CMD_RUN = 0x02,    /* input tensor -> i32 status, u32 ticks, output tensor */
    TP_CMD_MEMORY = 0x03, /* -> u32 stack_peak, stack_size, arena, static_ram */
    TP_CMD_EXIT = 0x04,   /* -> empty reply, then leave (semihosting on QEMU) */
    TP_CMD_ECHO = 0x05,   /* payload -> the same payload */
    TP_CMD_LAYERS = 0x06, /* -> u32 slots, u32 clock bits, u32 timestamps[slots] of the last run
                           *    (only in -DTP_PROFILE_LAYERS builds; see tp_runtime.c) */
    TP_CMD_ERROR = 0x7F   /* only ever sent by the firmware (with TP_REPLY set) */
} tp_command_t;

typedef enum {
    TP_ERR_CRC = 1,
    TP_ERR_UNKNOWN_COMMAND = 2,
    TP_ERR_TOO_LONG = 3,
    TP_ERR_TIMEOUT = 4,
    TP_ERR_BAD_LENGTH = 5
} tp_error_t;

#endif /* TP_PROTOCOL_H */
