"""Invariants of the requantization constants and the arena planner."""
from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import fixture_path
from tinyml_prune.codegen import CodegenOptions, build_program, read_tflite
from tinyml_prune.codegen.quantization import quantize_multiplier

from . import opmodels


@given(st.floats(min_value=1e-9, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_quantize_multiplier_represents_the_ratio(real):
    m, shift = quantize_multiplier(real)
    if m == 0:
        assert real < 2.0 ** -31
        return
    assert 2**30 <= m < 2**31
    assert math.isclose(m * 2.0 ** (shift - 31), real, rel_tol=2.0 ** -30)


def assert_plan_valid(program):
    plan, graph = program.plan, program.graph
    spans = {}
    for pos, e in enumerate(program.emitters):
        for t in [graph.tensors[e.op.outputs[0]], *e.activation_inputs]:
            kind, key = plan.home[t.index]
            if kind != "arena":
                continue
            lo, hi, size = spans.get(key, (pos, pos, 0))
            spans[key] = (min(lo, pos), max(hi, pos), max(size, t.nbytes))
        if e.scratch_bytes():  # a kernel's scratch: alive during its own layer only
            spans[-1 - pos] = (pos, pos, e.scratch_bytes())
        if pos in plan.bands:  # the band buffer of a layer computed in place (codegen/inplace.py)
            spans[("band", pos)] = (pos, pos, plan.bands[pos][1].buffer_bytes)
    last = len(program.emitters) - 1
    for t_index, first in [*((t, 0) for t in graph.inputs), *((t, None) for t in graph.outputs)]:
        kind, key = plan.home[t_index]
        if kind == "arena" and key in spans:  # model inputs from the start, outputs to the end
            lo, hi, size = spans[key]
            spans[key] = (0, hi, size) if first == 0 else (lo, last, size)
    offsets = {**plan.offsets, **{-1 - pos: off for pos, off in plan.scratch.items()},
               **{("band", pos): off for pos, (off, _) in plan.bands.items()}}
    items = list(spans.items())
    for key, (lo, hi, size) in items:
        off = offsets[key]
        assert off % 4 == 0 and off + size <= plan.arena_bytes
        for key2, (lo2, hi2, size2) in items:
            if key2 != key and lo <= hi2 and lo2 <= hi:  # alive at the same time
                off2 = offsets[key2]
                assert off + size <= off2 or off2 + size2 <= off, (key, key2)
    # Never more than the naive sum of buffers, never less than the largest live pair.
    assert plan.arena_bytes <= sum(s for _, (_, _, s) in items) + 4 * len(items)


def test_fixture_plans_are_valid_and_reuse_memory():
    for name in ("kws_ref_model.tflite", "ad01_int8.tflite", "str_ww_ref_model.tflite"):
        program = build_program(read_tflite(fixture_path(name).read_bytes()), CodegenOptions())
        assert_plan_valid(program)
    kws = build_program(read_tflite(fixture_path("kws_ref_model.tflite").read_bytes()),
                        CodegenOptions(in_place=False))
    # 12 intermediate tensors of up to 8000 bytes ping-pong between two buffers; the optimized
    # conv kernels' im2col scratch (388 B for the 1x1 layers) lives beside both of them.
    # (The default, in-place by row bands, needs one 8000-byte buffer: tests/ram.)
    scratch = max(e.scratch_bytes() for e in kws.emitters)
    assert scratch == 6 * 64 + 4
    assert kws.plan.arena_bytes == 2 * 8000 + scratch


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_reshape_aliases_and_plan_valid(seed):
    program = build_program(read_tflite(opmodels.conv_reshape_fc(np.random.default_rng(seed))), CodegenOptions())
    assert_plan_valid(program)
    conv_out, flat = program.emitters[0].op.outputs[0], program.emitters[1].op.outputs[0]
    assert program.plan.home[conv_out] == program.plan.home[flat]  # RESHAPE in place
    assert program.plan.home[program.graph.outputs[0]][0] == "arena"  # model I/O lives in the arena
    program = build_program(read_tflite(opmodels.conv_reshape_fc(np.random.default_rng(seed))),
                            CodegenOptions(io_in_arena=False))
    assert_plan_valid(program)
    assert program.plan.home[program.graph.outputs[0]][0] == "output"
