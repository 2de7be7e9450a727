"""The scratch memory of a kernel call, asked of the C kernels themselves.

Every kernel that takes caller scratch states how much through its ``*_get_buffer_size``
function (CMSIS-NN's discipline). The code generator does not copy those formulas: it compiles
the functions for the host once (cached on disk, keyed by the sources' hash) and calls them
through ctypes with the layer's dimensions.

* ``ref``: the reference kernel files themselves are compiled (they are portable C).
* ``dsp``, ``mve``: their kernels use Arm intrinsics, so each variant keeps its formulas in
  ``tp_<variant>_buffer_sizes.h`` (no intrinsics), which its kernels include and which is
  compiled here on its own with ``-DTP_<VARIANT>_BUFFER_SIZES_EXTERN``.

Without a target the scratch is the largest over the variants that implement the kernel, so the
generated code builds for any board; with a target (``formats.costmodel.Target``) it is what
the variant that board builds needs (``mve/``, then ``dsp/``, then the reference kernels: the
first directory holding the kernel's source file, as the board build picks it).
"""
from __future__ import annotations

import ctypes as C
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tinyml_prune.errors import TinymlError

VARIANTS = ("ref", "dsp", "mve")
#: reference files holding the get_buffer_size functions (compiled as they are)
REF_SOURCES = ("tp_convolve_s8.c", "tp_depthwise_conv_s8.c", "tp_fully_connected_s8.c", "tp_sparse_driver_s8.c")
CFLAGS = ("-std=c99", "-O1", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror")
i32 = C.c_int32


class KernelContractError(TinymlError):
    """The host compiler needed to read the kernels' scratch sizes is missing or failed."""


class Dims(C.Structure):  # tp_dims
    _fields_ = [("n", i32), ("h", i32), ("w", i32), ("c", i32)]


class _Tile(C.Structure):  # tp_tile
    _fields_ = [("w", i32), ("h", i32)]


class _Act(C.Structure):  # tp_activation
    _fields_ = [("min", i32), ("max", i32)]


class _ConvParams(C.Structure):  # tp_conv_params
    _fields_ = [("input_offset", i32), ("output_offset", i32), ("stride", _Tile), ("padding", _Tile),
                ("dilation", _Tile), ("activation", _Act), ("variant", C.c_int)]


@dataclass(frozen=True)
class _Signature:
    """How a kernel's get_buffer_size is called: ``args`` is "dims" (input, filter dims),
    "filter" (filter dims) or "params" (conv params, filter dims)."""

    args: str
    ref_symbol: str


_SPARSE_CONV = _Signature("params", "tp_convolve_sparse_s8_get_buffer_size")
#: every kernel that takes caller scratch; any other kernel needs none
SIGNATURES = {
    "tp_convolve_s8": _Signature("dims", "tp_convolve_s8_get_buffer_size"),
    "tp_depthwise_conv_s8": _Signature("dims", "tp_depthwise_conv_s8_get_buffer_size"),
    "tp_fully_connected_s8": _Signature("filter", "tp_fully_connected_s8_get_buffer_size"),
    "tp_convolve_csr_s8": _SPARSE_CONV,
    "tp_convolve_bitmask_s8": _SPARSE_CONV,
    "tp_convolve_nm_s8": _SPARSE_CONV,
}


def kernels_root() -> Path:
    from tinyml_prune.firmware import ROOT

    return ROOT / "kernels"


def symbol(kernel: str, variant: str) -> str:
    """The C function that sizes ``kernel``'s scratch in ``variant``."""
    if variant == "ref":
        return SIGNATURES[kernel].ref_symbol
    return f"tp_{variant}_{kernel.removeprefix('tp_')}_get_buffer_size"


def variants_for(source: str, target=None) -> tuple[str, ...]:
    """Variant directories whose build of ``source`` the scratch must fit: with a target the one
    its board builds, else every directory that holds the file."""
    root = kernels_root()
    held = [v for v in VARIANTS if (root / v / source).is_file()]
    if target is None:
        return tuple(held)
    order = (["mve"] if target.mve else []) + (["dsp"] if target.dsp else []) + ["ref"]
    chosen = next((v for v in order if v in held), None)
    return (chosen,) if chosen else ()


def scratch_bytes(kernel: str, source: str, *, input_dims=(1, 1, 1, 1), filter_dims=(1, 1, 1, 1),
                  padding=(0, 0), target=None) -> int:
    """Bytes of scratch a call of ``kernel`` (defined in ``source``) needs. Dims are NHWC
    (n, h, w, c); padding is (h, w). Kernels without a get_buffer_size need none."""
    sig = SIGNATURES.get(kernel)
    if sig is None:
        return 0
    sizes = [_call(v, kernel, sig, tuple(input_dims), tuple(filter_dims), tuple(padding))
             for v in variants_for(source, target)]
    return max(sizes, default=0)


@lru_cache(maxsize=None)
def _call(variant: str, kernel: str, sig: _Signature, input_dims, filter_dims, padding) -> int:
    name = symbol(kernel, variant)
    try:
        fn = getattr(_library(variant), name)
    except AttributeError:
        raise KernelContractError(f"{kernel} has a {variant} build but no {name}() to size its scratch") from None
    fn.restype = i32
    filt = Dims(*filter_dims)
    if sig.args == "dims":
        size = fn(C.byref(Dims(*input_dims)), C.byref(filt))
    elif sig.args == "filter":
        size = fn(C.byref(filt))
    else:
        params = _ConvParams(padding=_Tile(w=padding[1], h=padding[0]))
        size = fn(C.byref(params), C.byref(filt))
    return int(size)


def _inputs(variant: str) -> tuple[list[Path], list[str]]:
    """(files compiled, extra flags) of a variant's host library."""
    root = kernels_root()
    if variant == "ref":
        return [root / "ref" / s for s in REF_SOURCES], []
    header = root / variant / f"tp_{variant}_buffer_sizes.h"
    return [header], ["-x", "c", f"-DTP_{variant.upper()}_BUFFER_SIZES_EXTERN"]


def _key(variant: str, files: list[Path], flags: list[str], gcc: str) -> str:
    root = kernels_root()
    h = hashlib.sha256("\0".join([variant, gcc, *CFLAGS, *flags]).encode())
    for p in [*files, *sorted((root / "include").glob("*.h")), *sorted((root / variant).glob("*.h"))]:
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:24]


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for d in (Path(base) / "tinyml-prune" / "kernel-contract",
              Path(tempfile.gettempdir()) / f"tinyml-prune-kernel-contract-{os.getuid()}"):
        try:
            d.mkdir(parents=True, exist_ok=True)
            if os.access(d, os.W_OK):
                return d
        except OSError:
            continue
    raise KernelContractError("no writable cache directory for the kernels' host library "
                              "(tried ~/.cache and the temporary directory)")


