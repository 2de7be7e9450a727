"""Producer -> RELU / RELU6 / RELU_N1_TO_1  =>  the producer with that fused activation.

Exact when the activation keeps its input's scale and zero point (it is then a clamp, the
same clamp the producer applies for a fused activation) and the producer's output has no
other reader. Saves a pass over the tensor and its buffer."""
from __future__ import annotations

import copy
from dataclasses import replace

from ..passes import consumers, producer, rewrite, with_ops

ACTIVATIONS = {"RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}
FUSIBLE = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D")


def _same_quant(a, b) -> bool:
    return a.quant is not None and b.quant is not None and not a.quant.per_channel and \
        not b.quant.per_channel and a.scale == b.scale and a.zero_point == b.zero_point


@rewrite("relu_into_producer")
def fuse_relu(graph):
    ops = list(graph.operators)
    changed = False
    for act in [op for op in ops if op.opcode in ACTIVATIONS]:
        src = act.inputs[0] if act.inputs else -1
        prod = producer(replace(graph, operators=ops), src) if src >= 0 else None
        if prod is None or prod.opcode not in FUSIBLE or src in graph.outputs or len(prod.outputs) != 1:
            continue
        if len(consumers(replace(graph, operators=ops), src)) != 1:
            continue
        o = prod.options
        if o is None or int(getattr(o, "fusedActivationFunction", 0) or 0) != 0:
            continue
        if not _same_quant(graph.tensors[src], graph.tensors[act.outputs[0]]):
            continue
        opts = copy.copy(o)
        opts.fusedActivationFunction = ACTIVATIONS[act.opcode]
        ops[ops.index(prod)] = replace(prod, outputs=(act.outputs[0],), options=opts,
                                       attrs={**prod.attrs, "fused": [*prod.attrs.get("fused", []),
                                                                      f"{act.opcode} {act.index}"]})
        ops.remove(act)
        changed = True
    return with_ops(graph, ops) if changed else graph
