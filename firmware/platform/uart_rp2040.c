/* RP2040: crystal clock (12 MHz) for clk_ref/clk_sys/clk_peri, then PL011 UART0 on the
 * pins from board_config.h. No PLL: the board runs at TP_CLOCK_HZ. */
#include "board_config.h"
#include "tp_port.h"

#define REG32(addr) (*(volatile uint32_t *)(addr))
#define CLR_ALIAS 0x3000u

#define RESETS_BASE 0x4000C000u
#define RESET_IO_BANK0 (1u << 5)
#define RESET_PADS_BANK0 (1u << 8)
#define RESET_UART0 (1u << 22)

#define XOSC_BASE 0x40024000u
#define CLOCKS_BASE 0x40008000u
#define IO_BANK0_BASE 0x40014000u

#define UART_DR REG32(TP_UART_BASE + 0x00u)
#define UART_FR REG32(TP_UART_BASE + 0x18u)
#define UART_IBRD REG32(TP_UART_BASE + 0x24u)
#define UART_FBRD REG32(TP_UART_BASE + 0x28u)
#define UART_LCR_H REG32(TP_UART_BASE + 0x2Cu)
#define UART_CR REG32(TP_UART_BASE + 0x30u)

static void tp_clocks_from_xosc(void)
{
    REG32(XOSC_BASE + 0x0Cu) = (TP_CLOCK_HZ / 1000u + 255u) / 256u; /* STARTUP: ~1 ms */
    REG32(XOSC_BASE + 0x00u) = 0xAA0u | (0xFABu << 12);             /* 1-15 MHz, ENABLE */
    while (!(REG32(XOSC_BASE + 0x04u) & (1u << 31))) {              /* STABLE */
    }
    REG32(CLOCKS_BASE + 0x30u) = 2u;                                 /* CLK_REF_CTRL: xosc */
    while (REG32(CLOCKS_BASE + 0x38u) != (1u << 2)) {
    }
    REG32(CLOCKS_BASE + 0x3Cu) = 0u;                                 /* CLK_SYS_CTRL: clk_ref */
    while (REG32(CLOCKS_BASE + 0x44u) != 1u) {
    }
    REG32(CLOCKS_BASE + 0x48u) = (1u << 11);                         /* CLK_PERI_CTRL: enable, clk_sys */
}

void tp_port_init(void)
{
    tp_clocks_from_xosc();
    uint32_t mask = RESET_IO_BANK0 | RESET_PADS_BANK0 | RESET_UART0;
    REG32(RESETS_BASE + CLR_ALIAS) = mask;
    while ((REG32(RESETS_BASE + 0x08u) & mask) != mask) {
    }
    REG32(IO_BANK0_BASE + 0x04u + 8u * TP_UART_TX_PIN) = 2u; /* FUNCSEL: UART */
    REG32(IO_BANK0_BASE + 0x04u + 8u * TP_UART_RX_PIN) = 2u;
    uint32_t div = (8u * TP_CLOCK_HZ) / TP_UART_BAUD; /* 64 x (clk / (16 baud)), rounded below */
    UART_IBRD = div >> 7;
    UART_FBRD = ((div & 0x7Fu) + 1u) / 2u;
    UART_LCR_H = (3u << 5) | (1u << 4); /* 8 bits, FIFOs on */
    UART_CR = (1u << 9) | (1u << 8) | 1u; /* RXE | TXE | UARTEN */
}

void tp_uart_putc(uint8_t c)
{
    while (UART_FR & (1u << 5)) { /* TXFF */
    }
    UART_DR = c;
}

int tp_uart_getc(void)
{
    if (UART_FR & (1u << 4)) { /* RXFE */
        return -1;
    }
    return (int)(UART_DR & 0xFFu);
}
