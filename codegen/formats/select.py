"""Applying a weight format to the code generator's emitters (the ``--format`` option).

After an emitter has prepared its layer with dense weights, ``specialize`` re-encodes
FULLY_CONNECTED and CONV_2D filters in the chosen format: it swaps the filter array for
the format's arrays, the bias for the folded bias the sparse kernels start from, the
kernel name and its sources (the emitter then asks that kernel for its scratch). ``auto``
asks the cost model per layer, with the code generation target's calibration
(``CodegenOptions.target``; none: the conservative choice).
"""
from __future__ import annotations

import numpy as np

from .base import FormatError, fold_bias, get

#: what ``--format`` accepts: weight formats, plus the per-layer policy ``auto``.
CHOICES = ("dense", "slim", "csr", "bitmask", "nm", "auto")
#: policies that first remove constant (all-zero-weight) channels from the graph (codegen/slim);
#: ``slim`` then stores every layer dense, ``auto`` chooses per layer on the slimmed weights.
SLIMMING = ("slim", "auto")
SPARSE_OPS = {"FULLY_CONNECTED": "tp_fully_connected", "CONV_2D": "tp_convolve"}
_C_STRUCT = {"csr": "tp_csr", "bitmask": "tp_bitmask", "nm": "tp_nm"}


def check_choice(name: str) -> str:
    if name not in CHOICES:
        raise FormatError(f"unknown weight format {name!r}; choose one of {', '.join(CHOICES)}")
    return name


def filter_matrix(e) -> np.ndarray:
    return e.graph.tensors[e.op.inputs[1]].data


def specialize(e) -> None:
    """Re-encode emitter ``e``'s weights in the format its options ask for (in place)."""
    policy = check_choice(dict(e.options.layer_formats).get(e.op.index, e.options.format))
    e.weight_format = "dense"
    if e.op.opcode not in SPARSE_OPS or policy in ("dense", "slim"):
        return
    w = filter_matrix(e)
    if policy == "auto":
        from .costmodel import choose

        choice = choose(e, w, e.options.target)
    else:
        choice = policy
        get(choice).check(w.reshape(w.shape[0], -1), layer=e.where())
    if choice == "dense":
        return
    apply_format(e, choice, w)


def apply_format(e, choice: str, w: np.ndarray) -> None:
    enc = get(choice).encode(w, layer=e.where())
    bias = None if e.bias is None else e.bias.data
    e.arrays = [a for a in e.arrays if a.name not in (f"{e.name}_filter", f"{e.name}_bias")]
    names = {k: e.add_array(f"{choice}_{k}", _ctype(v), v, "weights") for k, v in enc.arrays.items()}
    e.bias_name = e.add_array("bias_folded", "int32_t", fold_bias(bias, w, e.input_offset), "weights")
    if choice == "csr":
        c8 = names["cols"] if enc.arrays["cols"].dtype == np.uint8 else "NULL"
        c16 = names["cols"] if enc.arrays["cols"].dtype == np.uint16 else "NULL"
        fields = [names["values"], c8, c16, names["row_len"]]
    elif choice == "bitmask":
        fields = [names["values"], names["mask"]]
    else:
        fields = [names["values"], names["index"], str(enc.params["n"]), str(enc.params["m"])]
    # A C99 compound literal: the dense templates pass `filter` straight to the kernel.
    e.filter = f"&(const {_C_STRUCT[choice]}){{ {', '.join(fields)} }}"
    e.kernel = f"{SPARSE_OPS[e.op.opcode]}_{choice}_s8"
    e.sources = (f"tp_{choice}_s8.c", "tp_sparse_driver_s8.c")
    e.weight_format = choice
    e.encoded = enc


def _ctype(v: np.ndarray) -> str:
    from .base import C_TYPES

    return C_TYPES[v.dtype]
