"""Call the C kernels from Python through ctypes, for layer-level bit-exactness tests.

The kernels of one variant directory (``ref``, ``dsp`` ...) are compiled into a shared
library with the host gcc; the structs below mirror ``tp_nn_types.h``/``tp_nn_sparse.h``.
"""
from __future__ import annotations

import ctypes as C
import subprocess
from pathlib import Path

import numpy as np

from tinyml_prune.codegen import formats as F

KERNELS = Path(__file__).resolve().parents[2] / "firmware" / "kernels"
i32 = C.c_int32


class Dims(C.Structure):
    _fields_ = [("n", i32), ("h", i32), ("w", i32), ("c", i32)]


class Tile(C.Structure):
    _fields_ = [("w", i32), ("h", i32)]


class Act(C.Structure):
    _fields_ = [("min", i32), ("max", i32)]


class Ctx(C.Structure):
    _fields_ = [("buf", C.c_void_p), ("size", i32)]


class Quant(C.Structure):
    _fields_ = [("multiplier", C.c_void_p), ("shift", C.c_void_p), ("per_channel", i32), ("rounding", C.c_int)]


class ConvParams(C.Structure):
    _fields_ = [("input_offset", i32), ("output_offset", i32), ("stride", Tile), ("padding", Tile),
                ("dilation", Tile), ("activation", Act), ("variant", C.c_int)]


class FcParams(C.Structure):
    _fields_ = [("input_offset", i32), ("filter_offset", i32), ("output_offset", i32), ("activation", Act),
                ("variant", C.c_int)]


class CSR(C.Structure):
    _fields_ = [("values", C.c_void_p), ("cols8", C.c_void_p), ("cols16", C.c_void_p), ("row_len", C.c_void_p)]


class Bitmask(C.Structure):
    _fields_ = [("values", C.c_void_p), ("mask", C.c_void_p)]


class NM(C.Structure):
    _fields_ = [("values", C.c_void_p), ("index", C.c_void_p), ("n", i32), ("m", i32)]


