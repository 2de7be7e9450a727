/* Arm CMSDK APB UART (MPS2 / MPS3 FPGA images, as modelled by QEMU). */
#include "board_config.h"
#include "tp_port.h"

typedef struct {
    volatile uint32_t data;
    volatile uint32_t state; /* bit0 TX full, bit1 RX full */
    volatile uint32_t ctrl; /* bit0 TX enable, bit1 RX enable */
    volatile uint32_t intstatus;
    volatile uint32_t bauddiv;
} tp_cmsdk_uart_t;

#define UART ((tp_cmsdk_uart_t *)TP_UART_BASE)

void tp_port_init(void)
{
    UART->bauddiv = TP_CLOCK_HZ / TP_UART_BAUD;
    /* TX must be enabled before the first byte, or polled output hangs. */
    UART->ctrl = 0x3u;
}

void tp_uart_putc(uint8_t c)
{
    while (UART->state & 1u) {
    }
    UART->data = c;
}

int tp_uart_getc(void)
{
    if (UART->state & 2u) {
        return (int)(UART->data & 0xFFu);
    }
    return -1;
}
