"""TFLite flatbuffer -> C: IR, op emitters, memory plan, Jinja2 templates, files."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import metadata
from pathlib import Path

import jinja2
import numpy as np

from tinyml_prune.artifacts import TMP_PREFIX, apply_umask, os_error_message, sweep_stale
from tinyml_prune.errors import ModelError, OutputError, OutputExistsError

from . import formats
from .formats.costmodel import Target
from .ir import Graph
from .ops import OpEmitter, make_emitter
from .passes import run_passes
from .planner import MemoryPlan, plan_memory
from .tflite_reader import read_tflite

TEMPLATES = Path(__file__).resolve().parent / "templates"
ROUNDINGS = ("tflite", "tflm")


@dataclass(frozen=True)
class CodegenOptions:
    format: str = "dense"
    # "tflite": bit-exact with TensorFlow Lite's reference kernels (FULLY_CONNECTED rounds once);
    # "tflm": gemmlowp double rounding everywhere, as TFLM and CMSIS-NN do.
    rounding: str = "tflite"
    # Convolutions whose input dies there run in place by row bands (codegen/inplace.py)
    # wherever that shrinks the arena; False keeps every activation in its own buffer.
    in_place: bool = True
    in_place_bands: int = 4  # kernel calls per in-place layer: more bands, smaller band buffer
    # Per-operator overrides of `format`: ((operator index, weight format), ...), e.g. 2:4
    # only on the layers that are 2:4 (tinyml_prune/harness/layers.py).
    layer_formats: tuple[tuple[int, str], ...] = ()
    # Model inputs and outputs live in the arena (like TFLM's input(0)/output(0)): later
    # activations reuse the input's bytes, and the firmware receives and sends them in place.
    io_in_arena: bool = True
    # The board the code is generated for (formats.costmodel.Target, from its TOML): `auto` uses
    # that board's cost calibration. None: `auto` picks a sparse format only where every
    # calibrated board predicts it cheaper than dense.
    target: Target | None = None

    def __post_init__(self):
        formats.select.check_choice(self.format)
        for index, fmt in self.layer_formats:
            if formats.select.check_choice(fmt) in formats.select.SLIMMING:
                raise ValueError(f"operator {index}: {fmt!r} is a whole-graph policy, not a per-layer format")
        if self.rounding not in ROUNDINGS:
            raise ValueError(f"rounding must be one of {ROUNDINGS}")

    @cached_property
    def weight_format(self):
        return formats.get(self.format)

    def rounding_for(self, opcode: str) -> str:
        if self.rounding == "tflite" and opcode == "FULLY_CONNECTED":
            return "TP_ROUND_SINGLE"
        return "TP_ROUND_DOUBLE"


@dataclass
class LayerView:
    """What a template sees of one layer: the emitter plus where its data lives."""

    e: OpEmitter
    name: str
    in_ptrs: list[str]
    out_ptrs: list[str]  # one per output tensor, in the operator's order
    out_sizes: list[int]
    out_name: str
    out_shape: list[int]
    macs: int
    scratch_ptr: str
    scratch_bytes: int
    bands: object = None  # inplace.BandPlan when the layer runs in place by row bands
    band_ptr: str = "NULL"

    @property
    def emitter(self) -> OpEmitter:
        return self.e

    @property
    def out_ptr(self) -> str:
        return self.out_ptrs[0]

    @property
    def out_size(self) -> int:
        return self.out_sizes[0]


@dataclass
class Program:
    graph: Graph
    emitters: list[OpEmitter]
    plan: MemoryPlan
    options: CodegenOptions
    slim: object = None  # slim.SlimResult when the format slims the graph first

    @property
    def weight_bytes(self) -> int:
        return sum(a.nbytes for e in self.emitters for a in e.arrays if a.kind == "weights")

    @property
    def param_bytes(self) -> int:
        return sum(a.nbytes for e in self.emitters for a in e.arrays if a.kind == "params")

    @property
    def macs(self) -> int:
        return sum(e.macs() for e in self.emitters)

    @property
    def kernel_sources(self) -> list[str]:
        return sorted({s for e in self.emitters for s in e.sources})

    def layer_table(self) -> list[dict]:
        rows = []
        for pos, e in enumerate(self.emitters):
            out = self.graph.tensors[e.op.outputs[0]]
            rows.append(dict(layer=pos, operator=e.op.index, op=e.op.opcode, output=out.name, shape=list(out.shape),
                             macs=e.macs(), weight_bytes=sum(a.nbytes for a in e.arrays if a.kind == "weights"),
                             param_bytes=sum(a.nbytes for a in e.arrays if a.kind == "params"),
                             scratch_bytes=e.scratch_bytes(), format=getattr(e, "weight_format", "dense"),
                             **({"predicted": e.format_predictions} if hasattr(e, "format_predictions") else {}),
                             **e.manifest_fields()))
        return rows


def check_graph(graph: Graph, source: str) -> None:
    if not graph.inputs or not graph.outputs:
        raise ModelError(f"{source} has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; "
                         "at least one of each is needed")
    for role, ids in (("input", graph.inputs), ("output", graph.outputs)):
        for k, i in enumerate(ids):
            t = graph.tensors[i]
            if t.dtype == "int8" and t.quant is not None:
                continue
            hint = " (a float model: quantize it to full-integer int8 first, e.g. `tinyml quantize`)" \
                if t.dtype == "float32" else ""
            raise ModelError(f"{source}: model {role} {k} '{t.name}' is {t.dtype}"
                             f"{'' if t.quant else ' without quantization'}; int8 inputs and outputs (or "
                             f"float ones converted by a QUANTIZE/DEQUANTIZE at the boundary) are required{hint}")
    if len(set(graph.inputs)) != len(graph.inputs) or set(graph.inputs) & set(graph.outputs):
        raise ModelError(f"{source}: a tensor is listed twice among the model's inputs and outputs")
    if not graph.operators:
        raise ModelError(f"{source} has no operators")


def build_program(graph: Graph, options: CodegenOptions, source: str = "model") -> Program:
    graph = run_passes(graph)
    check_graph(graph, source)
    slim = None
    if options.format in formats.select.SLIMMING:
        from .slim import slim_graph

        graph, slim = slim_graph(graph, options)
    emitters = [make_emitter(op, graph, options) for op in graph.operators]
    return Program(graph, emitters, plan_memory(graph, emitters, in_place=options.in_place,
                                                   bands=options.in_place_bands, io_in_arena=options.io_in_arena),
                   options, slim)


def _c_float(x) -> str:
    return float(np.float32(x)).hex() + "f"


def _c_values(array, per_line: int = 16) -> str:
    v = array.values.ravel()
    if array.ctype == "float":
        items = [_c_float(x) for x in v]
        per_line = 6
    else:
        items = [str(int(x)) for x in v]
    lines = ("    " + ", ".join(items[i:i + per_line]) + "," for i in range(0, len(items), per_line))
    return "\n".join(lines)


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             autoescape=False)
    env.filters["c_values"] = _c_values
    env.filters["c_float"] = _c_float
    return env


def _comment(text: str, limit: int = 60) -> str:
    text = text.replace("*/", "* /").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def io_offsets(graph: Graph, which: str) -> dict[int, int]:
    """Tensor index -> byte offset in the packed input (or output) buffer of tp_model_run."""
    offsets, at = {}, 0
    for i in (graph.inputs if which == "input" else graph.outputs):
        offsets[i] = at
        at += graph.tensors[i].nbytes
    return offsets


def _views(program: Program) -> list[LayerView]:
    plan, graph = program.plan, program.graph
    packed = {"input": io_offsets(graph, "input"), "output": io_offsets(graph, "output")}

    def ptr(t_index: int) -> str:
        kind, key = plan.home[t_index]
        if kind in packed:
            off = packed[kind][key]
            return f"({kind} + {off})" if off else kind
        return f"(tp_arena.bytes + {plan.offsets[key]})"

    views = []
    for pos, e in enumerate(program.emitters):
        out = graph.tensors[e.op.outputs[0]]
        in_ptrs = [ptr(t.index) for t in e.activation_inputs]
        scratch = e.scratch_bytes()
        band_off, bands = plan.bands.get(pos, (None, None))
        views.append(LayerView(
            e=e, name=e.name, in_ptrs=in_ptrs, out_ptrs=[ptr(t.index) for t in e.outputs],
            out_sizes=[t.size for t in e.outputs],
            out_name=_comment(out.name), out_shape=list(out.shape), macs=e.macs(),
            scratch_ptr=f"(tp_arena.bytes + {plan.scratch[pos]})" if scratch else "NULL", scratch_bytes=scratch,
            bands=bands, band_ptr=f"(tp_arena.bytes + {band_off})" if bands else "NULL"))
    return views


def _tf_version() -> str:
    for dist in ("tensorflow", "tensorflow-cpu"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return "unknown"


def _io(t, offset: int = 0, float_name: str | None = None) -> dict:
    return dict(size=t.size, zero_point=t.zero_point, scale=t.scale, scale_repr=repr(float(np.float32(t.scale))),
                shape=list(t.shape), name=t.name, tensor=t.index, offset=offset,
                c_name=_c_string(t.name), float_name=float_name)


def _c_string(text: str) -> str:
    """``text`` as the body of a C string literal (printable ASCII, escaped)."""
    out = []
    for ch in text:
        if ch in '"\\?':
            out.append("\\" + ch)
        elif 32 <= ord(ch) < 127:
            out.append(ch)
        else:
            out.append("\\x%02x" % (ord(ch) & 0xFF) + '""')
    return "".join(out)


def has_float_entry(graph: Graph) -> bool:
    """Every input and output of the user's model is float, converted at the boundary."""
    fi = graph.extra.get("float_io")
    return bool(fi) and len(fi["inputs"]) == len(graph.inputs) and len(fi["outputs"]) == len(graph.outputs)


