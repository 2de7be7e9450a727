/* DWT cycle counter (Cortex-M3 and up on real silicon; QEMU does not model it). */
#include "board_config.h"
#include "tp_port.h"

#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)

static uint32_t tp_ms_last_cycles;
static uint32_t tp_ms_count;
static uint32_t tp_ms_rem;

void tp_timer_init(void)
{
    DEMCR |= (1u << 24); /* TRCENA */
    DWT_LAR = 0xC5ACCE55u; /* unlock where the lock exists (M7); ignored elsewhere */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;
    tp_ms_last_cycles = 0;
}

uint32_t tp_timer_now(void)
{
    return DWT_CYCCNT;
}

uint32_t tp_time_ms(void)
{
    /* Accumulate elapsed cycles so the 32-bit counter's wrap does not matter, as long as
     * this is called at least once per wrap (the protocol loop polls it constantly). */
    uint32_t now = DWT_CYCCNT;
    tp_ms_rem += now - tp_ms_last_cycles;
    tp_ms_last_cycles = now;
    tp_ms_count += tp_ms_rem / (TP_CLOCK_HZ / 1000u);
    tp_ms_rem %= (TP_CLOCK_HZ / 1000u);
    return tp_ms_count;
}
