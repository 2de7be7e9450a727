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


def _labelled(m, n):
    # Every element tells its own position: value = 8 * row + column (int8 range for 16x8).
    return (8 * np.arange(m)[:, None] + np.arange(n)[None, :]).astype(np.int32)


def test_b_c_d_and_dense_a_registers_by_hand():
    # Lane 5: g = 1, t = 1.
    b = (np.arange(32)[:, None] * 4 + np.arange(8)[None, :] - 64).astype(np.int8)   # B[k, n] = 4k + n - 64
    bf = fr.b_fragments(b, 32)
    assert bf.shape == (1, 1, 32, 2)
    # b0 = B[k = 4t .. 4t+3][n = g], b1 = B[k = 16 + 4t ..][g]
    assert fr.unpack(bf[0, 0, 5]).tolist() == [[4 * k + 1 - 64 for k in range(4, 8)],
                                                [4 * k + 1 - 64 for k in range(20, 24)]]
    # k64: register q holds k = 16q + 4t .. +3
    b64 = np.concatenate([b, b]).astype(np.int8)
    q = fr.unpack(fr.b_fragments(b64, 64)[0, 0, 5])
    assert q[2].tolist() == b64[36:40, 1].tolist() and q[3].tolist() == b64[52:56, 1].tolist()
    # C/D: d0, d1 = row g, columns 2t, 2t+1; d2, d3 = row g + 8.
    cf = fr.cd_fragments(_labelled(16, 8))
    assert cf[0, 0, 5].tolist() == [8 * 1 + 2, 8 * 1 + 3, 8 * 9 + 2, 8 * 9 + 3]
    assert (fr.cd_matrix(cf, 16, 8) == _labelled(16, 8)).all()
    # Dense A of mma.sync m16n8k32: a0 = row g cols 4t..4t+3, a1 = row g + 8, a2/a3 = +16 columns.
    w = (np.arange(16)[:, None] * 3 + np.arange(32)[None, :] - 60).astype(np.int8)
    a = fr.unpack(fr.dense_a_fragments(w)[0, 0, 5])
    assert a.tolist() == [w[1, 4:8].tolist(), w[9, 4:8].tolist(), w[1, 20:24].tolist(), w[9, 20:24].tolist()]


def test_padding_rows_carry_valid_metadata():
    c = fmt.compress(fmt.prune_2to4(np.ones((3, 32), np.int8)))
    _, e = fr.sparse_a_fragments(c)
    # rows 3..15 are padding: lanes of selector 0 that hold them carry the valid nibble 0x4 everywhere
    assert e[0, 0, 4 * 3] == fr.VALID_PAD_WORD and e[0, 0, 1] == fr.VALID_PAD_WORD


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 40), st.integers(1, 100), st.integers(1, 20), st.integers(0, 2**32 - 1))
def test_dense_mma_tiles_equal_product(m, k, n, seed):
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, (m, k)).astype(np.int8)
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    c0 = rng.integers(-(1 << 20), 1 << 20, (m, n))
    out = fr.gemm_dense(w, b, c0)
    assert out.dtype == np.int32
    assert (out == w.astype(np.int64) @ b.astype(np.int64) + c0).all()


def test_accumulation_wraps_like_int32():
    # Partial sums leave int32 and come back: the hardware's s32 adder wraps, so the final value
    # is still right; and a final value outside int32 comes out wrapped.
    k = 64
    w = np.zeros((1, k), np.int8)
    w[0, 0], w[0, 32] = 127, -127                      # step 1 adds +127*127*x, step 2 removes it
    w = fmt.prune_2to4(w)
    b = np.zeros((k, 1), np.int8)
    b[0, 0] = b[32, 0] = 127
    start = np.array([[(1 << 31) - 100]])
    exact = int(w.astype(np.int64)[0] @ b.astype(np.int64)[:, 0] + start[0, 0])
    assert exact == (1 << 31) - 100
    assert fr.gemm_sparse(fmt.compress(w), b, start)[0, 0] == exact
    assert fr.gemm_dense(w, b, start)[0, 0] == exact
    w2 = np.zeros((1, 32), np.int8)
    w2[0, 0] = 127
    b2 = np.zeros((32, 1), np.int8)
    b2[0, 0] = 127
    assert fr.gemm_dense(w2, b2, start)[0, 0] == (1 << 31) - 100 + 127 * 127 - (1 << 32)


def test_mma_sp_broadcasts_over_tiles():
    rng = np.random.default_rng(1)
    w = fmt.prune_2to4(rng.integers(-128, 128, (32, 64)).astype(np.int8))
    b = rng.integers(-128, 128, (64, 16)).astype(np.int8)
    a, e, bf, cf = fr.sparse_operands(fmt.compress(w), b)
    d = fr.run_sparse_tiles(a, e, bf, cf)
    # The same tile issued alone, register for register
    one = fr.mma_sp(a[1, 0], e[1, 0], bf[0, 1], cf[1, 1])
    one = fr.mma_sp(a[1, 1], e[1, 1], bf[1, 1], one)
    assert (one == d[1, 1]).all()
