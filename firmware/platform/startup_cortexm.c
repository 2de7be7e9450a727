/* Startup for every Cortex-M board: vector table, .data copy, .bss clear, FPU enable,
 * stack painting, then main(). Symbols come from the generated linker script. */
#include <stdint.h>

#include "board_config.h"
#include "tp_port.h"

extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];
extern int main(void);

void Reset_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));
void HardFault_Handler(void) __attribute__((weak, alias("Default_Handler")));

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)

typedef void (*tp_vector_t)(void);

/* 16 system exceptions; peripheral interrupts are never enabled by this firmware. */
__attribute__((section(".vectors"), used)) const tp_vector_t tp_vectors[16] = {
    (tp_vector_t)(uintptr_t)__stack_top,
    Reset_Handler,
    Default_Handler, /* NMI */
    HardFault_Handler,
    Default_Handler, /* MemManage */
    Default_Handler, /* BusFault */
    Default_Handler, /* UsageFault */
    Default_Handler, /* SecureFault (v8-M) */
    0, 0, 0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMon */
    0,
    Default_Handler, /* PendSV */
    SysTick_Handler,
};

/* Paint from the bottom of the stack up to just below the live frame. Runs before
 * main with only a few words of stack in use. */
static void tp_paint_stack(void)
{
    uint32_t *p = __stack_bottom;
    uint32_t *limit = (uint32_t *)__builtin_frame_address(0) - 16;
    while (p < limit) {
        *p++ = TP_STACK_PAINT;
    }
}

__attribute__((noreturn)) void Reset_Handler(void)
{
#if TP_HAS_FPU
    /* CP10/CP11 full access before any C code: GCC may use FP registers anywhere. */
    SCB_CPACR |= (0xFu << 20);
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
#if TP_HAS_VTOR
    SCB_VTOR = (uint32_t)(uintptr_t)tp_vectors;
#endif
    for (uint32_t *s = __data_load, *d = __data_start; d < __data_end;) {
        *d++ = *s++;
    }
    for (uint32_t *d = __bss_start; d < __bss_end;) {
        *d++ = 0;
    }
    tp_paint_stack();
    main();
    tp_port_exit(0);
}

void Default_Handler(void)
{
    /* An unexpected fault: leave QEMU with a failure code instead of spinning. */
    tp_port_exit(3);
}
