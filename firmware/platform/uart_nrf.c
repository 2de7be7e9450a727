/* Nordic nRF51 / nRF52 UART (the legacy, non-DMA register interface; on the nRF52840
 * it shares the peripheral with UARTE0). Pins come from board_config.h. */
#include "board_config.h"
#include "tp_port.h"

#define REG(off) (*(volatile uint32_t *)(TP_UART_BASE + (off)))
#define TASKS_STARTRX REG(0x000)
#define TASKS_STARTTX REG(0x008)
#define EVENTS_RXDRDY REG(0x108)
#define EVENTS_TXDRDY REG(0x11C)
#define ENABLE REG(0x500)
#define PSELTXD REG(0x50C)
#define PSELRXD REG(0x514)
#define RXD REG(0x518)
#define TXD REG(0x51C)
#define BAUDRATE REG(0x524)

#define TP_NRF_BAUD_115200 0x01D7E000u

void tp_port_init(void)
{
    PSELTXD = TP_UART_TX_PIN;
    PSELRXD = TP_UART_RX_PIN;
    BAUDRATE = TP_NRF_BAUD_115200;
    ENABLE = 4u;
    EVENTS_RXDRDY = 0;
    EVENTS_TXDRDY = 0;
    TASKS_STARTTX = 1u;
    TASKS_STARTRX = 1u;
}

void tp_uart_putc(uint8_t c)
{
    EVENTS_TXDRDY = 0;
    TXD = c;
    while (EVENTS_TXDRDY == 0) {
    }
}

int tp_uart_getc(void)
{
    if (EVENTS_RXDRDY) {
        EVENTS_RXDRDY = 0;
        return (int)(RXD & 0xFFu);
    }
    return -1;
}
