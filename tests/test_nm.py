"""The one N:M module: pruning leaves at most N nonzeros per group, compress/decompress round
trips, violations name the bad groups, and every user (masker, codegen format, Ampere 2:4 path,
quantization check) answers as it does."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from tinyml_prune import nm

NM = st.sampled_from([(1, 4), (2, 4), (2, 8), (4, 8), (1, 2)])


def _weights(seed, rows, cols, density=0.7):
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, (rows, cols)).astype(np.int8)
    return np.where(rng.random((rows, cols)) < density, w, 0).astype(np.int8)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), rows=st.integers(1, 6), cols=st.integers(1, 40), nm_=NM)
def test_prune_keeps_the_largest_and_satisfies(seed, rows, cols, nm_):
    n, m = nm_
    w = _weights(seed, rows, cols)
    p = nm.prune(w, n, m)
    assert p.shape == w.shape and p.dtype == w.dtype
    assert nm.satisfies(p, n, m) and not nm.violations(p, n, m)
    assert ((p == 0) | (p == w)).all()                      # only zeroes, never changes a value
    # independently: in each group the kept magnitudes are >= every dropped one
    g, gp = nm.groups(np.abs(w.astype(int)), m), nm.groups(p, m)
    for r in range(g.shape[0]):
        for j in range(g.shape[1]):
            kept, dropped = g[r, j][gp[r, j] != 0], g[r, j][(gp[r, j] == 0) & (g[r, j] != 0)]
            if kept.size and dropped.size:
                assert kept.min() >= dropped.max()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), rows=st.integers(1, 6), cols=st.integers(1, 40), nm_=NM)
def test_compress_round_trips(seed, rows, cols, nm_):
    n, m = nm_
    w = nm.prune(_weights(seed, rows, cols), n, m)
    values, pos = nm.compress(w, n, m)
    assert values.shape == pos.shape == (rows, -(-cols // m), n)
    assert (np.diff(pos, axis=-1) > 0).all()                # distinct, ascending
    np.testing.assert_array_equal(nm.decompress(values, pos, m, cols), w)


def test_violations_name_the_group():
    w = np.zeros((2, 9), np.int8)
    w[1, 4:7] = 5                                           # row 1, group 1 holds 3 nonzeros
    assert nm.violations(w, 2, 4) == [(1, 1, 3)]
    assert nm.satisfies(w, 3, 4) and not nm.satisfies(w, 3, 4, whole_groups=True)
    assert nm.tightest(np.zeros((2, 8))) == (0, 4)
    assert nm.tightest(np.ones((2, 8))) is None
    assert nm.tightest(nm.prune(np.arange(1, 17).reshape(2, 8), 2, 4)) == (2, 4)


def test_refusal():
    assert nm.refusal(1, 4) == "input channels 1 < M=4"
    assert nm.refusal(10, 4) == "input channels 10 not divisible by M=4"
    assert nm.refusal(12, 4) is None


def test_users_agree():
    from tinyml_prune.ampere import format as amp
    from tinyml_prune.codegen.formats.nm import NM24
    from tinyml_prune.quantize.sparsity_check import nm_pattern, satisfies_nm

    w = nm.prune(_weights(5, 8, 64, density=0.9), 2, 4)
    assert amp.is_2to4(w) and satisfies_nm(w, 2, 4) and nm_pattern(w) == (2, 4)
    np.testing.assert_array_equal(amp.prune_2to4(w), w)
    np.testing.assert_array_equal(amp.decompress(amp.compress(w)), w)
    fmt = NM24()
    np.testing.assert_array_equal(fmt.decode(fmt.encode(w)), w)
    bad = _weights(6, 8, 64, density=1.0)
    assert amp.violations(bad) == nm.violations(bad, 2, 4)
