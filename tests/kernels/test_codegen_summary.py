"""`tinyml codegen` speaks in counts: layers per kernel variant and, when slimming, channels
removed and kept with their reasons by count; the per-channel lists stay in manifest.json."""
from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from tinyml_prune.cli.codegen import codegen, variant_summary
from tinyml_prune.codegen.slim import summary_lines

from .test_variants import risky_model


def test_codegen_prints_layers_per_variant(tmp_path):
    model = tmp_path / "risky.tflite"
    model.write_bytes(risky_model(np.random.default_rng(7)))
    r = CliRunner().invoke(codegen, [str(model), "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    line = next(l for l in r.output.splitlines() if l.startswith("kernel variants:"))
    assert "1 fast," in line and "1 fast-wide" in line and "1 generic" in line
    assert "depth multiplier 2" in line
    layers = json.loads((tmp_path / "out" / "manifest.json").read_text())["layers"]
    assert all(l.get("variant_reason") for l in layers)


def test_variant_summary_counts():
    rows = [{"kernel_variant": "fast"}] * 5 + [{"kernel_variant": "generic", "variant_reason": "why"}] * 2 + [{}]
    assert variant_summary(rows) == "kernel variants: 5 fast, 2 generic; generic because why (2)"
    assert variant_summary([{}]) == ""


def _slim(n_kept: int) -> dict:
    totals = {f"{k}_{s}": 10 for k in ("weights", "bias", "requant", "macs") for s in ("before", "after", "saved")}
    totals["bytes_saved"] = 30
    layers = [dict(operator=i, op="CONV_2D", tensor=f"t{i}", channels=64, removed_out_channels=list(range(0, 60, 2)),
                   removed_in_channels=[1, 2], bias_folded=i == 0) for i in range(3)]
    kept = [dict(operator=5 + c % 2, op="CONV_2D", channel=c, tensor="x",
                 reason=(f"it is tied (by ADD) to CONV_2D operator 9 output channel {c}, which is a model output"
                         if c % 3 else "it is a model output")) for c in range(n_kept)]
    return dict(totals=totals, layers=layers, kept=kept)


def test_slim_summary_is_counts_not_lists():
    lines = summary_lines(_slim(150))
    assert len(lines) <= 6, lines
    assert lines[0].startswith("slim: 90 weight-layer output channels removed (6 input channels")
    assert "constants folded into the bias of 1" in lines[0]
    assert "150 zero-weight channels in 2 layers stay" in lines[1]
    counts = {l.split(" x ", 1)[1]: int(l.split(" x ", 1)[0]) for l in lines[2:4]}
    assert counts == {"tied (by ADD) to a channel which is a model output": 100, "is a model output": 50}
    assert "manifest.json" in lines[-1]
    assert not any("channel 7" in l for l in lines)
