"""Per-lane mma.sp registers and the instruction emulator built only from them."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyml_prune.ampere import format as fmt
from tinyml_prune.ampere import fragments as fr
from tinyml_prune.errors import ModelError


def _tile():
    # 16x32 int8 tile, row r keeps positions (r % 4, 3) style patterns with recognisable values.
    a = np.zeros((16, 32), np.int8)
    for r in range(16):
        for g in range(8):
            p, q = [(0, 1), (0, 2), (1, 3), (2, 3)][(r + g) % 4]
            a[r, 4 * g + p], a[r, 4 * g + q] = r + 1, g + 1
    return a


def test_lane_registers_by_hand():
    c = fmt.compress(_tile())
    a, e = fr.lane_operands(c, 0, 0, "m16n8k32", selector=0)
    # Lane 5: groupID 1, threadID_in_group 1 -> row 1 (reg 0) and row 9 (reg 1), dense columns 8..15
    # (groups 2 and 3), i.e. four kept values, low byte first.
    assert a.shape == (32, 2)
    assert np.frombuffer(a[5, 0].tobytes(), np.int8).tolist() == [2, 3, 2, 4]
    assert np.frombuffer(a[5, 1].tobytes(), np.int8).tolist() == [10, 3, 10, 4]
    # Selector 0: lanes 4g and 4g+1 hold rows g and g+8 (whole 32-column word each); others 0.
    assert e[4] == c.metadata[1, 0] and e[5] == c.metadata[9, 0]
    assert e[6] == 0 and e[7] == 0
    _, e1 = fr.lane_operands(c, 0, 0, "m16n8k32", selector=1)
    assert e1[6] == c.metadata[1, 0] and e1[7] == c.metadata[9, 0] and e1[4] == 0
    # Row 1 by hand: group g uses pattern (1+g) % 4 -> (0,2)=0x8, (1,3)=0xD, (2,3)=0xE, (0,1)=0x4, repeated;
    # group 0 is the lowest nibble.
    assert c.metadata[1, 0] == 0x4ED84ED8


def test_selector_and_shape_are_checked():
    c = fmt.compress(_tile())
    with pytest.raises(ModelError, match="selector"):
        fr.lane_operands(c, 0, 0, "m16n8k64", selector=1)
    with pytest.raises(ModelError, match="unknown sparse MMA shape"):
        fr.lane_operands(c, 0, 0, "m16n8k16")


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 40), st.integers(1, 100), st.integers(1, 20), st.sampled_from(
    [("m16n8k32", 0), ("m16n8k32", 1), ("m16n8k64", 0)]), st.integers(0, 2**32 - 1))
def test_tiled_mma_sp_equals_dense_product(m, k, n, shape_sel, seed):
    rng = np.random.default_rng(seed)
    w = fmt.prune_2to4(rng.integers(-128, 128, (m, k)).astype(np.int8))
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    out = fr.tiled_gemm(fmt.compress(w), b, *shape_sel)
    assert (out == w.astype(np.int64) @ b.astype(np.int64)).all()
