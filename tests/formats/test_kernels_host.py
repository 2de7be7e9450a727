"""Every sparse kernel equals the dense reference kernel bit for bit on random layers.

The dense reference kernels are themselves checked byte-for-byte against TFLite's
BUILTIN_REF interpreter (tests/codegen); whole fixtures through the sparse formats are
checked against TFLite directly in test_models.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, HealthCheck, given, settings
from hypothesis import strategies as st

from . import ckernels as K

SPARSE = ["csr", "bitmask", "nm"]


@pytest.fixture(scope="module")
def ref_lib(tmp_path_factory):
    return K.build(tmp_path_factory.mktemp("ref"), "ref")


def sparsify(w, rng, fmt, density):
    m = w.reshape(w.shape[0], -1).copy()
    if fmt == "nm":
        rows, cols = m.shape
        for r in range(rows):
            for g0 in range(0, cols, 4):
                idx = np.arange(g0, min(g0 + 4, cols))
                m[r, rng.permutation(idx)[2:]] = 0
    else:
        m[rng.random(m.shape) > density] = 0
    return m.reshape(w.shape)


@st.composite
def layer_case(draw, conv: bool):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rows = draw(st.integers(1, 12))
    per_channel = draw(st.booleans())
    density = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
    if conv:
        kh, kw, cin = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 9))
        shape = (rows, kh, kw, cin)
    else:
        shape = (rows, draw(st.sampled_from([1, 3, 8, 31, 64, 257, 300])))
    w = rng.integers(-127, 128, shape).astype(np.int8)
    nq = rows if per_channel else 1
    layer_args = dict(
        bias=rng.integers(-5000, 5000, rows),
        mult=rng.integers(2**30, 2**31 - 1, nq),
        shift=rng.integers(-12, 1, nq),
        in_off=int(rng.integers(-127, 129)),
        out_off=int(rng.integers(-128, 128)),
        act=draw(st.sampled_from([(-128, 127), (-20, 127), (-128, 50)])),
        rounding=draw(st.sampled_from([0, 1])),
    )
    return rng, w, density, layer_args


@pytest.mark.parametrize("fmt", SPARSE)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=layer_case(conv=False), batch=st.integers(1, 3))
def test_fully_connected_matches_dense(ref_lib, fmt, case, batch):
    rng, w, density, args = case
    layer = K.Layer(sparsify(w, rng, fmt, density), **args)
    x = rng.integers(-128, 128, (batch, w.shape[1])).astype(np.int8)
    assert np.array_equal(K.run_fc(ref_lib, layer, x, fmt), K.run_fc(ref_lib, layer, x, "dense"))


@pytest.mark.parametrize("fmt", SPARSE)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=layer_case(conv=True), stride=st.integers(1, 2), pad=st.integers(0, 1), dil=st.integers(1, 2),
       hw=st.tuples(st.integers(3, 7), st.integers(3, 7)))
def test_convolution_matches_dense(ref_lib, fmt, case, stride, pad, dil, hw):
    rng, w, density, args = case
    layer = K.Layer(sparsify(w, rng, fmt, density), **args)
    oc, kh, kw, cin = w.shape
    oh = (hw[0] + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    ow = (hw[1] + 2 * pad - dil * (kw - 1) - 1) // stride + 1
    assume(oh >= 1 and ow >= 1)
    x = rng.integers(-128, 128, (1, *hw, cin)).astype(np.int8)
    geom = dict(stride=(stride, stride), padding=(pad, pad), dilation=(dil, dil), out_hw=(oh, ow))
    assert np.array_equal(K.run_conv(ref_lib, layer, x, fmt=fmt, **geom), K.run_conv(ref_lib, layer, x, **geom))
