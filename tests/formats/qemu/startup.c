/* Minimal bare-metal start for the kernel test runner: copy .data, clear .bss, enable the
 * FPU (GCC uses FP registers even in integer code), run main, exit through semihosting. */
#include <stdint.h>

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[], __stack_top[];
int main(void);
void Reset_Handler(void);

static void fault(void)
{
    for (;;) {
    }
}

__attribute__((section(".vectors"), used)) void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top, Reset_Handler, fault, fault, fault, fault, fault};

static uint32_t semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void tr_puts(const char *s)
{
    semihost(0x04u, s); /* SYS_WRITE0 */
}

void Reset_Handler(void)
{
    for (uint32_t *s = __data_load, *d = __data_start; d < __data_end;) {
        *d++ = *s++;
    }
    for (uint32_t *d = __bss_start; d < __bss_end;) {
        *d++ = 0;
    }
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: CP10/CP11 full access */
    __asm volatile("dsb\n isb");
    const int rc = main();
    semihost(0x18u, (const void *)(uintptr_t)(rc == 0 ? 0x20026u : 0x20023u)); /* SYS_EXIT */
    fault();
}