@lru_cache(maxsize=None)
def _library(variant: str) -> C.CDLL:
    gcc = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("gcc")
    if gcc is None:
        raise KernelContractError("the host C compiler gcc was not found: code generation compiles the "
                                  "kernels' *_get_buffer_size functions to size their scratch; install gcc")
    files, flags = _inputs(variant)
    lib = _cache_dir() / f"libtp_sizes_{variant}_{_key(variant, files, flags, gcc)}.so"
    if not lib.exists():
        _compile(gcc, variant, files, flags, lib)
    return C.CDLL(str(lib))


def _compile(gcc: str, variant: str, files: list[Path], flags: list[str], lib: Path) -> None:
    root = kernels_root()
    tmp = lib.with_name(f"{lib.name}.{os.getpid()}.tmp")
    cmd = [gcc, *CFLAGS, f"-I{root / 'include'}", f"-I{root / variant}", *flags, *map(str, files), "-o", str(tmp)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        raise KernelContractError(f"cannot run {gcc} to size the {variant} kernels' scratch: {e}") from None
    if done.returncode != 0:
        first = next((ln for ln in done.stderr.splitlines() if "error" in ln), done.stderr.strip()[:200])
        raise KernelContractError(f"compiling the {variant} kernels' *_get_buffer_size for the host failed: {first}")
    os.replace(tmp, lib)  # atomic: concurrent processes see a whole library or none
