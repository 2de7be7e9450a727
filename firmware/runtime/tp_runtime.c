/* The protocol server: receive a frame, dispatch, reply; resynchronise on any error.
 * Fixed buffers sized from model.h; nothing is written past TP_MAX_PAYLOAD. */
#include <stdint.h>
#include <string.h>

#include "board_config.h"
#include "model.h"
#include "tp_port.h"
#include "tp_protocol.h"
#include "tp_runtime.h"

#define TP_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TP_INFO_BYTES 256u
#define TP_RUN_REPLY_BYTES (8u + TP_MODEL_OUTPUT_SIZE)
#ifdef TP_PROFILE_LAYERS
/* Timestamp slots: two calibration marks, the start of the run, then one per layer (the
 * generated model marks every layer but the last; on real boards tp_run marks the return). */
#define TP_LAYER_SLOTS (TP_MODEL_LAYERS + 3u)
#define TP_LAYERS_REPLY_BYTES (8u + 4u * TP_LAYER_SLOTS)
#else
#define TP_LAYERS_REPLY_BYTES 0u
#endif
#define TP_MAX_PAYLOAD \
    TP_MAX(TP_MAX(TP_MAX(TP_MODEL_INPUT_SIZE, TP_RUN_REPLY_BYTES), TP_INFO_BYTES), TP_LAYERS_REPLY_BYTES)

#ifndef TP_FRAME_TIMEOUT_MS
#define TP_FRAME_TIMEOUT_MS 50u
#endif

/* The static RAM the image itself uses (data + bss), from the linker script. */
extern uint32_t __data_start[], __data_end[], __bss_start[], __bss_end[];

#ifdef TP_MODEL_IO_IN_ARENA
/* The model's inputs and outputs live in its arena: a RUN payload is received straight into
 * the input tensors and the reply is sent straight from the output tensors, so the protocol
 * needs only small buffers for the other commands. */
#define TP_RX_BYTES 256u
#define TP_TX_BYTES TP_MAX(TP_MAX(TP_INFO_BYTES, 20u), TP_LAYERS_REPLY_BYTES)
#else
#define TP_RX_BYTES TP_MAX_PAYLOAD
#define TP_TX_BYTES TP_MAX_PAYLOAD
static int8_t tp_output[TP_MODEL_OUTPUT_SIZE];
#endif

static uint8_t tp_rx[TP_RX_BYTES];
static uint8_t tp_tx[TP_TX_BYTES];

static void tp_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* One frame whose payload is the concatenation of `parts` pieces. */
static void tp_send_parts(uint8_t cmd, uint8_t seq, const uint8_t *const *payloads, const uint32_t *lens,
                          uint32_t parts)
{
    uint32_t len = 0;
    for (uint32_t p = 0; p < parts; p++) {
        len += lens[p];
    }
    uint8_t head[TP_HEADER_BYTES] = {TP_MAGIC0, TP_MAGIC1, cmd, seq, (uint8_t)len, (uint8_t)(len >> 8)};
    uint8_t tail[TP_CRC_BYTES];
    uint32_t crc = tp_crc32_update(0, head + 2, TP_HEADER_BYTES - 2);
    for (uint32_t p = 0; p < parts; p++) {
        crc = tp_crc32_update(crc, payloads[p], lens[p]);
    }
    tp_put_u32(tail, crc);
    for (uint32_t i = 0; i < TP_HEADER_BYTES; i++) {
        tp_uart_putc(head[i]);
    }
    for (uint32_t p = 0; p < parts; p++) {
        for (uint32_t i = 0; i < lens[p]; i++) {
            tp_uart_putc(payloads[p][i]);
        }
    }
    for (uint32_t i = 0; i < TP_CRC_BYTES; i++) {
        tp_uart_putc(tail[i]);
    }
}

static void tp_send(uint8_t cmd, uint8_t seq, const uint8_t *payload, uint32_t len)
{
    tp_send_parts(cmd, seq, &payload, &len, 1u);
}

static void tp_send_error(uint8_t seq, tp_error_t err)
{
    uint8_t code = (uint8_t)err;
    tp_send(TP_CMD_ERROR | TP_REPLY, seq, &code, 1);
}

/* Next byte, waiting at most TP_FRAME_TIMEOUT_MS; -1 on time-out. */
static int tp_getc_timeout(void)
{
    uint32_t start = tp_time_ms();
    for (;;) {
        int c = tp_uart_getc();
        if (c >= 0) {
            return c;
        }
        if (tp_time_ms() - start > TP_FRAME_TIMEOUT_MS) {
            return -1;
        }
    }
}

