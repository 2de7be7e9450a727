"""The 2:4 operand format: hand-worked examples, round trip, clear errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinyml_prune.ampere import format as fmt
from tinyml_prune.errors import ModelError, TinymlError


def test_hipsparselt_storage_example():
    # The 4x4 example of the hipSPARSELt storage-format page (same 2:4 semantics as cuSPARSELt):
    # compressed values row by row and the kept positions of each row.
    a = np.array([[1, 2, 0, 0], [0, 0, 3, 4], [0, 6, 7, 0], [0, 6, 0, 8]], np.int8)
    c = fmt.compress(a)
    assert c.values[:, :2].tolist() == [[1, 2], [3, 4], [6, 7], [6, 8]]
    assert fmt.positions(c.metadata)[:, :2].tolist() == [[0, 1], [2, 3], [1, 2], [1, 3]]
    assert (fmt.decompress(c) == a).all()


@pytest.mark.parametrize("mask, nibble", [
    # One group of four -> its 4-bit metadata (low 2 bits: first kept position, high 2: second);
    # the six valid patterns, as tabulated in PyTorch's CUTLASS conversion for mma.sp.
    ((1, 1, 0, 0), 0b0100), ((1, 0, 1, 0), 0b1000), ((0, 1, 1, 0), 0b1001),
    ((1, 0, 0, 1), 0b1100), ((0, 1, 0, 1), 0b1101), ((0, 0, 1, 1), 0b1110),
])
def test_group_nibbles(mask, nibble):
    row = np.zeros((1, 32), np.int8)
    row[0, :4] = np.array(mask) * 7
    assert fmt.compress(row).metadata[0, 0] & 0xF == nibble


def test_word_packing_by_hand():
    # Row of 32 columns = 8 groups = one 32-bit word, group j in bits 4j..4j+3.
    row = np.zeros((1, 32), np.int8)
    kept = [(0, 1), (2, 3), (0, 3), (1, 2), (0, 2), (1, 3), (0, 1), (2, 3)]
    for g, (p, q) in enumerate(kept):
        row[0, 4 * g + p], row[0, 4 * g + q] = g + 1, -(g + 1)
    c = fmt.compress(row)
    #            g7   g6   g5   g4   g3   g2   g1   g0
    assert c.metadata[0, 0] == 0b1110_0100_1101_1000_1001_1100_1110_0100 == 0xE4D89CE4
    assert c.values[0].tolist() == [v for g in range(8) for v in (g + 1, -(g + 1))]
    assert c.metadata.dtype == np.uint32 and c.values.shape == (1, 16)


def test_fewer_than_two_nonzeros_use_valid_positions():
    row = np.zeros((2, 8), np.int8)
    row[0, 3] = 5                      # one non-zero at position 3 -> positions (0, 3)
    c = fmt.compress(row)
    pos = fmt.positions(c.metadata).reshape(2, -1, 2)
    assert pos[0, 0].tolist() == [0, 3] and pos[1, 0].tolist() == [0, 1]
    nibbles = [(int(w) >> (4 * j)) & 0xF for w in c.metadata.ravel() for j in range(8)]
    assert not set(nibbles) & set(fmt.INVALID_NIBBLES)
    # K=8 is padded to one 32-column word; the padding groups are (0, 1).
    assert c.k_padded == 32 and (fmt.decompress(c) == row).all()


def test_not_2to4_names_tensor_row_and_group():
    w = np.zeros((3, 12), np.int8)
    w[2, 4:7] = [1, 2, 3]
    with pytest.raises(fmt.NotTwoFourError, match=r"conv1 weights is not 2:4 .*row 2 group 1 \(columns 4\.\.7\) has 3"):
        fmt.compress(w, "conv1 weights")
    assert issubclass(fmt.NotTwoFourError, TinymlError)


def test_bad_input_errors():
    with pytest.raises(ModelError, match="2-D"):
        fmt.compress(np.zeros((2, 2, 4), np.int8))
    with pytest.raises(ModelError, match="int8"):
        fmt.compress(np.zeros((2, 4), np.float32))
    c = fmt.compress(np.zeros((1, 4), np.int8))
    broken = fmt.Compressed24(c.values, np.full_like(c.metadata, 0x55555555), c.k)   # invalid 0b0101
    with pytest.raises(ModelError, match="row 0 group 0"):
        fmt.decompress(broken)


matrices = hnp.arrays(np.int8, st.tuples(st.integers(1, 20), st.integers(1, 70)),
                      elements=st.integers(-128, 127))


@settings(max_examples=60, deadline=None)
@given(matrices)
def test_round_trip_equals_masked_dense(w):
    masked = fmt.prune_2to4(w)
    assert fmt.is_2to4(masked)
    assert ((masked == w) | (masked == 0)).all()                    # a mask of w
    c = fmt.compress(masked)
    assert c.values.shape == (w.shape[0], fmt.pad_k(w.shape[1]) // 2)
    assert c.metadata.shape == (w.shape[0], fmt.pad_k(w.shape[1]) // 32)
    assert (fmt.decompress(c) == masked).all()
    # The kept values are exactly the non-zeros (plus stored zeros), in column order.
    assert sorted(c.values[c.values != 0].tolist()) == sorted(masked[masked != 0].tolist())
    nb = c.nbytes()
    assert nb["total"] == nb["values"] + nb["metadata"] and nb["dense"] == w.size


@settings(max_examples=40, deadline=None)
@given(matrices)
def test_prune_keeps_the_two_largest(w):
    masked = fmt.prune_2to4(w)
    k = -(-w.shape[1] // 4) * 4
    full = np.zeros((w.shape[0], k), np.int64)
    full[:, : w.shape[1]] = w
    kept = np.zeros_like(full)
    kept[:, : w.shape[1]] = masked
    g_all, g_kept = np.abs(full).reshape(-1, 4), np.abs(kept).reshape(-1, 4)
    # Per group: the kept magnitudes are the two largest.
    assert (np.sort(g_all, axis=1)[:, 2:].sum(axis=1) == g_kept.sum(axis=1)).all()
