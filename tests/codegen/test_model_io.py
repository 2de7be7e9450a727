"""Models with several inputs and outputs, and models converted with float inputs/outputs:
the packed I/O API of the generated code, bit-exact with TFLite BUILTIN_REF."""
from __future__ import annotations

import subprocess
import warnings

import numpy as np
import pytest

from tinyml_prune.codegen import generate
from tinyml_prune.verify import model_io, random_inputs, reference_run, verify_host
from tinyml_prune.verify.host import compile_host

from .tflbuild import ModelSpec, Op, T, build, options

warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")


def _pool(spec, src, scale, zp, shape, kind="MAX_POOL_2D", padding=1):
    out = spec.add(T(shape, scale=[scale], zero_point=[zp]))
    spec.ops.append(Op(kind, [src], [out], options("Pool2DOptions", padding=padding, strideH=2, strideW=2, filterHeight=2,
                                                  filterWidth=2, fusedActivationFunction=0), "Pool2DOptions"))
    return out


def two_in_two_out(rng) -> bytes:
    """in_a, in_b -> ADD -> out 0 (also pooled -> out 2); in_b pooled -> out 1: three outputs,
    one of them read again after it is written."""
    spec = ModelSpec()
    sa, sb = float(rng.uniform(0.01, 0.1)), float(rng.uniform(0.01, 0.1))
    a = spec.add(T((1, 4, 6, 3), scale=[sa], zero_point=[int(rng.integers(-10, 10))], name="image"))
    b = spec.add(T((1, 4, 6, 3), scale=[sb], zero_point=[int(rng.integers(-10, 10))], name="mask \"x\""))
    s, zp = float(rng.uniform(0.05, 0.2)), int(rng.integers(-10, 10))
    added = spec.add(T((1, 4, 6, 3), scale=[s], zero_point=[zp], name="sum"))
    spec.ops.append(Op("ADD", [a, b], [added], options("AddOptions", fusedActivationFunction=0), "AddOptions"))
    pooled_b = _pool(spec, b, sb, spec.tensors[b].zero_point[0], (1, 2, 3, 3))
    pooled_sum = _pool(spec, added, s, zp, (1, 2, 3, 3), "AVERAGE_POOL_2D")
    spec.inputs, spec.outputs = [a, b], [added, pooled_b, pooled_sum]
    return build(spec)


def float_boundary(rng, float_in=True, float_out=True) -> bytes:
    """[float32 -> QUANTIZE ->] int8 MAX_POOL -> AVERAGE_POOL [-> DEQUANTIZE -> float32]."""
    spec = ModelSpec()
    scale, zp = float(rng.uniform(0.005, 0.05)), int(rng.integers(-20, 20))
    q_in = spec.add(T((1, 6, 6, 2), scale=[scale], zero_point=[zp], name="q_in"))
    first = q_in
    if float_in:
        f_in = spec.add(T((1, 6, 6, 2), "float32", name="float_in"))
        spec.ops.append(Op("QUANTIZE", [f_in], [q_in]))
        first = f_in
    mid = _pool(spec, q_in, scale, zp, (1, 3, 3, 2))
    q_out = _pool(spec, mid, scale, zp, (1, 2, 2, 2), "AVERAGE_POOL_2D", padding=0)
    last = q_out
    if float_out:
        last = spec.add(T((1, 2, 2, 2), "float32", name="float_out"))
        spec.ops.append(Op("DEQUANTIZE", [q_out], [last]))
    spec.inputs, spec.outputs = [first], [last]
    return build(spec)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_inputs_three_outputs_bit_exact(seed):
    model = two_in_two_out(np.random.default_rng(seed))
    io = model_io(model)
    assert [t["name"] for t in io["inputs"]] == ["image", 'mask "x"']
    assert [t["offset"] for t in io["outputs"]] == [0, 72, 90]
    x = random_inputs((io["input_bytes"],), 16, seed)
    result = verify_host(model, x, sanitize=seed == 0)
    assert result.ok, str(result.mismatch)


