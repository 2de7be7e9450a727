"""Run a model's generated C on the host with per-layer traces next to TFLite BUILTIN_REF."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from tinyml_prune.codegen import CodegenOptions, generate, read_tflite
from tinyml_prune.verify import random_inputs, reference_run
from tinyml_prune.verify.host import compile_host, run_host


def assert_layers_bit_exact(tflite: bytes, fmt: str = "slim", n: int = 6, seed: int = 0, sanitize: bool = False):
    """Every layer of the generated C equals TFLite's tensor (restricted to the kept channels
    when the format slims), for ``n`` random inputs; returns the generation result."""
    inputs = random_inputs(read_tflite(tflite).input.shape, n, seed)
    with tempfile.TemporaryDirectory(prefix="slim-test-") as tmp:
        root = Path(tmp)
        res = generate(tflite, root / "model", CodegenOptions(format=fmt), force=True)
        program = res.program
        exe = compile_host(root / "model", root / "exe", sanitize=sanitize)
        tensors = [e.op.outputs[0] for e in program.emitters]
        got_out, _ = run_host(exe, inputs, root)
        want_out, traces = reference_run(tflite, inputs, tensors)
        np.testing.assert_array_equal(got_out, want_out)
        for i in range(n):
            _, got = run_host(exe, inputs[i:i + 1], root, trace=True)
            for (layer, values), want, t in zip(got, traces[i], tensors):
                if program.slim is not None:
                    want = program.slim.select(t, want)
                np.testing.assert_array_equal(values, want, err_msg=f"input {i} layer {layer} tensor {t}")
    return res
