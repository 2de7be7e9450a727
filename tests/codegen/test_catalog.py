"""`tinyml ops`: the supported-operator list comes from the registries themselves."""
from __future__ import annotations

from tinyml_prune.codegen.catalog import supported_ops
from tinyml_prune.codegen.ops import EMITTERS


def test_every_emitter_is_listed_once_with_its_variant_per_board():
    from tinyml_prune.boards import load

    m4 = {r.opcode: r for r in supported_ops(load("qemu-m4").kernel_variants)}
    m0 = {r.opcode: r for r in supported_ops(load("qemu-m0").kernel_variants)}
    assert set(EMITTERS) <= set(m4)
    assert m4["CONV_2D"].kernel == "dsp" and m0["CONV_2D"].kernel == "reference"
    assert m4["RESHAPE"].kernel == "-" and m4["RESHAPE"].folds
    assert m4["SPACE_TO_BATCH_ND"].kernel == "-" and "dilated" in m4["SPACE_TO_BATCH_ND"].note
    assert not m4["SOFTMAX"].folds


def test_cli_lists_ops(capsys):
    from tinyml_prune.cli import main

    assert main(["ops", "--board", "qemu-m55"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:] if line.strip() and " " in line}
    assert lines["CONV_2D"] == "mve" and lines["MEAN"] == "dsp" and lines["TANH"] == "reference"
    assert "operators with kernels on qemu-m55" in out
