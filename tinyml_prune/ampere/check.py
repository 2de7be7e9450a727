"""Run a whole int8 model layer by layer: every GEMM layer on its real input, three ways.

TFLite's BUILTIN_REF interpreter (the oracle) runs the model with all intermediate tensors kept;
each CONV_2D / FULLY_CONNECTED layer is then recomputed from the interpreter's own input tensor
by our dense numpy path and — if its weights are 2:4 — by the compressed ``mma.sp`` path.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import format as fmt
from .execute import GemmLayer, gemm_layers, run_dense, run_sparse
from .graph import Graph, load_bytes, read


@dataclass
class LayerCheck:
    layer: GemmLayer
    compressed: fmt.Compressed24 | None          # None: the weights are not 2:4
    not_2to4: str = ""                            # why not (first offending row/group)
    samples: int = 0
    dense_mismatches: int = 0                     # output bytes dense != interpreter
    sparse_mismatches: int = 0                    # output bytes 2:4 != interpreter
    sparse_vs_dense: int = 0                      # output bytes 2:4 != dense
    first_mismatch: dict = field(default_factory=dict)

    @property
    def is_2to4(self) -> bool:
        return self.compressed is not None

    @property
    def bit_exact(self) -> bool:
        ok = self.samples > 0 and self.dense_mismatches == 0
        return ok and (not self.is_2to4 or (self.sparse_mismatches == 0 and self.sparse_vs_dense == 0))


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
    t = graph.tensors[graph.inputs[0]]
    info = np.iinfo(t.dtype) if np.issubdtype(t.dtype, np.integer) else None
    rng = np.random.default_rng(seed)
    if info is None:
        return rng.standard_normal((n,) + t.shape[1:]).astype(t.dtype)
    return rng.integers(info.min, info.max + 1, (n,) + t.shape[1:]).astype(t.dtype)


def check_model(tflite, inputs: np.ndarray | None = None, samples: int = 4, rounding: str = "tflite",
                seed: int = 0) -> tuple[Graph, list[LayerCheck], list[dict]]:
    """Layer-by-layer bit-exactness of the dense and 2:4 paths against BUILTIN_REF.

    ``inputs`` are already-quantized model inputs ``[n, ...]``; by default ``samples`` seeded
    random int8 tensors.
    """
    from ..kerasenv import tf

    data = load_bytes(tflite)
    graph = read(data)
    layers, skipped = gemm_layers(graph, rounding)
    checks = compress_layers(layers)
    if inputs is None:
        inputs = random_inputs(graph, samples, seed)
    interp = tf.lite.Interpreter(
        model_content=data, experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    for i in range(len(inputs)):
        interp.set_tensor(graph.inputs[0], inputs[i:i + 1].astype(graph.tensors[graph.inputs[0]].dtype))
        interp.invoke()
        for ch in checks:
            op = ch.layer.op
            x = interp.get_tensor(op.inputs[0])
            ref = interp.get_tensor(op.outputs[0])
            dense = run_dense(ch.layer, x)
            ch.samples += 1
            ch.dense_mismatches += int((dense != ref).sum())
            if ch.is_2to4:
                sparse = run_sparse(ch.layer, ch.compressed, x)
                ch.sparse_mismatches += int((sparse != ref).sum())
                ch.sparse_vs_dense += int((sparse != dense).sum())
                got = sparse
            else:
                got = dense
            if not ch.first_mismatch and (got != ref).any():
                idx = tuple(int(v) for v in np.argwhere(got != ref)[0])
                ch.first_mismatch = {"sample": i, "index": idx, "expected": int(ref[idx]), "got": int(got[idx])}
    return graph, checks, skipped
