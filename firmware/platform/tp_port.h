/* The one port header: everything the runtime needs from a board.
 * Each board build links exactly one UART driver, one timer and the common startup;
 * board_config.h (generated from the board TOML) supplies the addresses and clock. */
#ifndef TP_PORT_H
#define TP_PORT_H

#include <stdint.h>

/* Clocks, pins and the UART; called once from main() before anything else. */
void tp_port_init(void);

/* Blocking write of one byte. */
void tp_uart_putc(uint8_t c);
/* Non-blocking read: returns the byte (0..255) or -1 when nothing has arrived. */
int tp_uart_getc(void);

/* Free-running 32-bit tick counter for measurements (cycles, or SysTick ticks). */
void tp_timer_init(void);
uint32_t tp_timer_now(void);
/* Milliseconds since tp_timer_init (for protocol time-outs); wraps after 49 days. */
uint32_t tp_time_ms(void);

/* Leave the program: semihosting SYS_EXIT on QEMU; on hardware, spin forever. */
void tp_port_exit(int code) __attribute__((noreturn));

/* Stack painting (startup code): bounds of the stack region and the paint byte. */
#define TP_STACK_PAINT 0xA5A5A5A5u
extern uint32_t __stack_bottom[];
extern uint32_t __stack_top[];

#endif /* TP_PORT_H */
