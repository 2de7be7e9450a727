"""The in-place planner: band schedules never overwrite input still to be read, every plan
keeps simultaneously live buffers apart, in place only where the input dies, and KWS needs
one 8000-byte activation buffer instead of two."""
from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from conftest import fixture_path
from tinyml_prune.codegen import CodegenOptions, build_program, read_tflite
from tinyml_prune.codegen.inplace import Geometry, band_sizes, schedule

from . import chain


def check_schedule(g: Geometry, plan) -> None:
    """Replay the band table the way the generated C does, on row ids instead of bytes."""
    in_bytes, out_bytes = g.in_h * g.in_row, g.out_h * g.out_row
    # Which byte of the shared buffer still holds its original input (row index), or -1.
    original = np.repeat(np.arange(g.in_h), g.in_row)
    original = np.concatenate([original, np.full(max(0, out_bytes - in_bytes), -1)])
    done = pending = committed = 0
    for band in plan.bands:
        a, b = done, done + band.out_rows
        # The sub-image is untouched input and holds every in-image tap of rows a..b-1.
        sub = original[band.in_row * g.in_row:(band.in_row + band.in_rows) * g.in_row]
        assert np.array_equal(sub, np.repeat(np.arange(band.in_row, band.in_row + band.in_rows), g.in_row))
        for r in range(a, b):
            j = r - a
            for ky in range(g.eff_kh):
                y_global = r * g.stride - g.pad + ky
                y_sub = j * g.stride - band.pad + ky
                inside = 0 <= y_global < g.in_h
                assert inside == (0 <= y_sub < band.in_rows), (r, ky)
                if inside:
                    assert band.in_row + y_sub == y_global
        assert band.pad >= 0
        pending += band.out_rows
        assert pending <= plan.buffer_rows
        original[committed * g.out_row:(committed + band.commit_rows) * g.out_row] = -1
        committed += band.commit_rows
        pending -= band.commit_rows
        done = b
    assert done == committed == g.out_h and pending == 0


@settings(max_examples=300, deadline=None)
@given(in_h=st.integers(1, 40), in_w=st.integers(1, 6), cin=st.integers(1, 8), cout=st.integers(1, 8),
       kh=st.integers(1, 5), stride=st.integers(1, 3), dil=st.integers(1, 2), same=st.booleans(),
       bands=st.integers(1, 9))
def test_band_schedules_only_overwrite_dead_input(in_h, in_w, cin, cout, kh, stride, dil, same, bands):
    eff = (kh - 1) * dil + 1
    out_h = (in_h + stride - 1) // stride if same else (in_h - eff + stride) // stride
    assume(out_h >= 1)
    pad = max((out_h - 1) * stride + eff - in_h, 0) // 2 if same else 0
    out_w = in_w  # the row bytes are what matter; widths only scale them
    g = Geometry(in_h, in_w * cin, out_h, out_w, out_w * cout, stride, pad, eff)
    sizes = band_sizes(out_h, out_w, bands)
    assert sum(sizes) == out_h and all(s * out_w % 2 == 0 for s in sizes[:-1] if s > 1)
    check_schedule(g, schedule(g, sizes))


def live_spans(program):
    """key -> (first layer, last layer, offset, size) for every arena buffer of the plan."""
    plan, graph = program.plan, program.graph
    spans = {}
    for pos, e in enumerate(program.emitters):
        for t in [graph.tensors[e.op.outputs[0]], *e.activation_inputs]:
            kind, key = plan.home[t.index]
            if kind == "arena":
                lo, hi, size = spans.get(key, (pos, pos, 0))
                spans[key] = (min(lo, pos), max(hi, pos), max(size, t.nbytes))
    out = {k: (lo, hi, plan.offsets[k], size) for k, (lo, hi, size) in spans.items()}
    for pos, e in enumerate(program.emitters):
        if e.scratch_bytes():
            out[("scratch", pos)] = (pos, pos, plan.scratch[pos], e.scratch_bytes())
        if pos in plan.bands:
            off, bp = plan.bands[pos]
            out[("band", pos)] = (pos, pos, off, bp.buffer_bytes)
    return out


