"""Whole models through every weight format, bit-exact against TFLite BUILTIN_REF (host,
ASan/UBSan), on MLPerf Tiny fixtures pruned in the flatbuffer."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import fixture_path
from tinyml_prune.codegen import CodegenOptions, build_program, read_tflite
from tinyml_prune.codegen.formats import FormatError
from tinyml_prune.codegen.formats.sparsify import prune_tflite


@pytest.fixture(scope="module")
def kws_pruned():
    t = fixture_path("kws_ref_model.tflite").read_bytes()
    return {"unstructured": prune_tflite(t, "unstructured", 0.9), "2:4": prune_tflite(t, "2:4")}


@pytest.mark.parametrize("pruning,fmt", [("unstructured", "csr"), ("unstructured", "bitmask"), ("2:4", "nm"),
                                         ("unstructured", "auto")])
def test_kws_formats_bit_exact_with_tflite(kws_pruned, pruning, fmt):
    from tinyml_prune.verify import random_inputs, verify_host

    t = kws_pruned[pruning]
    x = random_inputs(read_tflite(t).input.shape, 4, seed=1)
    r = verify_host(t, x, CodegenOptions(format=fmt), source=f"kws {pruning}")
    assert r.ok, r.mismatch


def test_ad01_csr_bit_exact_and_smaller():
    from tinyml_prune.verify import random_inputs, verify_host

    t = prune_tflite(fixture_path("ad01_int8.tflite").read_bytes(), "unstructured", 0.9)
    x = random_inputs(read_tflite(t).input.shape, 4, seed=2)
    assert verify_host(t, x, CodegenOptions(format="csr"), source="ad01").ok
    dense = build_program(read_tflite(t), CodegenOptions(format="dense"))
    csr = build_program(read_tflite(t), CodegenOptions(format="csr"))
    dense_w = sum(e.graph.tensors[e.op.inputs[1]].data.size for e in dense.emitters
                  if e.op.opcode == "FULLY_CONNECTED")
    csr_w = sum(e.encoded.nbytes for e in csr.emitters if e.op.opcode == "FULLY_CONNECTED")
    assert csr_w <= 0.35 * dense_w


def test_nm_on_a_dense_model_names_the_layer(kws_pruned):
    t = fixture_path("kws_ref_model.tflite").read_bytes()
    with pytest.raises(FormatError, match=r"operator \d+ \(CONV_2D\).*more than 2:4"):
        build_program(read_tflite(t), CodegenOptions(format="nm"))


def test_auto_never_picks_a_format_predicted_slower_than_dense(kws_pruned):
    program = build_program(read_tflite(kws_pruned["unstructured"]), CodegenOptions(format="auto"))
    chosen = [e for e in program.emitters if hasattr(e, "format_predictions")]
    assert chosen
    for e in chosen:
        p = e.format_predictions
        assert p[e.weight_format] <= p["dense"]
        assert e.weight_format == min(p, key=lambda f: (p[f], f != "dense"))


def test_unknown_format_is_a_one_line_cli_error(tmp_path, capsys):
    from tinyml_prune.cli import main

    model = fixture_path("ad01_int8.tflite")
    assert main(["codegen", str(model), "-o", str(tmp_path / "g"), "--format", "coo"]) == 2
    assert "unknown weight format 'coo'" in capsys.readouterr().err
