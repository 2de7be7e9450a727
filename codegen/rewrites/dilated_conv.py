"""SPACE_TO_BATCH_ND -> CONV_2D / DEPTHWISE_CONV_2D -> BATCH_TO_SPACE_ND  =>  one dilated convolution.

TensorFlow lowers a dilated convolution to this triple (the convolution runs on d x d
interleaved sub-images); the converter keeps it. Our kernels take dilation directly, so the
triple folds into one convolution with dilation d and the padding that reproduces the
SPACE_TO_BATCH paddings and BATCH_TO_SPACE crops (only when the result is the same tensor)."""
from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np

from ..passes import consumers, rewrite, with_ops

CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")
VALID = 1


def _const(graph, index):
    t = graph.tensor(index)
    return None if t is None or not t.is_constant else np.asarray(t.data).astype(np.int64)


def _same_quant(a, b) -> bool:
    return a.quant is not None and b.quant is not None and not a.quant.per_channel and \
        not b.quant.per_channel and a.scale == b.scale and a.zero_point == b.zero_point


def _fold_one(graph, s2b):
    users = consumers(graph, s2b.outputs[0])
    if len(users) != 1 or users[0].opcode not in CONVS or users[0].inputs[0] != s2b.outputs[0]:
        return None
    conv = users[0]
    after = consumers(graph, conv.outputs[0])
    if len(after) != 1 or after[0].opcode != "BATCH_TO_SPACE_ND" or conv.outputs[0] in graph.outputs:
        return None
    b2s = after[0]
    block, paddings = _const(graph, s2b.inputs[1]), _const(graph, s2b.inputs[2])
    block2, crops = _const(graph, b2s.inputs[1]), _const(graph, b2s.inputs[2])
    if any(v is None for v in (block, paddings, block2, crops)) or not np.array_equal(block, block2):
        return None
    x, y = graph.tensors[s2b.inputs[0]], graph.tensors[b2s.outputs[0]]
    o = conv.options
    if (block.size != 2 or len(x.shape) != 4 or len(y.shape) != 4 or x.shape[0] != 1 or o is None
            or int(o.padding) != VALID or (int(o.strideH), int(o.strideW)) != (1, 1)
            or (int(o.dilationHFactor), int(o.dilationWFactor)) != (1, 1)):
        return None
    mid_in, mid_out = graph.tensors[s2b.outputs[0]], graph.tensors[conv.outputs[0]]
    if not (_same_quant(x, mid_in) and _same_quant(mid_out, y)):
        return None
    filt = graph.tensors[conv.inputs[1]]
    k_hw = filt.shape[1:3]
    pads = []
    for i in range(2):
        d, top = int(block[i]), int(paddings.reshape(2, 2)[i][0])
        eff = (int(k_hw[i]) - 1) * d + 1
        # Output of the dilated convolution over the input padded by `top` above and enough below,
        # then cropped: rows crop_top .. crop_top + out - 1 of the padded convolution.
        crop_top = int(crops.reshape(2, 2)[i][0])
        padded = int(x.shape[1 + i]) + int(paddings.reshape(2, 2)[i].sum())
        full = padded - eff + 1  # rows of the dilated VALID convolution over the padded input
        start = crop_top
        if start < 0 or start + int(y.shape[1 + i]) > full:
            return None
        lo = top - start
        hi = (int(y.shape[1 + i]) - 1) + eff - int(x.shape[1 + i]) - lo
        if lo < 0 or hi < 0:
            return None
        pads.append((lo, hi))
    opts = copy.copy(o)
    opts.dilationHFactor, opts.dilationWFactor = int(block[0]), int(block[1])
    folded = replace(conv, inputs=(s2b.inputs[0], *conv.inputs[1:]), outputs=(b2s.outputs[0],), options=opts,
                     attrs={**conv.attrs, "explicit_padding": tuple(pads),
                            "fused": [*conv.attrs.get("fused", []), f"SPACE_TO_BATCH_ND {s2b.index}",
                                      f"BATCH_TO_SPACE_ND {b2s.index}"]})
    return folded, conv, b2s


@rewrite("dilated_conv")
def fold_dilated_conv(graph):
    ops = list(graph.operators)
    changed = False
    for s2b in [op for op in ops if op.opcode == "SPACE_TO_BATCH_ND"]:
        found = _fold_one(replace(graph, operators=ops), s2b)
        if found is None:
            continue
        folded, conv, b2s = found
        ops[ops.index(conv)] = folded
        ops.remove(s2b)
        ops.remove(b2s)
        changed = True
    return with_ops(graph, ops) if changed else graph
