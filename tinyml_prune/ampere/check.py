"""Run a whole int8 model layer by layer: every GEMM layer on its real input, three ways.

TFLite's BUILTIN_REF interpreter (the project's oracle, ``verify.oracle.reference_run``) runs the
model with every layer's input and output traced; each CONV_2D / FULLY_CONNECTED layer is then
recomputed from the interpreter's own input tensor through the emulated tensor-core kernels —
dense ``mma.sync`` and, if its weights are 2:4, ``mma.sp`` on the compressed operand — and every
int32 accumulator is compared with TFLite's formula in exact arithmetic, every output byte with
the interpreter's.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import format as fmt
from .execute import GemmLayer, dense_accumulators, exact_accumulators, gemm_layers, im2col, output, \
    sparse_accumulators
from .graph import Graph, load_bytes, read


@dataclass
class LayerCheck:
    layer: GemmLayer
    compressed: fmt.Compressed24 | None          # None: the weights are not 2:4
    not_2to4: str = ""                            # why not (first offending row/group)
    samples: int = 0
    accumulators: int = 0                         # int32 accumulators compared per path
    dense_acc_mismatches: int = 0                 # mma.sync emulation != TFLite's formula
    sparse_acc_mismatches: int = 0                # mma.sp emulation != TFLite's formula
    dense_mismatches: int = 0                     # output bytes dense != interpreter
    sparse_mismatches: int = 0                    # output bytes 2:4 != interpreter
    sparse_vs_dense: int = 0                      # output bytes 2:4 != dense
    first_mismatch: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list, repr=False)   # the interpreter's input tensors, per sample

    @property
    def is_2to4(self) -> bool:
        return self.compressed is not None

    @property
    def bit_exact(self) -> bool:
        ok = self.samples > 0 and self.dense_mismatches == 0 and self.dense_acc_mismatches == 0
        return ok and (not self.is_2to4 or (self.sparse_mismatches == 0 and self.sparse_vs_dense == 0
                                            and self.sparse_acc_mismatches == 0))


def compress_layers(layers: list[GemmLayer]) -> list[LayerCheck]:
    checks = []
    for layer in layers:
        label = f"{layer.op.name} #{layer.op.index} ({layer.name}) weights"
        if fmt.is_2to4(layer.weights):
            checks.append(LayerCheck(layer, fmt.compress(layer.weights, label)))
        else:
            try:
                fmt.check_2to4(layer.weights, label)
            except fmt.NotTwoFourError as e:
                checks.append(LayerCheck(layer, None, not_2to4=str(e)))
    return checks


def random_inputs(graph: Graph, n: int, seed: int = 0) -> np.ndarray:
    """``n`` seeded random int8 inputs (the generated API's packed int8 view of the input)."""
    t = graph.tensors[graph.inputs[0]]
    return np.random.default_rng(seed).integers(-128, 128, (n,) + tuple(t.shape[1:])).astype(np.int8)


def check_model(tflite, inputs: np.ndarray | None = None, samples: int = 4, rounding: str = "tflite",
                seed: int = 0) -> tuple[Graph, list[LayerCheck], list[dict]]:
    """Layer-by-layer bit-exactness of the dense and 2:4 paths against BUILTIN_REF.

    ``inputs`` are already-quantized model inputs ``[n, ...]``; by default ``samples`` seeded
    random int8 tensors.
    """
    from ..verify.oracle import reference_run

    data = load_bytes(tflite)
    graph = read(data)
    layers, skipped = gemm_layers(graph, rounding)
    checks = compress_layers(layers)
    if inputs is None:
        inputs = random_inputs(graph, samples, seed)
    inputs = np.asarray(inputs).reshape(len(inputs), -1)
    traced = [t for ch in checks for t in (ch.layer.op.inputs[0], ch.layer.op.outputs[0])]
    _, traces = reference_run(data, inputs, trace_tensors=traced)
    for i, values in enumerate(traces):
        for j, ch in enumerate(checks):
            L = ch.layer
            x = values[2 * j].reshape((1,) + tuple(L.input_shape[1:])).astype(np.int8)
            ref = values[2 * j + 1].reshape((1,) + tuple(L.output_shape[1:]))
            ch.inputs.append(x[0])
            b = im2col(L, x)
            exact = exact_accumulators(L, b)
            acc = dense_accumulators(L, b)
            dense = output(L, acc)
            ch.samples += 1
            ch.accumulators += acc.size
            ch.dense_acc_mismatches += int((acc != exact).sum())
            ch.dense_mismatches += int((dense != ref).sum())
            got = dense
            if ch.is_2to4:
                sacc = sparse_accumulators(L, ch.compressed, b)
                sparse = output(L, sacc)
                ch.sparse_acc_mismatches += int((sacc != exact).sum())
                ch.sparse_mismatches += int((sparse != ref).sum())
                ch.sparse_vs_dense += int((sparse != dense).sum())
                got = sparse
            if not ch.first_mismatch and (got != ref).any():
                idx = tuple(int(v) for v in np.argwhere(got != ref)[0])
                ch.first_mismatch = {"sample": i, "index": idx, "expected": int(ref[idx]), "got": int(got[idx])}
    return graph, checks, skipped