static int tp_getc_blocking(void)
{
    int c;
    while ((c = tp_uart_getc()) < 0) {
    }
    return c;
}

static uint32_t tp_append(uint8_t *buf, uint32_t at, const char *s)
{
    uint32_t n = (uint32_t)strlen(s);
    if (at + n > TP_INFO_BYTES) {
        n = TP_INFO_BYTES - at;
    }
    memcpy(buf + at, s, n);
    return at + n;
}

static uint32_t tp_append_u32(uint8_t *buf, uint32_t at, uint32_t v)
{
    char digits[11];
    int i = 10;
    digits[i] = '\0';
    do {
        digits[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u && i > 0);
    return tp_append(buf, at, digits + i);
}

static uint32_t tp_info(uint8_t *out)
{
    uint32_t n = 0;
    n = tp_append(out, n, "proto=");
    n = tp_append_u32(out, n, TP_PROTOCOL_VERSION);
    n = tp_append(out, n, ";board=" TP_BOARD_NAME ";core=" TP_CORE_NAME ";timer=" TP_TIMER_KIND ";clock=");
    n = tp_append_u32(out, n, TP_CLOCK_HZ);
    n = tp_append(out, n, ";in=");
    n = tp_append_u32(out, n, TP_MODEL_INPUT_SIZE);
    n = tp_append(out, n, ";out=");
    n = tp_append_u32(out, n, TP_MODEL_OUTPUT_SIZE);
    n = tp_append(out, n, ";arena=");
    n = tp_append_u32(out, n, TP_MODEL_ARENA_SIZE);
    n = tp_append(out, n, ";max_payload=");
    n = tp_append_u32(out, n, TP_MAX_PAYLOAD);
    n = tp_append(out, n, ";rx_max="); /* the longest payload of a command other than RUN */
    n = tp_append_u32(out, n, TP_RX_BYTES);
    n = tp_append(out, n, ";sha256=");
    n = tp_append(out, n, tp_model_sha256);
#ifdef TP_PROFILE_LAYERS
    n = tp_append(out, n, ";layers=");
    n = tp_append_u32(out, n, TP_MODEL_LAYERS);
#endif
    return n;
}

uint32_t tp_stack_peak_bytes(void)
{
    const uint32_t *p = __stack_bottom;
    while (p < __stack_top && *p == TP_STACK_PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

/* Markers around the measured region for the host's exact instruction counter (a QEMU TCG
 * plugin watching their addresses, boards/qemu_plugin). noipa + distinct bodies keep GCC
 * from inlining them or folding the two into one address. */
static volatile uint32_t tp_mark_state;
__attribute__((noinline, noipa, used)) void tp_mark_begin(void)
{
    tp_mark_state = 1u;
}
__attribute__((noinline, noipa, used)) void tp_mark_end(void)
{
    tp_mark_state = 2u;
}

#ifdef TP_PROFILE_LAYERS
/* Per-layer profiling: the generated model executes `bl tp_mark_layer` after every layer
 * (model.h). The marker stores the counter register into the next slot and preserves every
 * register but the flags, so the mark costs one instruction in the caller and does not
 * change how GCC allocates registers in tp_model_run. It is a leaf, so on QEMU the
 * instruction counter leaves its body out entirely; on real boards a mark's own cycles are
 * measured by two marks in a row (slots 0 and 1) and subtracted on the host. DWT CYCCNT
 * counts up over 32 bits; SysTick's current value counts down over 24 bits (reload
 * 0xFFFFFF) and is negated into an up-count. ARMv6-M instructions only (M0/M0+ too). */
#if TP_TIMER_DWT
#define TP_LAYER_CLOCK_ASM "ldr r2, =0xE0001004\n ldr r2, [r2]\n"
#define TP_LAYER_CLOCK_BITS 32u
#else
#define TP_LAYER_CLOCK_ASM "ldr r2, =0xE000E018\n ldr r2, [r2]\n negs r2, r2\n ldr r3, =0x00FFFFFF\n ands r2, r3\n"
#define TP_LAYER_CLOCK_BITS 24u
#endif
/* Referenced from the marker's assembly, hence not static. */
uint32_t tp_layer_ticks[TP_LAYER_SLOTS];
uint32_t tp_layer_next;
const uint32_t tp_layer_slots = TP_LAYER_SLOTS;

__attribute__((naked, noinline, used)) void tp_mark_layer(void)
{
    __asm volatile(
        ".syntax unified\n" /* GCC hands Thumb-1 (M0) inline assembly over in divided syntax */
        "push {r0, r1, r2, r3}\n"
        TP_LAYER_CLOCK_ASM
        "ldr r0, =tp_layer_next\n"
        "ldr r1, [r0]\n"
        "ldr r3, =tp_layer_slots\n"
        "ldr r3, [r3]\n"
        "cmp r1, r3\n"
        "bhs 1f\n"
        "ldr r3, =tp_layer_ticks\n"
        "lsls r1, r1, #2\n"
        "str r2, [r3, r1]\n"
        "lsrs r1, r1, #2\n"
        "adds r1, r1, #1\n"
        "str r1, [r0]\n"
        "1:\n"
        "pop {r0, r1, r2, r3}\n"
        "bx lr\n"
        ".ltorg\n");
}

static uint32_t tp_layers(uint8_t *out)
{
    tp_put_u32(out, TP_LAYER_SLOTS);
    tp_put_u32(out + 4, TP_LAYER_CLOCK_BITS);
    for (uint32_t i = 0; i < TP_LAYER_SLOTS; i++) {
        tp_put_u32(out + 8 + 4 * i, tp_layer_ticks[i]);
    }
    return TP_LAYERS_REPLY_BYTES;
}
#endif

/* Runs the model on the input already received; returns the reply's 8-byte head (status,
 * ticks) in `out`, the outputs follow from tp_output or the arena. */
static void tp_run(uint8_t *out)
{
#ifdef TP_PROFILE_LAYERS
    tp_layer_next = 0u;
    __asm volatile("" ::: "memory"); /* the reset lands before the first mark */
    TP_LAYER_MARK(-3); /* calibration: two marks in a row differ by one mark's own cost */
    TP_LAYER_MARK(-2);
    TP_LAYER_MARK(-1); /* the start of the run */
#endif
    uint32_t t0 = tp_timer_now();
    tp_mark_begin();
#ifdef TP_MODEL_IO_IN_ARENA
    int status = tp_model_invoke();
#else
    /* The input is consumed straight from the receive buffer. */
    int status = tp_model_run((const int8_t *)tp_rx, tp_output);
#endif
#if defined(TP_PROFILE_LAYERS) && !TP_EMULATED
    /* The last layer ends with the model's return. (QEMU's counter ends it at tp_mark_end
     * instead: a mark here changes how GCC schedules this function around the region.) */
    TP_LAYER_MARK(TP_MODEL_LAYERS - 1);
#endif
    tp_mark_end();
    uint32_t ticks = tp_timer_now() - t0;
    tp_put_u32(out, (uint32_t)status);
    tp_put_u32(out + 4, ticks);
}

static void tp_send_run_reply(uint8_t reply, uint8_t seq, const uint8_t *head)
{
#ifdef TP_MODEL_IO_IN_ARENA
    const uint8_t *payloads[1u + TP_MODEL_OUTPUTS];
    uint32_t lens[1u + TP_MODEL_OUTPUTS];
    payloads[0] = head;
    lens[0] = 8u;
    for (uint32_t k = 0; k < TP_MODEL_OUTPUTS; k++) {
        payloads[1u + k] = (const uint8_t *)tp_model_output_ptrs[k];
        lens[1u + k] = (uint32_t)tp_model_outputs[k].size;
    }
    tp_send_parts(reply, seq, payloads, lens, 1u + TP_MODEL_OUTPUTS);
#else
    const uint8_t *payloads[2] = {head, (const uint8_t *)tp_output};
    const uint32_t lens[2] = {8u, TP_MODEL_OUTPUT_SIZE};
    tp_send_parts(reply, seq, payloads, lens, 2u);
#endif
}

/* Where payload byte i of a frame goes: a RUN's into the model's input tensors (when they
 * live in the arena), anything else into tp_rx. Bytes past the destination are dropped; the
 * length is checked once the frame is complete. */
static void tp_store(uint8_t cmd, uint32_t i, uint8_t c)
{
#ifdef TP_MODEL_IO_IN_ARENA
    if (cmd == TP_CMD_RUN) {
        for (uint32_t k = 0; k < TP_MODEL_INPUTS; k++) {
            const uint32_t off = (uint32_t)tp_model_inputs[k].offset;
            if (i >= off && i < off + (uint32_t)tp_model_inputs[k].size) {
                tp_model_input_ptrs[k][i - off] = (int8_t)c;
                return;
            }
        }
        return;
    }
#else
    (void)cmd;
#endif
    if (i < TP_RX_BYTES) {
        tp_rx[i] = c;
    }
}

static uint32_t tp_memory(uint8_t *out)
{
    uint32_t static_ram = (uint32_t)((uintptr_t)__data_end - (uintptr_t)__data_start) +
                          (uint32_t)((uintptr_t)__bss_end - (uintptr_t)__bss_start);
    tp_put_u32(out, tp_stack_peak_bytes());
    tp_put_u32(out + 4, (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_bottom));
    tp_put_u32(out + 8, TP_MODEL_ARENA_SIZE);
    tp_put_u32(out + 12, static_ram);
    /* The protocol's own buffers, part of static_ram (TFLM's RAM figure has no such part). */
    tp_put_u32(out + 16, (uint32_t)(sizeof tp_rx + sizeof tp_tx
#ifndef TP_MODEL_IO_IN_ARENA
                                    + sizeof tp_output
#endif
                                    ));
    return 20;
}

/* Receive one frame into tp_rx. Returns 1 with cmd/seq/len set, or 0 after having sent
 * an error reply (or on a time-out before any header byte): the caller just loops. */
static int tp_receive(uint8_t *cmd, uint8_t *seq, uint32_t *len)
{
    uint8_t head[TP_HEADER_BYTES - 2];
    uint8_t tail[TP_CRC_BYTES];

    /* Hunt for the magic; anything else is line noise and is dropped. */
    if (tp_getc_blocking() != TP_MAGIC0) {
        return 0;
    }
    int c = tp_getc_timeout();
    if (c != TP_MAGIC1) {
        return 0;
    }
    for (uint32_t i = 0; i < sizeof head; i++) {
        c = tp_getc_timeout();
        if (c < 0) {
            tp_send_error(i > 1 ? head[1] : 0, TP_ERR_TIMEOUT);
            return 0;
        }
        head[i] = (uint8_t)c;
    }
    *cmd = head[0];
    *seq = head[1];
    *len = (uint32_t)head[2] | ((uint32_t)head[3] << 8);
    if (*len > TP_MAX_PAYLOAD || (*cmd != TP_CMD_RUN && *len > TP_RX_BYTES)) {
        /* Do not read the payload: resync from the next magic. */
        tp_send_error(*seq, TP_ERR_TOO_LONG);
        return 0;
    }
    uint32_t got = tp_crc32_update(0, head, sizeof head);
    for (uint32_t i = 0; i < *len; i++) {
        c = tp_getc_timeout();
        if (c < 0) {
            tp_send_error(*seq, TP_ERR_TIMEOUT);
            return 0;
        }
        const uint8_t byte = (uint8_t)c;
        got = tp_crc32_update(got, &byte, 1u);
        tp_store(*cmd, i, byte);
    }
    for (uint32_t i = 0; i < TP_CRC_BYTES; i++) {
        c = tp_getc_timeout();
        if (c < 0) {
            tp_send_error(*seq, TP_ERR_TIMEOUT);
            return 0;
        }
        tail[i] = (uint8_t)c;
    }
    uint32_t want = (uint32_t)tail[0] | ((uint32_t)tail[1] << 8) | ((uint32_t)tail[2] << 16) | ((uint32_t)tail[3] << 24);
    if (want != got) {
        tp_send_error(*seq, TP_ERR_CRC);
        return 0;
    }
    return 1;
}

void tp_runtime_serve(void)
{
    for (;;) {
        uint8_t cmd, seq;
        uint32_t len;
        if (!tp_receive(&cmd, &seq, &len)) {
            continue;
        }
        uint8_t reply = (uint8_t)(cmd | TP_REPLY);
        switch (cmd) {
        case TP_CMD_INFO:
            tp_send(reply, seq, tp_tx, tp_info(tp_tx));
            break;
        case TP_CMD_RUN:
            if (len != TP_MODEL_INPUT_SIZE) {
                tp_send_error(seq, TP_ERR_BAD_LENGTH);
                break;
            }
            tp_run(tp_tx);
            tp_send_run_reply(reply, seq, tp_tx);
            break;
        case TP_CMD_MEMORY:
            tp_send(reply, seq, tp_tx, tp_memory(tp_tx));
            break;
        case TP_CMD_ECHO:
            tp_send(reply, seq, tp_rx, len);
            break;
#ifdef TP_PROFILE_LAYERS
        case TP_CMD_LAYERS:
            tp_send(reply, seq, tp_tx, tp_layers(tp_tx));
            break;
#endif
        case TP_CMD_EXIT:
            tp_send(reply, seq, tp_tx, 0);
            tp_port_exit(0);
        default:
            tp_send_error(seq, TP_ERR_UNKNOWN_COMMAND);
            break;
        }
    }
}
