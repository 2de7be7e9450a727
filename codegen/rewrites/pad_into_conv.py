"""PAD -> CONV_2D / DEPTHWISE_CONV_2D  =>  one convolution with explicit padding.

Keras' ZeroPadding2D before a VALID convolution (ResNet, DenseNet, MobileNet stems) converts to
a PAD whose value is the zero point, i.e. exactly what the convolution's own padding reads:
folding it saves the padded copy and its arena. Exact only when the pad value is the input's
zero point, only H and W are padded, and the convolution is the PAD's only reader."""
from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np

from ..passes import consumers, rewrite, with_ops

CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")
VALID = 1


def _spatial_pads(graph, pad_op):
    """((top, bottom), (left, right)) when only H and W of a 4-D tensor are padded."""
    x, paddings = graph.tensors[pad_op.inputs[0]], graph.tensor(pad_op.inputs[1])
    if paddings is None or not paddings.is_constant or len(x.shape) != 4:
        return None
    p = np.asarray(paddings.data).reshape(-1, 2)
    if p.shape != (4, 2) or p[0].any() or p[3].any() or (p < 0).any():
        return None
    return (int(p[1, 0]), int(p[1, 1])), (int(p[2, 0]), int(p[2, 1]))


def _pad_is_zero_point(graph, pad_op) -> bool:
    x, y = graph.tensors[pad_op.inputs[0]], graph.tensors[pad_op.outputs[0]]
    if x.dtype != "int8" or x.quant is None or y.quant is None or x.quant.per_channel or y.quant.per_channel:
        return False
    if x.scale != y.scale or x.zero_point != y.zero_point:
        return False
    if pad_op.opcode == "PADV2":
        value = graph.tensor(pad_op.inputs[2]) if len(pad_op.inputs) > 2 else None
        return value is not None and value.is_constant and value.data.size == 1 and \
            int(value.data.reshape(-1)[0]) == y.zero_point
    return True


@rewrite("pad_into_conv")
def fuse_pad_into_conv(graph):
    ops = list(graph.operators)
    changed = False
    for pad_op in [op for op in ops if op.opcode in ("PAD", "PADV2")]:
        out = pad_op.outputs[0]
        users = consumers(graph, out)
        if out in graph.outputs or len(users) != 1 or users[0].opcode not in CONVS:
            continue
        conv = users[0]
        pads = _spatial_pads(graph, pad_op)
        if pads is None or not _pad_is_zero_point(graph, pad_op) or conv.inputs[0] != out:
            continue
        o = conv.options
        if o is None or int(o.padding) != VALID or conv.attrs.get("explicit_padding"):
            continue
        fused = replace(conv, inputs=(pad_op.inputs[0], *conv.inputs[1:]), options=copy.copy(o),
                        attrs={**conv.attrs, "explicit_padding": pads, "fused": [*conv.attrs.get("fused", []),
                                                                             f"{pad_op.opcode} {pad_op.index}"]})
        ops[ops.index(conv)] = fused
        ops.remove(pad_op)
        changed = True
    return with_ops(graph, ops) if changed else graph
