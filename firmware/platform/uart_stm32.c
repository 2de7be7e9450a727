/* STM32 USART / LPUART at the reset clock, polled. Families (board_config.h):
 * L4 (LPUART1 on port G, which needs VDDIO2), H7 (USART3), F4 (USART2, the older "v1"
 * register layout). Pins and alternate function come from the board TOML. */
#include "board_config.h"
#include "tp_port.h"

#define REG32(addr) (*(volatile uint32_t *)(addr))

#if TP_STM32_L4
#define RCC_BASE 0x40021000u
#define GPIO_BASE(port) (0x48000000u + 0x400u * (port))
#define GPIO_ENABLE() (REG32(RCC_BASE + 0x4Cu) |= (1u << TP_UART_TX_PORT) | (1u << TP_UART_RX_PORT)) /* AHB2ENR */
#define UART_ENABLE() (REG32(RCC_BASE + 0x5Cu) |= 1u)                                                /* APB1ENR2.LPUART1EN */
#define PWR_ENABLE_VDDIO2() do { REG32(RCC_BASE + 0x58u) |= (1u << 28); REG32(0x40007004u) |= (1u << 9); } while (0)
#elif TP_STM32_H7
#define RCC_BASE 0x58024400u
#define GPIO_BASE(port) (0x58020000u + 0x400u * (port))
#define GPIO_ENABLE() (REG32(RCC_BASE + 0xE0u) |= (1u << TP_UART_TX_PORT) | (1u << TP_UART_RX_PORT)) /* AHB4ENR */
#define UART_ENABLE() (REG32(RCC_BASE + 0xE8u) |= (1u << 18))                                        /* APB1LENR.USART3EN */
#define PWR_ENABLE_VDDIO2() do { } while (0)
#elif TP_STM32_F4
#define RCC_BASE 0x40023800u
#define GPIO_BASE(port) (0x40020000u + 0x400u * (port))
#define GPIO_ENABLE() (REG32(RCC_BASE + 0x30u) |= (1u << TP_UART_TX_PORT) | (1u << TP_UART_RX_PORT)) /* AHB1ENR */
#define UART_ENABLE() (REG32(RCC_BASE + 0x40u) |= (1u << 17))                                        /* APB1ENR.USART2EN */
#define PWR_ENABLE_VDDIO2() do { } while (0)
#else
#error "uart_stm32.c: no STM32 family selected in board_config.h"
#endif

#if TP_UART_V1 /* SR/DR/BRR/CR1 */
#define UART_SR REG32(TP_UART_BASE + 0x00u)
#define UART_RDR REG32(TP_UART_BASE + 0x04u)
#define UART_TDR REG32(TP_UART_BASE + 0x04u)
#define UART_BRR REG32(TP_UART_BASE + 0x08u)
#define UART_CR1 REG32(TP_UART_BASE + 0x0Cu)
#define CR1_ENABLE ((1u << 13) | (1u << 3) | (1u << 2)) /* UE | TE | RE */
#else /* CR1/BRR/ISR/ICR/RDR/TDR */
#define UART_CR1 REG32(TP_UART_BASE + 0x00u)
#define UART_BRR REG32(TP_UART_BASE + 0x0Cu)
#define UART_SR REG32(TP_UART_BASE + 0x1Cu)
#define UART_ICR REG32(TP_UART_BASE + 0x20u)
#define UART_RDR REG32(TP_UART_BASE + 0x24u)
#define UART_TDR REG32(TP_UART_BASE + 0x28u)
#define CR1_ENABLE ((1u << 3) | (1u << 2) | 1u) /* TE | RE | UE */
#endif
#define SR_TXE (1u << 7)
#define SR_RXNE (1u << 5)
#define SR_ORE (1u << 3)

static void tp_gpio_af(uint32_t port, uint32_t pin, uint32_t af)
{
    uint32_t base = GPIO_BASE(port);
    REG32(base + 0x00u) = (REG32(base + 0x00u) & ~(3u << (2u * pin))) | (2u << (2u * pin)); /* MODER: AF */
    uint32_t afr = base + (pin < 8u ? 0x20u : 0x24u);
    uint32_t shift = 4u * (pin & 7u);
    REG32(afr) = (REG32(afr) & ~(0xFu << shift)) | (af << shift);
}

void tp_port_init(void)
{
    PWR_ENABLE_VDDIO2();
    GPIO_ENABLE();
    UART_ENABLE();
    (void)REG32(RCC_BASE); /* let the clock enables land before touching the peripherals */
    tp_gpio_af(TP_UART_TX_PORT, TP_UART_TX_PIN, TP_UART_AF);
    tp_gpio_af(TP_UART_RX_PORT, TP_UART_RX_PIN, TP_UART_AF);
#if TP_UART_LPUART
    UART_BRR = (uint32_t)((256ull * TP_CLOCK_HZ + TP_UART_BAUD / 2u) / TP_UART_BAUD);
#else
    UART_BRR = (TP_CLOCK_HZ + TP_UART_BAUD / 2u) / TP_UART_BAUD;
#endif
    UART_CR1 = CR1_ENABLE;
}

void tp_uart_putc(uint8_t c)
{
    while (!(UART_SR & SR_TXE)) {
    }
    UART_TDR = c;
}

int tp_uart_getc(void)
{
    uint32_t sr = UART_SR;
    if (sr & SR_RXNE) {
        return (int)(UART_RDR & 0xFFu);
    }
    if (sr & SR_ORE) { /* an overrun stops reception until cleared; the frame CRC reports the loss */
#if TP_UART_V1
        (void)UART_RDR;
#else
        UART_ICR = SR_ORE;
#endif
    }
    return -1;
}