def build(out_dir: Path, variant: str = "ref", cflags=()) -> C.CDLL:
    srcs = sorted((KERNELS / variant).glob("*.c"))
    lib = out_dir / f"libtp_{variant}.so"
    cmd = ["gcc", "-std=c99", "-O1", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", *cflags,
           f"-I{KERNELS / 'include'}", f"-I{KERNELS / variant}", *map(str, srcs), "-o", str(lib)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return C.CDLL(str(lib))


def _p(a: np.ndarray):
    return a.ctypes.data_as(C.c_void_p)


class Layer:
    """A random int8 layer: weights [rows, *patch], bias, requant params, offsets."""

    def __init__(self, w, bias, mult, shift, in_off, out_off, act=(-128, 127), rounding=0):
        self.w = np.ascontiguousarray(w, np.int8)
        self.bias = np.ascontiguousarray(bias, np.int32)
        self.mult = np.ascontiguousarray(mult, np.int32)
        self.shift = np.ascontiguousarray(shift, np.int32)
        self.in_off, self.out_off, self.act, self.rounding = in_off, out_off, act, rounding

    def quant(self):
        return Quant(_p(self.mult), _p(self.shift), int(self.mult.size > 1), self.rounding)

    def folded_bias(self):
        return F.fold_bias(self.bias, self.w, self.in_off)


def _sparse_struct(enc, keep):
    a = enc.arrays
    keep.extend(a.values())
    if enc.format == "csr":
        c8 = a["cols"] if a["cols"].dtype == np.uint8 else None
        c16 = a["cols"] if a["cols"].dtype == np.uint16 else None
        return CSR(_p(a["values"]), _p(c8) if c8 is not None else None, _p(c16) if c16 is not None else None,
                   _p(a["row_len"]))
    if enc.format == "bitmask":
        return Bitmask(_p(a["values"]), _p(a["mask"]))
    return NM(_p(a["values"]), _p(a["index"]), enc.params["n"], enc.params["m"])


def run_fc(lib, layer: Layer, x: np.ndarray, fmt: str = "dense") -> np.ndarray:
    rows = x.shape[0]
    out_c, depth = layer.w.shape
    out = np.zeros((rows, out_c), np.int8)
    x = np.ascontiguousarray(x, np.int8)
    params = FcParams(layer.in_off, 0, layer.out_off, Act(*layer.act))
    q = layer.quant()
    din, dw, db, dout = Dims(rows, 1, 1, depth), Dims(out_c, 1, 1, depth), Dims(1, 1, 1, out_c), Dims(rows, 1, 1, out_c)
    keep = []
    if fmt == "dense":
        st = lib.tp_fully_connected_s8(None, C.byref(params), C.byref(q), C.byref(din), _p(x), C.byref(dw),
                                       _p(layer.w), C.byref(db), _p(layer.bias), C.byref(dout), _p(out))
    else:
        enc = F.get(fmt).encode(layer.w)
        s = _sparse_struct(enc, keep)
        fb = layer.folded_bias()
        st = getattr(lib, f"tp_fully_connected_{fmt}_s8")(None, C.byref(params), C.byref(q), C.byref(din), _p(x),
                                                            C.byref(dw), C.byref(s), C.byref(db), _p(fb),
                                                            C.byref(dout), _p(out))
    assert st == 0, f"kernel status {st}"
    return out


def run_conv(lib, layer: Layer, x: np.ndarray, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
             out_hw=None, fmt: str = "dense") -> np.ndarray:
    n, ih, iw, ic = x.shape
    oc, kh, kw, _ = layer.w.shape
    oh, ow = out_hw
    out = np.zeros((n, oh, ow, oc), np.int8)
    x = np.ascontiguousarray(x, np.int8)
    params = ConvParams(layer.in_off, layer.out_off, Tile(stride[1], stride[0]), Tile(padding[1], padding[0]),
                        Tile(dilation[1], dilation[0]), Act(*layer.act))
    q = layer.quant()
    din, dw, db, dout = Dims(n, ih, iw, ic), Dims(oc, kh, kw, ic), Dims(1, 1, 1, oc), Dims(n, oh, ow, oc)
    keep = []
    if fmt == "dense":
        size = lib.tp_convolve_s8_get_buffer_size(C.byref(din), C.byref(dw))
        buf = np.zeros(max(size, 1), np.int8)
        ctx = Ctx(_p(buf), size)
        st = lib.tp_convolve_s8(C.byref(ctx), C.byref(params), C.byref(q), C.byref(din), _p(x), C.byref(dw),
                                _p(layer.w), C.byref(db), _p(layer.bias), C.byref(dout), _p(out))
    else:
        size = lib.tp_convolve_sparse_s8_get_buffer_size(C.byref(params), C.byref(dw))
        buf = np.zeros(max(size, 1), np.int8)
        ctx = Ctx(_p(buf), size)
        enc = F.get(fmt).encode(layer.w)
        s = _sparse_struct(enc, keep)
        fb = layer.folded_bias()
        st = getattr(lib, f"tp_convolve_{fmt}_s8")(C.byref(ctx), C.byref(params), C.byref(q), C.byref(din), _p(x),
                                                     C.byref(dw), C.byref(s), C.byref(db), _p(fb), C.byref(dout),
                                                     _p(out))
    assert st == 0, f"kernel status {st}"
    return out


class DwParams(C.Structure):
    _fields_ = [("input_offset", i32), ("output_offset", i32), ("ch_mult", i32), ("stride", Tile),
                ("padding", Tile), ("dilation", Tile), ("activation", Act), ("variant", C.c_int)]


def run_dw(lib, layer: Layer, x: np.ndarray, ch_mult=1, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
           out_hw=None) -> np.ndarray:
    """Depthwise: layer.w is [1, kh, kw, C*mult] as in TFLite."""
    n, ih, iw, ic = x.shape
    _, kh, kw, oc = layer.w.shape
    oh, ow = out_hw
    out = np.zeros((n, oh, ow, oc), np.int8)
    x = np.ascontiguousarray(x, np.int8)
    params = DwParams(layer.in_off, layer.out_off, ch_mult, Tile(stride[1], stride[0]), Tile(padding[1], padding[0]),
                      Tile(dilation[1], dilation[0]), Act(*layer.act))
    q = layer.quant()
    din, dw, db, dout = Dims(n, ih, iw, ic), Dims(1, kh, kw, oc), Dims(1, 1, 1, oc), Dims(n, oh, ow, oc)
    st = lib.tp_depthwise_conv_s8(None, C.byref(params), C.byref(q), C.byref(din), _p(x), C.byref(dw),
                                  _p(layer.w), C.byref(db), _p(layer.bias), C.byref(dout), _p(out))
    assert st == 0, f"kernel status {st}"
    return out
