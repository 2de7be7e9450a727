"""Round trips and byte accounting of every weight format (host only, no TensorFlow)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinyml_prune.codegen import formats as F


def sparse_weights(max_rows=12, max_cols=300):
    """int8 weight tensors (2-D FC or 4-D conv) with a drawn fraction of zeros."""

    @st.composite
    def build(draw):
        shape = draw(
            st.one_of(
                st.tuples(st.integers(1, max_rows), st.integers(1, max_cols)),
                st.tuples(st.integers(1, max_rows), st.integers(1, 3), st.integers(1, 3), st.integers(1, 20)),
            )
        )
        w = draw(hnp.arrays(np.int8, shape, elements=st.integers(-127, 127)))
        keep = draw(hnp.arrays(np.bool_, shape))
        return np.where(keep, w, 0).astype(np.int8)

    return build()


def nm_weights(n=2, m=4):
    """Weights satisfying N:M along each row (random kept positions, some groups emptier)."""

    @st.composite
    def build(draw):
        rows, cols = draw(st.integers(1, 10)), draw(st.integers(1, 80))
        w = draw(hnp.arrays(np.int8, (rows, cols), elements=st.integers(-127, 127)))
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        for r in range(rows):
            for g0 in range(0, cols, m):
                idx = np.arange(g0, min(g0 + m, cols))
                drop = rng.permutation(idx)[max(0, min(n, len(idx)) - rng.integers(0, 2)):]
                w[r, drop] = 0
        return w

    return build()


@pytest.mark.parametrize("name", ["dense", "csr", "bitmask"])
@settings(max_examples=60, deadline=None)
@given(w=sparse_weights())
def test_round_trip(name, w):
    fmt = F.get(name)
    enc = fmt.encode(w)
    assert np.array_equal(fmt.decode(enc), w.reshape(w.shape[0], -1))
    assert enc.nnz == np.count_nonzero(w)


@settings(max_examples=80, deadline=None)
@given(w=nm_weights())
def test_nm_round_trip_and_invariant(w):
    fmt = F.get("nm")
    enc = fmt.encode(w)
    assert np.array_equal(fmt.decode(enc), w)
    # every group holds exactly N stored values, so at most N nonzeros
    rows, cols = w.shape
    groups = -(-cols // 4)
    assert enc.arrays["values"].size == rows * groups * 2
    assert enc.arrays["index"].size == rows * -(-groups * 2 * 2 // 8)


@settings(max_examples=40, deadline=None)
@given(w=sparse_weights())
def test_exact_byte_accounting(w):
    m = w.reshape(w.shape[0], -1)
    rows, cols = m.shape
    nnz = int(np.count_nonzero(m))
    csr = F.get("csr").encode(w)
    col_bytes = 1 if cols <= 256 else 2
    assert csr.nbytes == nnz * (1 + col_bytes) + 2 * rows
    assert F.get("bitmask").encode(w).nbytes == nnz + rows * -(-cols // 8)
    assert F.get("dense").encode(w).nbytes == rows * cols


def test_nm_rejects_a_dense_group_naming_the_channel():
    w = np.zeros((3, 8), np.int8)
    w[1, 4:7] = 5
    with pytest.raises(F.FormatError, match=r"output channel 1, columns 4\.\.7 hold 3 nonzeros"):
        F.get("nm").encode(w, layer="conv1")
    assert not F.get("nm").accepts(w)


def test_unknown_format_names_the_known_ones():
    with pytest.raises(F.FormatError, match="unknown weight format 'coo'.*csr"):
        F.get("coo")


def test_2to4_bytes_are_five_eighths_of_dense():
    w = np.tile(np.array([3, 0, -2, 0], np.int8), (16, 64))
    assert F.get("nm").encode(w).nbytes / F.get("dense").encode(w).nbytes == 0.625


def test_csr_index_width_follows_column_count():
    assert F.get("csr").encode(np.ones((2, 256), np.int8)).arrays["cols"].dtype == np.uint8
    assert F.get("csr").encode(np.ones((2, 257), np.int8)).arrays["cols"].dtype == np.uint16
