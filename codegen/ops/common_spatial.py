"""Geometry shared by the convolution and pooling emitters."""
from __future__ import annotations

from tinyml_prune.errors import ModelError

from . import PADDINGS, expected_out_size, same_padding


def nhwc(shape, what: str) -> tuple[int, int, int, int]:
    if len(shape) != 4:
        raise ModelError(f"{what} has shape {list(shape)}; expected 4-D NHWC")
    return tuple(int(d) for d in shape)


def spatial_padding(emitter, padding_code: int, in_hw, k_hw, stride_hw, dil_hw, out_hw) -> tuple[int, int]:
    """(pad_h, pad_w), after checking the output size TFLite would have computed.

    A convolution that absorbed a PAD (codegen/rewrites) carries explicit (top, bottom),
    (left, right) paddings; the kernels take the top/left ones, the bottom/right ones only
    decide the output size."""
    if min(stride_hw) < 1 or min(dil_hw) < 1:
        emitter.fail(f"stride {stride_hw} / dilation {dil_hw} must be >= 1", unsupported=False)
    explicit = emitter.op.attrs.get("explicit_padding")
    if explicit is not None:
        for i, axis in enumerate("hw"):
            (lo, hi), eff = explicit[i], (k_hw[i] - 1) * dil_hw[i] + 1
            want = (in_hw[i] + lo + hi - eff) // stride_hw[i] + 1
            if want != out_hw[i]:
                emitter.fail(f"output {axis} is {out_hw[i]} but padding {lo}+{hi} gives {want}", unsupported=False)
        return explicit[0][0], explicit[1][0]
    padding = PADDINGS.get(int(padding_code))
    if padding is None:
        emitter.fail(f"padding code {padding_code} is not SAME or VALID")
    pads = []
    for i, axis in enumerate("hw"):
        want = expected_out_size(padding, in_hw[i], k_hw[i], stride_hw[i], dil_hw[i])
        if want != out_hw[i]:
            emitter.fail(f"output {axis} is {out_hw[i]} but {padding} padding gives {want}", unsupported=False)
        pads.append(same_padding(in_hw[i], k_hw[i], stride_hw[i], dil_hw[i], out_hw[i]) if padding == "SAME" else 0)
    return pads[0], pads[1]