def io_tensors(graph: Graph) -> dict[str, list[dict]]:
    """The model's inputs and outputs as the generated API packs them."""
    float_io = graph.extra.get("float_io", {})
    res = {}
    for which, ids in (("inputs", graph.inputs), ("outputs", graph.outputs)):
        offs = io_offsets(graph, which[:-1])
        res[which] = [_io(graph.tensors[i], offs[i], float_io.get(which, {}).get(k, {}).get("name"))
                      for k, i in enumerate(ids)]
    return res


def render(program: Program) -> dict[str, str]:
    """File name -> text of every generated C file."""
    graph = program.graph
    meta = dict(version=metadata.version("tinyml-prune"), sha256=graph.sha256, tf_version=_tf_version(),
                format=program.options.format, rounding=program.options.rounding)
    arrays = []
    for e in program.emitters:
        for a in e.arrays:
            arrays.append(dict(name=a.name, ctype=a.ctype, values=a.values, kind=a.kind,
                               comment=f"operator {e.op.index} {e.op.opcode}: {a.kind}, {a.nbytes} bytes"))
    arrays_ns = [_Obj(**a) for a in arrays]
    io = io_tensors(graph)
    if program.plan.io_in_arena:
        for t in io["inputs"] + io["outputs"]:
            t["arena_offset"] = program.plan.offsets[program.plan.home[t["tensor"]][1]]
    ctx = dict(meta=meta, layers=_views(program), plan=program.plan, arrays=arrays_ns,
               inputs=io["inputs"], outputs=io["outputs"], input=io["inputs"][0], output=io["outputs"][0],
               input_bytes=sum(t["size"] for t in io["inputs"]), output_bytes=sum(t["size"] for t in io["outputs"]),
               float_io=has_float_entry(graph))
    env = _environment()
    return {name: env.get_template(f"{name}.j2").render(**ctx)
            for name in ("model.h", "model.c", "weights.h", "weights.c")}


