"""A minimal QEMU test runner for kernel variants (independent of the board harness).

Cases (a layer, its input and the host reference kernels' output) are rendered into one
bare-metal program that runs each kernel between the instruction-count markers and
prints ``case N ok`` or the first mismatch through semihosting. The kernel sources are
the reference directory overridden file by file by the variant's same-named files — the
selection the board build makes.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np

from tinyml_prune.codegen import formats as F
from tinyml_prune.codegen.ops.conv import VARIANTS, choose_variant

from . import ckernels as K

HERE = Path(__file__).resolve().parent / "qemu"

# core -> (gcc flags, QEMU machine, flash origin, RAM origin)
CORES = {
    "m4": (["-mcpu=cortex-m4"], "mps2-an386", 0x0, 0x20000000),
    "m7": (["-mcpu=cortex-m7"], "mps2-an500", 0x0, 0x20000000),
    "m33": (["-mcpu=cortex-m33"], "mps2-an505", 0x10000000, 0x38000000),
    "m55": (["-mcpu=cortex-m55"], "mps3-an547", 0x0, 0x20000000),
}


def tools_available() -> bool:
    return all(shutil.which(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm"))


def variant_sources(variant: str) -> list[Path]:
    """Reference kernels, each replaced by the variant's file of the same name."""
    chosen = {p.name: p for p in (K.KERNELS / "ref").glob("*.c")}
    if variant != "ref":
        vdir = K.KERNELS / variant
        if not vdir.is_dir():
            raise ValueError(f"unknown kernel variant {variant!r}")
        chosen.update({p.name: p for p in vdir.glob("*.c")})
    return sorted(chosen.values())


@dataclass
class Case:
    kernel: str
    call: str
    setup: str
    din: tuple
    dw: tuple
    dout: tuple
    per_channel: int
    rounding: int
    expected: np.ndarray
    arrays: list = field(default_factory=list)

    @property
    def out_size(self) -> int:
        return int(self.expected.size)


def _arr(name, values):
    v = np.asarray(values).reshape(-1)
    return {"name": name, "ctype": F.C_TYPES[v.dtype], "data": [int(t) for t in v]}


def _common(layer, x, expected):
    return [_arr("x", x), _arr("bias", layer.bias), _arr("mult", layer.mult), _arr("shift", layer.shift),
            _arr("expected", expected)]


def _sparse_setup(fmt, enc, i):
    a = enc.arrays
    if fmt == "csr":
        c8 = f"c{i}_cols" if a["cols"].dtype == np.uint8 else "NULL"
        c16 = f"c{i}_cols" if a["cols"].dtype == np.uint16 else "NULL"
        return f"const tp_csr f = {{c{i}_values, {c8}, {c16}, c{i}_row_len}};"
    if fmt == "bitmask":
        return f"const tp_bitmask f = {{c{i}_values, c{i}_mask}};"
    return f"const tp_nm f = {{c{i}_values, c{i}_index, {enc.params['n']}, {enc.params['m']}}};"


def layer_variant(layer, rows: np.ndarray, generic: str | None = None) -> str:
    """The TP_VARIANT_* the code generator would choose for ``layer`` (filter as rows x taps)."""
    return VARIANTS[choose_variant(rows, layer.bias, layer.shift, layer.in_off, generic)[0]]


def fc_case(i, lib, layer, x, fmt="dense") -> Case:
    expected = K.run_fc(lib, layer, x, "dense")
    rows, depth = x.shape
    oc = layer.w.shape[0]
    act = f"{{{layer.act[0]}, {layer.act[1]}}}"
    var = layer_variant(layer, layer.w.reshape(layer.w.shape[0], -1))
    setup = f"const tp_fc_params p = {{{layer.in_off}, 0, {layer.out_off}, {act}, {var}}};"
    arrays = _common(layer, x, expected)
    if fmt == "dense":
        arrays.append(_arr("w", layer.w))
        call = f"tp_fully_connected_s8(&ctx, &p, &q, &din, c{i}_x, &dw, c{i}_w, &db, c{i}_bias, &dout, out_buf)"
    else:
        enc = F.get(fmt).encode(layer.w)
        arrays += [_arr(k, v) for k, v in enc.arrays.items()]
        arrays[1] = _arr("bias", layer.folded_bias())
        setup += "\n        " + _sparse_setup(fmt, enc, i)
        call = f"tp_fully_connected_{fmt}_s8(&ctx, &p, &q, &din, c{i}_x, &dw, &f, &db, c{i}_bias, &dout, out_buf)"
    return Case(f"fc {fmt} {rows}x{depth}->{oc}", call, setup, (rows, 1, 1, depth), (oc, 1, 1, depth),
                (rows, 1, 1, oc), int(layer.mult.size > 1), layer.rounding, expected, arrays)


