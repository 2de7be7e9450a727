"""The kernel variant of every CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED layer is decided
by the code generator from the layer's constants, written into model.c and manifest.json,
and is the optimized one on the fixtures and the model zoo; layers the old runtime check sent
to the slow loop (positive shifts, huge biases) run optimized and bit-exact on QEMU."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from codegen.opmodels import ACTS, PADS
from codegen.tflbuild import ModelSpec, Op, T, build, options
from conftest import fixture_path
from tinyml_prune.codegen.generate import CodegenOptions, build_program, generate, render
from tinyml_prune.codegen.tflite_reader import read_tflite
from tinyml_prune.errors import UnsupportedOpError

MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
OPTIMIZED = ("fast", "fast-wide")


def mac_layers(tflite: bytes):
    program = build_program(read_tflite(tflite), CodegenOptions())
    return program, [r for r in program.layer_table() if r["op"] in MAC_OPS and r["format"] == "dense"]


def assert_all_optimized(tflite: bytes):
    program, rows = mac_layers(tflite)
    slow = [(r["operator"], r["op"], r["kernel_variant"], r["variant_reason"]) for r in rows
            if r["kernel_variant"] not in OPTIMIZED]
    assert not slow, slow
    model_c = render(program)["model.c"]
    assert len(re.findall(r"TP_VARIANT_FAST(_WIDE)? /\*", model_c)) == len(rows)
    assert "TP_VARIANT_GENERIC" not in model_c
    return rows


@pytest.mark.parametrize("name", ["kws_ref_model.tflite", "ad01_int8.tflite", "str_ww_ref_model.tflite"])
def test_fixture_layers_take_the_optimized_variant(name):
    rows = assert_all_optimized(fixture_path(name).read_bytes())
    assert rows


def _zoo_names():
    try:
        from tinyml_prune import zoo
    except Exception:  # the zoo needs TensorFlow/Keras
        return []
    return zoo.names(heavy=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", _zoo_names())
def test_zoo_layers_take_the_optimized_variant(name):
    from tinyml_prune import zoo

    tflite = zoo.build_int8(name)
    try:
        rows = assert_all_optimized(tflite)
    except UnsupportedOpError as e:
        pytest.skip(f"{name}: the generator does not support the model yet ({e})")
    assert rows or name in ("two_in_two_out",)


# -- layers that used to fall back at run time -----------------------------------------------

def risky_model(rng) -> bytes:
    """CONV_2D with positive shifts on most channels and, on channel 0, a tiny weight scale
    with a bias beyond 2^30 (so the wide requantization is needed), then a depth-multiplier-2
    DEPTHWISE_CONV_2D (the portable loop, chosen explicitly) and a FULLY_CONNECTED with
    positive shifts."""
    spec = ModelSpec()
    h = w = 6
    cin, cout = 5, 6
    inp = spec.add(T((1, h, w, cin), scale=[0.05], zero_point=[3]))
    w_scales = [3e-10] + [0.02] * (cout - 1)
    wdata = rng.integers(-3, 4, (cout, 3, 3, cin)).astype(np.int8)
    filt = spec.add(T((cout, 3, 3, cin), scale=w_scales, zero_point=[0] * cout, axis=0, data=wdata))
    bias = rng.integers(-40, 40, cout).astype(np.int64)
    bias[0] = 2**30 + 12345
    b = spec.add(T((cout,), "int32", scale=[0.05 * s for s in w_scales], zero_point=[0] * cout,
                   data=bias.astype(np.int32)))
    mid = spec.add(T((1, h, w, cout), scale=[4e-4], zero_point=[-2]))  # ratio 2.5: shift +2
    spec.ops.append(Op("CONV_2D", [inp, filt, b], [mid],
                       options("Conv2DOptions", padding=PADS["SAME"], strideH=1, strideW=1, dilationHFactor=1,
                               dilationWFactor=1, fusedActivationFunction=ACTS["NONE"]), "Conv2DOptions"))
    dwf = spec.add(T((1, 3, 3, 2 * cout), scale=[0.01] * (2 * cout), zero_point=[0] * (2 * cout), axis=3,
                     data=rng.integers(-127, 128, (1, 3, 3, 2 * cout)).astype(np.int8)))
    dwb = spec.add(T((2 * cout,), "int32", scale=[4e-6] * (2 * cout), zero_point=[0] * (2 * cout), axis=0,
                     data=rng.integers(-500, 500, 2 * cout).astype(np.int32)))
    dwo = spec.add(T((1, h, w, 2 * cout), scale=[0.5], zero_point=[1]))
    spec.ops.append(Op("DEPTHWISE_CONV_2D", [mid, dwf, dwb], [dwo],
                       options("DepthwiseConv2DOptions", depthMultiplier=2, padding=PADS["SAME"], strideH=1,
                               strideW=1, dilationHFactor=1, dilationWFactor=1,
                               fusedActivationFunction=ACTS["RELU"]), "DepthwiseConv2DOptions"))
    depth = h * w * 2 * cout
    fcw = spec.add(T((8, depth), scale=[0.004], zero_point=[0],
                     data=rng.integers(-2, 3, (8, depth)).astype(np.int8)))
    fcb = spec.add(T((8,), "int32", scale=[2e-3], zero_point=[0], data=rng.integers(-50, 50, 8).astype(np.int32)))
    out = spec.add(T((1, 8), scale=[1e-3], zero_point=[5]))  # ratio 2: shift +2
    spec.ops.append(Op("FULLY_CONNECTED", [dwo, fcw, fcb], [out],
                       options("FullyConnectedOptions", fusedActivationFunction=0), "FullyConnectedOptions"))
    spec.inputs, spec.outputs = [inp], [out]
    return build(spec)


@pytest.fixture(scope="module")
def risky():
    return risky_model(np.random.default_rng(7))


def test_variants_follow_the_constants(risky):
    _, rows = mac_layers(risky)
    by_op = {r["op"]: r for r in rows}
    assert by_op["CONV_2D"]["kernel_variant"] == "fast-wide"
    assert "channel 0" in by_op["CONV_2D"]["variant_reason"]
    assert by_op["DEPTHWISE_CONV_2D"]["kernel_variant"] == "generic"
    assert "depth multiplier 2" in by_op["DEPTHWISE_CONV_2D"]["variant_reason"]
    assert by_op["FULLY_CONNECTED"]["kernel_variant"] == "fast"


def test_manifest_names_each_layer_variant(risky, tmp_path):
    generate(risky, tmp_path)
    layers = json.loads((tmp_path / "manifest.json").read_text())["layers"]
    assert [r.get("kernel_variant") for r in layers] == ["fast-wide", "generic", "fast"]
    assert all(r.get("loop") for r in layers)


@pytest.mark.qemu
@pytest.mark.parametrize("board_name", ["qemu-m4", "qemu-m55"])
def test_risky_layers_bit_exact_on_qemu(risky, tmp_path, board_name):
    from boards.conftest import needs_toolchain
    from tinyml_prune.boards import load, make_board
    from tinyml_prune.harness.profile import ProfileConfig, profile

    needs_toolchain()
    root = tmp_path / "gen"
    generate(risky, root)
    (root / "model.tflite").write_bytes(risky)
    board = make_board(load(board_name), exact=True)
    board.build(root)
    r = profile(root, board, ProfileConfig(n=6))
    assert r["bit_exact"] is True and r["mismatched_outputs"] == 0, r