class _Obj:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def manifest(program: Program, wall_seconds: float) -> dict:
    g = program.graph
    io = io_tensors(g)
    return dict(
        generator=f"tinyml-prune {metadata.version('tinyml-prune')}", model_sha256=g.sha256,
        format=program.options.format, rounding=program.options.rounding, target=_target_info(program.options),
        input=io["inputs"][0], output=io["outputs"][0], inputs=io["inputs"], outputs=io["outputs"],
        float_io=g.extra.get("float_io"), arena_bytes=program.plan.arena_bytes,
        weight_bytes=program.weight_bytes, param_bytes=program.param_bytes, macs=program.macs,
        kernels=program.kernel_sources, layers=program.layer_table(), codegen_seconds=round(wall_seconds, 4),
        trace_tensors=[t for e in program.emitters for t in e.op.outputs],
        in_place={str(pos): dict(bands=len(bp.bands), band_buffer_bytes=bp.buffer_bytes)
                  for pos, (_, bp) in sorted(program.plan.bands.items())},
        sources=["model.c", "weights.c"] + [f"kernels/reference/{s}" for s in program.kernel_sources],
        include_dirs=[".", "kernels/include"],
        generator_version=metadata.version("tinyml-prune"), tf_version=_tf_version(),
        **({"slim": program.slim.to_dict()} if program.slim is not None else {}),
    )


