"""In-place convolutions are bit-exact with TFLite (BUILTIN_REF) on the host: random chains
whose middle layers run in place by row bands, any band count."""
from __future__ import annotations

import warnings

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tinyml_prune.codegen import CodegenOptions, build_program, read_tflite
from tinyml_prune.verify import random_inputs, verify_host

from . import chain
from .test_planner import LAYER, random_chain

warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")


def assert_in_place_bit_exact(tfl: bytes, options: CodegenOptions, n: int = 6, sanitize: bool = False):
    program = build_program(read_tflite(tfl), options)
    assert program.plan.bands, "no layer ran in place: the test would prove nothing"
    result = verify_host(tfl, random_inputs(program.graph.input.shape, n, 0), options, sanitize=sanitize)
    assert result.ok, str(result.mismatch)
    return program


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), layers=st.lists(LAYER, min_size=1, max_size=3), bands=st.integers(1, 8),
       h=st.integers(5, 14))
def test_random_chains_in_place_are_bit_exact(seed, layers, bands, h):
    tfl = random_chain(seed, layers, h=h)
    assume(tfl is not None)
    # Model I/O outside the arena: the model input does not set the arena's peak, so more of
    # these short chains run layers in place (with I/O inside, see the KWS-like test below).
    options = CodegenOptions(in_place_bands=bands, io_in_arena=False)
    assume(build_program(read_tflite(tfl), options).plan.bands)
    assert_in_place_bit_exact(tfl, options)


def test_kws_like_chain_in_place_under_sanitizers():
    tfl = chain.kws_like(np.random.default_rng(3), h=13, w=5, c=20, blocks=2)
    program = assert_in_place_bit_exact(tfl, CodegenOptions(in_place_bands=5), sanitize=True)
    assert len(program.plan.bands) == 4  # both depthwise and both pointwise layers
    assert all(len(bp.bands) > 1 for _, bp in program.plan.bands.values())