def assert_plan_sound(program):
    plan, graph = program.plan, program.graph
    spans = live_spans(program)
    for k, (lo, hi, off, size) in spans.items():
        assert off % 4 == 0 and off + size <= plan.arena_bytes, k
        for k2, (lo2, hi2, off2, size2) in spans.items():
            if k != k2 and lo <= hi2 and lo2 <= hi:
                assert off + size <= off2 or off2 + size2 <= off, (k, k2)
    # In place only where the input dies: no later layer reads the input's value (the tensor
    # itself or a RESHAPE view of it) - later readers of that buffer read newer tensors.
    for pos in plan.bands:
        e = program.emitters[pos]
        src = e.activation_inputs[0].index
        assert plan.home[src] == plan.home[e.op.outputs[0]]
        for later in program.emitters[pos + 1:]:
            assert all(_value_of(program, t.index) != _value_of(program, src) for t in later.activation_inputs)


def _value_of(program, t_index):
    """The tensor whose bytes t holds: through RESHAPE views back to the producing tensor."""
    by_out = {e.op.outputs[0]: e for e in program.emitters}
    while t_index in by_out and by_out[t_index].in_place:
        t_index = by_out[t_index].activation_inputs[0].index
    return t_index


LAYER = st.builds(
    chain.Layer, depthwise=st.booleans(), k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 2)), dilation=st.tuples(st.integers(1, 2), st.just(1)),
    padding=st.sampled_from(["SAME", "VALID"]), act=st.sampled_from(["NONE", "RELU", "RELU6"]),
    cout=st.integers(1, 12), mult=st.integers(1, 2))


def random_chain(seed, layers, h=12, w=6, c=4):
    try:
        return chain.chain(np.random.default_rng(seed), h, w, 2, c, layers, 3)
    except ValueError:
        return None


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**16), layers=st.lists(LAYER, min_size=1, max_size=4))
def test_random_chain_plans_are_sound(seed, layers):
    tfl = random_chain(seed, layers)
    assume(tfl is not None)
    program = build_program(read_tflite(tfl), CodegenOptions())
    assert_plan_sound(program)
    dense = build_program(read_tflite(tfl), CodegenOptions(in_place=False))
    assert program.plan.arena_bytes <= dense.plan.arena_bytes  # never worse than without in-place
    assert not dense.plan.bands


def test_fixture_plans_are_sound():
    for name in ("kws_ref_model.tflite", "ad01_int8.tflite", "str_ww_ref_model.tflite"):
        assert_plan_sound(build_program(read_tflite(fixture_path(name).read_bytes()), CodegenOptions()))


def test_kws_arena_is_one_activation_plus_the_largest_layer_extra():
    program = build_program(read_tflite(fixture_path("kws_ref_model.tflite").read_bytes()), CodegenOptions())
    plan, graph = program.plan, program.graph
    arena_tensors = [graph.tensors[e.op.outputs[0]] for e in program.emitters
                     if plan.home[e.op.outputs[0]][0] == "arena"]
    largest = max(t.nbytes for t in arena_tensors)
    assert largest == 25 * 5 * 64
    # Every depthwise and pointwise layer runs in place: the 8000-byte activations share one buffer.
    assert sorted(plan.bands) == [p for p, e in enumerate(program.emitters)
                                  if e.op.opcode in ("DEPTHWISE_CONV_2D", "CONV_2D") and p > 0]
    assert len({plan.home[t.index] for t in arena_tensors if t.nbytes == largest}) == 1
    # Beside it, per layer: kernel scratch + band buffer, or a small output (pooling).
    extra = max(max(e.scratch_bytes() + (plan.bands[p][1].buffer_bytes if p in plan.bands else 0),
                    min((t.nbytes for t in [graph.tensors[e.op.outputs[0]]] if t.nbytes < largest), default=0))
                for p, e in enumerate(program.emitters))
    assert plan.arena_bytes <= largest + extra
    dense = build_program(read_tflite(fixture_path("kws_ref_model.tflite").read_bytes()),
                          CodegenOptions(in_place=False))
    assert dense.plan.arena_bytes >= 2 * largest
    assert plan.arena_bytes < 0.7 * dense.plan.arena_bytes


def test_placement_finds_the_two_buffer_optimum_for_ad01():
    # FC chain 640-128-128-128-128-8-128-128-128-128-640: no layer runs in place, and two
    # 128-byte buffers (the 8-byte bottleneck tucked into the dead one) are enough.
    model = read_tflite(fixture_path("ad01_int8.tflite").read_bytes())
    program = build_program(model, CodegenOptions(io_in_arena=False))
    assert not program.plan.bands
    assert program.plan.arena_bytes == 2 * 128
    # With the 640-byte input and output in the arena too: the input's bytes are reused by the
    # output, and nothing more than the peak of the first and last layers is needed.
    program = build_program(model, CodegenOptions())
    assert program.plan.arena_bytes == 640 + 128