def test_packed_io_table_in_model_h(tmp_path):
    model = two_in_two_out(np.random.default_rng(5))
    generate(model, tmp_path / "gen")
    h = (tmp_path / "gen" / "model.h").read_text()
    c = (tmp_path / "gen" / "model.c").read_text()
    assert "#define TP_MODEL_INPUTS 2" in h and "#define TP_MODEL_OUTPUTS 3" in h
    assert "#define TP_MODEL_INPUT_SIZE 144" in h and "#define TP_MODEL_OUTPUT_SIZE 108" in h
    assert "#define TP_MODEL_INPUT1_OFFSET 72" in h and "#define TP_MODEL_OUTPUT2_OFFSET 90" in h
    assert '{ "mask \\"x\\"", 72, 72, 4, { 1, 4, 6, 3 }' in c
    assert "tp_model_run_float" not in h


@pytest.mark.parametrize("float_in,float_out", [(True, True), (True, False), (False, True)])
def test_float_boundary_is_stripped_and_bit_exact(float_in, float_out):
    model = float_boundary(np.random.default_rng(3), float_in, float_out)
    io = model_io(model)
    assert io["inputs"][0]["name"] == "q_in"
    assert bool(io["float_io"].get("inputs")) == float_in
    result = verify_host(model, random_inputs((1, 6, 6, 2), 20, 1), sanitize=True)
    assert result.ok, str(result.mismatch)


FLOAT_MAIN = r"""
#include <stdio.h>
#include "model.h"
void tp_model_trace(int32_t layer, const int8_t *data, int32_t size)
{
    (void)layer; (void)data; (void)size;
}
int main(int argc, char **argv)
{
    static float in[TP_MODEL_INPUT_SIZE], out[TP_MODEL_OUTPUT_SIZE];
    FILE *fi = fopen(argv[1], "rb"), *fo = fopen(argv[2], "wb");
    (void)argc;
    while (fread(in, sizeof in, 1, fi) == 1) {
        if (tp_model_run_float(in, out) != 0) return 3;
        fwrite(out, sizeof out, 1, fo);
    }
    fclose(fi);
    fclose(fo);
    return 0;
}
"""


def test_float_entry_point_matches_tflite_float_outputs(tmp_path):
    """tp_model_run_float quantizes and dequantizes exactly as TFLite's QUANTIZE/DEQUANTIZE."""
    from tinyml_prune.kerasenv import tf

    model = float_boundary(np.random.default_rng(4))
    gen = tmp_path / "gen"
    generate(model, gen)
    assert "#define TP_MODEL_FLOAT_IO 1" in (gen / "model.h").read_text()
    main = tmp_path / "float_main.c"
    main.write_text(FLOAT_MAIN)
    rng = np.random.default_rng(0)
    scale = model_io(model)["inputs"][0]["scale"]
    # Values on and between quantization steps, ties included, plus out-of-range values.
    x = np.concatenate([rng.normal(0, 1.5, (30, 72)), np.round(rng.normal(0, 60, (10, 72))) * scale,
                        (np.round(rng.normal(0, 60, (10, 72))) + 0.5) * scale]).astype(np.float32)
    exe = compile_host(gen, tmp_path / "exe", extra_sources=[main], host_main_source=False)
    (tmp_path / "in.bin").write_bytes(x.tobytes())
    subprocess.run([str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")], check=True,
                   env={"ASAN_OPTIONS": "detect_leaks=0"})
    got = np.frombuffer((tmp_path / "out.bin").read_bytes(), dtype=np.float32).reshape(len(x), -1)
    interp = tf.lite.Interpreter(model_content=model,
                                 experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    i, o = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    want = []
    for row in x:
        interp.set_tensor(i, row.reshape(1, 6, 6, 2))
        interp.invoke()
        want.append(interp.get_tensor(o).reshape(-1).copy())
    assert np.array_equal(got.view(np.uint32), np.stack(want).view(np.uint32))


def test_reference_run_reads_int8_outputs_before_dequantize():
    model = float_boundary(np.random.default_rng(6))
    out, _ = reference_run(model, random_inputs((1, 6, 6, 2), 3, 0))
    assert out.dtype == np.int8 and out.shape == (3, 8)