def _target_info(options: CodegenOptions) -> dict | None:
    """The board the code was generated for and the cost table `auto` used (None: no board)."""
    t = options.target
    if t is None:
        return None
    return dict(board=t.board, core=t.core, dsp=t.dsp, mve=t.mve, cost_table=t.cost_table)


def kernel_files(program: Program) -> dict[str, Path]:
    """Destination (relative to the output dir) -> source path of the kernels the model uses."""
    from tinyml_prune.firmware import ROOT

    root = ROOT / "kernels"
    files = {f"kernels/include/{p.name}": p for p in sorted((root / "include").glob("*.h"))}
    for src in program.kernel_sources:
        files[f"kernels/reference/{src}"] = root / "ref" / src
    return files


@dataclass(frozen=True)
class CodegenResult:
    out_dir: Path
    program: Program
    files: tuple[str, ...]
    manifest: dict = field(repr=False)


def generate(tflite: bytes, out_dir: str | Path, options: CodegenOptions = CodegenOptions(),
             force: bool = False, source: str = "model") -> CodegenResult:
    """Generate the C project for ``tflite`` into ``out_dir``, complete as a set.

    Every file is first written into a staging directory inside ``out_dir``; only when all of
    them are there is the old ``manifest.json`` removed, the files renamed into place and the new
    ``manifest.json`` renamed last, so its presence implies that the set beside it is complete.
    A failure before the renames leaves the previous set untouched; staging directories left by
    a killed run are swept by the next one. Without ``force`` an existing set is refused, but
    files without a ``manifest.json`` (an interrupted run's leftovers) are replaced."""
    t0 = time.perf_counter()
    program = build_program(read_tflite(tflite, source), options, source)
    texts = render(program)
    out = Path(out_dir)
    kernels = kernel_files(program)
    targets = list(texts) + list(kernels) + ["manifest.json"]
    if not force and (out / "manifest.json").exists():
        existing = [t for t in targets if (out / t).exists()]
        raise OutputExistsError(f"{out / existing[0]} already exists; pass --force to overwrite it")
    info = manifest(program, time.perf_counter() - t0)
    files = {**texts, **{dest: src.read_text() for dest, src in kernels.items()},
             "manifest.json": json.dumps(info, indent=2) + "\n"}
    _write_set(out, files)
    return CodegenResult(out, program, tuple(targets), info)


def _write_set(out: Path, files: dict[str, str]) -> None:
    """Stage ``files`` (relative path -> text) inside ``out``, then rename them in, manifest last."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        sweep_stale(out)
        stage = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", suffix="-codegen", dir=out))
    except OSError as e:
        raise OutputError(f"cannot write into {out}: {os_error_message(e)}") from None
    try:
        for name, text in files.items():
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            (stage / name).write_bytes(text.encode("utf-8"))
        apply_umask(stage)
        (out / "manifest.json").unlink(missing_ok=True)  # from here on the set is visibly incomplete
        for name in [n for n in files if n != "manifest.json"] + ["manifest.json"]:
            dest = out / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / name, dest)
    except OSError as e:
        raise OutputError(f"cannot write the generated C into {out}: {os_error_message(e)}") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