def conv_case(i, lib, layer, x, geom, fmt="dense", variant: str | None = None) -> Case:
    expected = K.run_conv(lib, layer, x, **geom)
    (sh, sw), (ph, pw), (dh, dw_) = geom["stride"], geom["padding"], geom["dilation"]
    act = f"{{{layer.act[0]}, {layer.act[1]}}}"
    # the optimized convolution loops requantize with double rounding (TFLite's CONV_2D)
    single = "single rounding" if layer.rounding == 1 else None
    var = variant or layer_variant(layer, layer.w.reshape(layer.w.shape[0], -1), single)
    setup = (f"const tp_conv_params p = {{{layer.in_off}, {layer.out_off}, {{{sw}, {sh}}}, {{{pw}, {ph}}}, "
             f"{{{dw_}, {dh}}}, {act}, {var}}};")
    arrays = _common(layer, x, expected)
    if fmt == "dense":
        arrays.append(_arr("w", layer.w))
        call = f"tp_convolve_s8(&ctx, &p, &q, &din, c{i}_x, &dw, c{i}_w, &db, c{i}_bias, &dout, out_buf)"
    else:
        enc = F.get(fmt).encode(layer.w)
        arrays += [_arr(k, v) for k, v in enc.arrays.items()]
        arrays[1] = _arr("bias", layer.folded_bias())
        setup += "\n        " + _sparse_setup(fmt, enc, i)
        call = f"tp_convolve_{fmt}_s8(&ctx, &p, &q, &din, c{i}_x, &dw, &f, &db, c{i}_bias, &dout, out_buf)"
    oc, kh, kw, cin = layer.w.shape
    return Case(f"conv {fmt} {x.shape}->{expected.shape} k{kh}x{kw}", call, setup, x.shape, (oc, kh, kw, cin),
                expected.shape, int(layer.mult.size > 1), layer.rounding, expected, arrays)


def dw_case(i, lib, layer, x, geom, ch_mult=1, variant: str | None = None) -> Case:
    expected = K.run_dw(lib, layer, x, ch_mult=ch_mult, **geom)
    (sh, sw), (ph, pw), (dh, dw_) = geom["stride"], geom["padding"], geom["dilation"]
    act = f"{{{layer.act[0]}, {layer.act[1]}}}"
    _, kh, kw, oc = layer.w.shape
    generic = "multiplier, taps or single rounding" if ch_mult != 1 or kh * kw > 64 or layer.rounding == 1 else None
    var = variant or layer_variant(layer, layer.w.reshape(-1, oc).T, generic)
    setup = (f"const tp_dw_conv_params p = {{{layer.in_off}, {layer.out_off}, {ch_mult}, {{{sw}, {sh}}}, "
             f"{{{pw}, {ph}}}, {{{dw_}, {dh}}}, {act}, {var}}};")
    arrays = _common(layer, x, expected) + [_arr("w", layer.w)]
    call = f"tp_depthwise_conv_s8(&ctx, &p, &q, &din, c{i}_x, &dw, c{i}_w, &db, c{i}_bias, &dout, out_buf)"
    _, kh, kw, oc = layer.w.shape
    return Case(f"dw {x.shape}->{expected.shape} k{kh}x{kw} m{ch_mult}", call, setup, x.shape, (1, kh, kw, oc),
                expected.shape, int(layer.mult.size > 1), layer.rounding, expected, arrays)


@dataclass
class Result:
    ok: list[bool]
    instructions: list[int]
    output: str


def run(cases: list[Case], variant: str, core: str, work: Path, timeout: float = 120) -> Result:
    from tinyml_prune.boards.insn_count import InsnCounter

    flags, machine, flash, ram = CORES[core]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    src = env.get_template("cases.c.j2").render(
        cases=cases, max_out=max(c.out_size for c in cases), max_scratch=4096)
    work.mkdir(parents=True, exist_ok=True)
    (work / "cases.c").write_text(src)
    elf = work / f"test_{variant}_{core}.elf"
    vdir = K.KERNELS / variant
    cmd = ["arm-none-eabi-gcc", *flags, "-mthumb", "-mfloat-abi=soft", "-O2", "-std=c99", "-Wall", "-Wextra",
           "-Werror", "-ffunction-sections", "-fdata-sections", f"-I{vdir}", f"-I{K.KERNELS / 'include'}",
           f"-I{K.KERNELS / 'ref'}", str(HERE / "startup.c"), str(work / "cases.c"),
           *map(str, variant_sources(variant)), "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
           f"-Wl,--defsym=TR_FLASH={flash:#x},--defsym=TR_RAM={ram:#x}", f"-T{HERE / 'link.ld'}",
           "-Wl,--gc-sections", "-o", str(elf)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"building the {variant} test firmware for {core} failed:\n{r.stderr[-3000:]}")
    counter = InsnCounter(elf, work / "counts.txt")
    qemu = ["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none", "-serial", "null",
            "-semihosting-config", "enable=on,target=native", *counter.qemu_args(), "-kernel", str(elf)]
    proc = subprocess.run(qemu, capture_output=True, text=True, timeout=timeout)
    ok = [False] * len(cases)
    for m in re.finditer(r"case (\d+) (ok|FAIL)", proc.stdout + proc.stderr):
        ok[int(m.group(1))] = m.group(2) == "ok"
    return Result(ok, counter.counts(), proc.stdout + proc.stderr)
