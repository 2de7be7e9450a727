"""Graph rewrites before code generation: each is exact (bit-exact with TFLite on the
unrewritten model) and removes the operators it folds."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from conftest import shared_artifact
from tinyml_prune.codegen import CodegenOptions, build_program, read_tflite
from tinyml_prune.verify import random_inputs, verify_host

from .tflbuild import ModelSpec, Op, T, build, options

warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")


def _convert(model, path):
    from tinyml_prune.kerasenv import tf

    def rep():
        rng = np.random.default_rng(0)
        for _ in range(16):
            yield [rng.normal(size=(1, *model.input_shape[1:])).astype(np.float32)]

    c = tf.lite.TFLiteConverter.from_keras_model(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = rep
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    c.inference_input_type = c.inference_output_type = tf.int8
    path.write_bytes(c.convert())


@pytest.fixture(scope="module")
def dilated_padded(tmp_path_factory):
    """Keras dilated Conv2D (SAME) and DepthwiseConv2D (VALID), as the converter lowers them
    (SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND), then ZeroPadding2D before a strided conv."""

    def make(path):
        from tinyml_prune.kerasenv import keras

        i = keras.Input((13, 11, 3))
        x = keras.layers.Conv2D(4, 3, dilation_rate=2, padding="same")(i)
        x = keras.layers.DepthwiseConv2D(3, dilation_rate=(2, 3), padding="valid")(x)
        x = keras.layers.ZeroPadding2D(((1, 2), (2, 1)))(x)
        x = keras.layers.Conv2D(5, 3, strides=2, activation="relu")(x)
        _convert(keras.Model(i, x), path)

    return shared_artifact(tmp_path_factory, "rewrites_dilated_padded.tflite", make).read_bytes()


def test_dilated_and_padded_convolutions_fold_and_stay_bit_exact(dilated_padded):
    before = [op.opcode for op in read_tflite(dilated_padded).operators]
    assert before.count("SPACE_TO_BATCH_ND") == 2 and "PAD" in before
    program = build_program(read_tflite(dilated_padded), CodegenOptions())
    ops = [(e.op.opcode, e.dilation, e.op.attrs.get("explicit_padding")) for e in program.emitters]
    assert ops == [("CONV_2D", (2, 2), ((2, 2), (2, 2))), ("DEPTHWISE_CONV_2D", (2, 3), ((0, 0), (0, 0))),
                   ("CONV_2D", (1, 1), ((1, 2), (2, 1)))]
    result = verify_host(dilated_padded, random_inputs((1, 13, 11, 3), 24, 0), sanitize=True)
    assert result.ok, str(result.mismatch)


def test_folded_padding_bit_exact_without_in_place_bands(dilated_padded):
    result = verify_host(dilated_padded, random_inputs((1, 13, 11, 3), 8, 1),
                         CodegenOptions(in_place=False), sanitize=False)
    assert result.ok, str(result.mismatch)


def _conv_then(act: str, same_quant: bool = True, extra_reader: bool = False) -> bytes:
    rng = np.random.default_rng(11)
    spec = ModelSpec()
    inp = spec.add(T((1, 5, 5, 2), scale=[0.05], zero_point=[3]))
    filt = spec.add(T((3, 3, 3, 2), scale=[0.01, 0.02, 0.015], zero_point=[0, 0, 0],
                      data=rng.integers(-127, 128, (3, 3, 3, 2)).astype(np.int8)))
    bias = spec.add(T((3,), "int32", scale=[0.0005, 0.001, 0.00075], zero_point=[0, 0, 0],
                      data=np.array([40, -90, 10], np.int32)))
    mid = spec.add(T((1, 5, 5, 3), scale=[0.04], zero_point=[-7]))
    spec.ops.append(Op("CONV_2D", [inp, filt, bias], [mid],
                       options("Conv2DOptions", padding=0, strideH=1, strideW=1, dilationHFactor=1,
                               dilationWFactor=1, fusedActivationFunction=0), "Conv2DOptions"))
    out = spec.add(T((1, 5, 5, 3), scale=[0.04 if same_quant else 0.05], zero_point=[-7 if same_quant else -3]))
    spec.ops.append(Op(act, [mid], [out]))
    spec.inputs, spec.outputs = [inp], [out]
    if extra_reader:
        spec.outputs = [out, mid]
    return build(spec)


@pytest.mark.parametrize("act", ["RELU", "RELU6", "RELU_N1_TO_1"])
def test_standalone_relu_fuses_into_its_producer(act):
    model = _conv_then(act)
    program = build_program(read_tflite(model), CodegenOptions())
    assert [e.op.opcode for e in program.emitters] == ["CONV_2D"]
    assert program.emitters[0].op.attrs["fused"] == [f"{act} 1"]
    result = verify_host(model, random_inputs((1, 5, 5, 2), 30, 2))
    assert result.ok, str(result.mismatch)


def test_relu_with_another_scale_or_reader_is_not_fused():
    for model in (_conv_then("RELU", same_quant=False), _conv_then("RELU", extra_reader=True)):
        ops = [op.opcode for op in build_program_ops(model)]
        assert ops == ["CONV_2D", "RELU"]


def build_program_ops(model: bytes):
    from tinyml_prune.codegen.passes import run_passes

    return run_passes(read_tflite(model)).operators
