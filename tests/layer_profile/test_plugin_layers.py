"""The plugin's layer marker: running counts at each marker entry, the marker's own body
not counted, so one marker costs exactly its call site."""
import pytest

from tinyml_prune.boards.insn_count import LAYER_SYMBOL, InsnCounter

from insn_count.bare_metal import build_elf, run_counted

pytestmark = pytest.mark.qemu

PROGRAM = r"""
void reset(void);
__attribute__((section(".vectors"), used)) const void *vectors[2] = {(void *)0x20010000, (void *)reset};
__attribute__((noinline)) void tp_mark_begin(void) { __asm volatile(""); }
__attribute__((noinline)) void tp_mark_end(void) { __asm volatile(""); }
static volatile unsigned slots[8];
/* A leaf with a branch and a few instructions: none of them may be counted. */
__attribute__((noinline, noipa)) void tp_mark_layer(int layer) {
    if ((unsigned)layer < 8u) slots[layer] = slots[layer] + 1u;
}
__attribute__((noinline)) static void spin(int n) {
    /* exactly 4 instructions per iteration: nop, subs, cmp, bne */
    __asm volatile("1: nop\n subs %0, %0, #1\n cmp %0, #0\n bne 1b" : "+r"(n) :: "cc");
}
static const volatile int lengths[3] = {100, 200, 300};
void reset(void) {
    for (int k = 0; k < 2; k++) {
        tp_mark_begin();
        spin(lengths[0]); tp_mark_layer(0);
        spin(lengths[1]); tp_mark_layer(1);
        spin(lengths[2]); tp_mark_layer(2);
        tp_mark_end();
    }
    register int r0 __asm("r0") = 0x18;      /* SYS_EXIT */
    register int r1 __asm("r1") = 0x20026;   /* ADP_Stopped_ApplicationExit */
    __asm volatile("bkpt 0xab" :: "r"(r0), "r"(r1));
    for (;;) {}
}
"""


@pytest.fixture(scope="module")
def elf(tmp_path_factory):
    return build_elf(tmp_path_factory.mktemp("layers"), PROGRAM)


def run(elf, out, layers=True):
    return run_counted(elf, InsnCounter(elf, out, layer_symbol=LAYER_SYMBOL if layers else None))


def test_layer_marks_are_exact(elf, tmp_path):
    regions = run(elf, tmp_path / "a.txt").regions()
    assert len(regions) == 2 and regions[0] == regions[1]
    marks, total = regions[0].marks, regions[0].total
    assert len(marks) == 3
    deltas = [marks[0], marks[1] - marks[0], marks[2] - marks[1], total - marks[2]]
    # "layer" k: `ldr r0, [len]; bl spin`, 4n in the loop, spin's `bx lr`, then the marker's
    # call site `movs r0, #k; bl tp_mark_layer` = 4n + 5; the first also holds tp_mark_begin's
    # own `bx lr` (as every whole-region count does). Nothing of tp_mark_layer's body.
    assert deltas[:3] == [1 + 400 + 5, 800 + 5, 1200 + 5]
    # after the last marker only `bl tp_mark_end` remains
    assert deltas[3] == 1


def test_marker_body_is_not_counted(elf, tmp_path):
    """Without the layer marker the same region counts the three marker bodies too."""
    with_layers = run(elf, tmp_path / "a.txt").regions()[0].total
    plain = run(elf, tmp_path / "b.txt", layers=False)
    assert plain.regions()[0].marks == ()
    body = plain.counts()[0] - with_layers
    assert body > 0 and body % 3 == 0


def test_counts_ignore_layer_lines(elf, tmp_path):
    c = run(elf, tmp_path / "a.txt")
    assert c.counts() == [r.total for r in c.regions()]
