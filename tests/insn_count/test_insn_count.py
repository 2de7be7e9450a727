"""The QEMU instruction-count plugin counts exactly: a loop of known length between markers."""
import pytest

from tinyml_prune.boards.insn_count import InsnCounter

from .bare_metal import build_elf, run_counted

pytestmark = pytest.mark.qemu

PROGRAM = r"""
void reset(void);
__attribute__((section(".vectors"), used)) const void *vectors[2] = {(void *)0x20010000, (void *)reset};
__attribute__((noinline)) void tp_mark_begin(void) { __asm volatile(""); }
__attribute__((noinline)) void tp_mark_end(void) { __asm volatile(""); }
__attribute__((noinline)) static void spin(int n) {
    /* exactly 4 instructions per iteration: nop, subs, cmp, bne */
    __asm volatile("1: nop\n subs %0, %0, #1\n cmp %0, #0\n bne 1b" : "+r"(n) :: "cc");
}
static const volatile int lengths[3]  /* in flash: no .data init here */ = {100, 200, 300};
void reset(void) {
    for (int k = 0; k < 3; k++) { int n = lengths[k]; tp_mark_begin(); spin(n); tp_mark_end(); }
    register int r0 __asm("r0") = 0x18;      /* SYS_EXIT */
    register int r1 __asm("r1") = 0x20026;   /* ADP_Stopped_ApplicationExit */
    __asm volatile("bkpt 0xab" :: "r"(r0), "r"(r1));
    for (;;) {}
}
"""


@pytest.fixture(scope="module")
def elf(tmp_path_factory):
    return build_elf(tmp_path_factory.mktemp("icount"), PROGRAM)


def run(elf, out):
    return run_counted(elf, InsnCounter(elf, out)).counts()


def test_counts_are_exact_and_linear(elf, tmp_path):
    counts = run(elf, tmp_path / "a.txt")
    assert len(counts) == 3
    # Each region adds exactly 4 instructions per extra iteration.
    assert counts[1] - counts[0] == 400 and counts[2] - counts[1] == 400
    # and the fixed part (marker return, call, loop setup, return) is small and constant
    assert 0 < counts[0] - 400 < 16


def test_counts_are_deterministic(elf, tmp_path):
    assert run(elf, tmp_path / "a.txt") == run(elf, tmp_path / "b.txt")
