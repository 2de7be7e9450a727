/* SysTick on the processor clock, extended to 32 bits by counting wraps.
 * On QEMU with -icount shift=0 one instruction advances guest time by 1 ns, so the
 * tick count converts to executed instructions (1e9 / TP_CLOCK_HZ per tick). */
#include "board_config.h"
#include "tp_port.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_RELOAD 0x00FFFFFFu

static volatile uint32_t tp_systick_wraps;

void SysTick_Handler(void)
{
    tp_systick_wraps++;
}

void tp_timer_init(void)
{
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0;
    SYST_CSR = 0x7u; /* enable, interrupt on wrap, processor clock */
}

uint32_t tp_timer_now(void)
{
    uint32_t hi, lo;
    do { /* re-read if a wrap lands between the two reads */
        hi = tp_systick_wraps;
        lo = SYST_CVR;
    } while (hi != tp_systick_wraps);
    return hi * (SYST_RELOAD + 1u) + (SYST_RELOAD - lo);
}

uint32_t tp_time_ms(void)
{
    /* 64-bit to avoid overflow of ticks * 1000 */
    uint64_t ticks = (uint64_t)tp_systick_wraps * (SYST_RELOAD + 1u) + (SYST_RELOAD - SYST_CVR);
    return (uint32_t)(ticks / (TP_CLOCK_HZ / 1000u));
}
