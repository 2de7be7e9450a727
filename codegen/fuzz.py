"""A seeded, structure-aware mutator of TFLite flatbuffers, and the outcome of one case.

Hostile inputs for ``tinyml codegen``: a valid seed model is parsed into the schema's object
API, one to three named mutations are applied (options swapped or removed, indices out of range
or negative, quantization vectors shortened, scales 0/NaN/negative, zero points out of range,
buffer lengths off by one, graph rewiring, ...), and the result is packed again; a fraction of
cases are instead byte-level mutations of the packed file. Every case must end in a
:class:`ModelError` or in a generated program; anything else is a crash.

The same cases (``case(seeds, seed, index)``) serve the test tier and the longer bench run.
"""
from __future__ import annotations

import random
import signal
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml_prune.errors import ModelError, UnsupportedOpError

from .validate import InvalidModelError, _enum, _schema

HOSTILE_INTS = (-2 ** 31, -2 ** 15, -129, -3, -2, -1, 0, 1, 2, 3, 7, 99, 127, 128, 255, 256, 2 ** 15, 2 ** 31 - 1)
HOSTILE_FLOATS = (0.0, -0.0, -1.0, float("nan"), float("inf"), float("-inf"), 1e-45, 1e-30, 1e30, 3.4e38)
HOSTILE_ZERO_POINTS = (200, -1000, 2 ** 31, 2 ** 62, -129, 128, 127, -128, 1, -1)


class CaseTimeout(Exception):
    pass


# -- packing ---------------------------------------------------------------------------------
def parse(data: bytes):
    return _schema().ModelT.InitFromPackedBuf(bytearray(data), 0)


def pack(model) -> bytes:
    import flatbuffers

    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


# -- structure-aware mutations: each takes (model, rng) and returns a description or None ------
def _sg(m):
    return m.subgraphs[0]


def _ops(m):
    return _sg(m).operators or []


def _tensors(m):
    return _sg(m).tensors or []


def _pick_index(rng, n: int) -> int:
    return rng.choice((-1, -2, -3, n, n + 5, 2 ** 31 - 1, -2 ** 31, rng.randrange(max(n, 1))))


def _vec(v) -> list:
    return [] if v is None else [int(x) for x in v]


def options_swap(m, rng):
    ops = _ops(m)
    if not ops:
        return None
    k = rng.randrange(len(ops))
    names = {v: n for n, v in _enum(_schema().BuiltinOptions).items() if n != "NONE"}
    code = rng.choice(sorted(names))
    ops[k].builtinOptionsType = code
    ops[k].builtinOptions = getattr(_schema(), names[code] + "T")()
    return f"operator {k} options -> {names[code]}"


def options_remove(m, rng):
    ops = [k for k, op in enumerate(_ops(m)) if op.builtinOptionsType]
    if not ops:
        return None
    k = rng.choice(ops)
    op = _ops(m)[k]
    if rng.random() < 0.5:
        op.builtinOptionsType, op.builtinOptions = 0, None
        return f"operator {k} options removed"
    op.builtinOptions = None  # type kept, table gone
    return f"operator {k} options table removed"


def options_field(m, rng):
    cands = [(k, f) for k, op in enumerate(_ops(m)) if op.builtinOptions is not None
             for f, v in vars(op.builtinOptions).items()
             if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not cands:
        return None
    k, f = rng.choice(cands)
    o = _ops(m)[k].builtinOptions
    v = rng.choice(HOSTILE_FLOATS) if isinstance(getattr(o, f), float) else rng.choice(HOSTILE_INTS)
    setattr(o, f, v)
    return f"operator {k} {f} = {v!r}"


def op_index(m, rng):
    ops = _ops(m)
    if not ops:
        return None
    k = rng.randrange(len(ops))
    field = rng.choice(("inputs", "outputs"))
    ids = _vec(getattr(ops[k], field))
    if not ids:
        return None
    j = rng.randrange(len(ids))
    ids[j] = _pick_index(rng, len(_tensors(m)))
    setattr(ops[k], field, np.array(ids, dtype=np.int32))
    return f"operator {k} {field}[{j}] = {ids[j]}"


def op_arity(m, rng):
    ops = _ops(m)
    if not ops:
        return None
    k = rng.randrange(len(ops))
    field = rng.choice(("inputs", "outputs"))
    ids = _vec(getattr(ops[k], field))
    if ids and rng.random() < 0.5:
        ids.pop(rng.randrange(len(ids)))
        what = "dropped"
    else:
        ids.append(rng.choice((-1, rng.randrange(max(len(_tensors(m)), 1)))))
        what = "added"
    setattr(ops[k], field, np.array(ids, dtype=np.int32))
    return f"operator {k} {field} entry {what}"


def graph_io(m, rng):
    sg = _sg(m)
    field = rng.choice(("inputs", "outputs"))
    ids = _vec(getattr(sg, field))
    n = len(_tensors(m))
    r = rng.random()
    if ids and r < 0.5:
        j = rng.randrange(len(ids))
        ids[j] = rng.randrange(n) if rng.random() < 0.6 else _pick_index(rng, n)
    elif ids and r < 0.7:
        ids.pop()
    else:
        ids.append(rng.randrange(max(n, 1)))
    setattr(sg, field, np.array(ids, dtype=np.int32))
    return f"model {field} = {ids}"


def rewire(m, rng):
    """An operator reads a tensor written later, or writes one another operator writes."""
    ops = _ops(m)
    if len(ops) < 2:
        return None
    a, b = sorted(rng.sample(range(len(ops)), 2))
    if rng.random() < 0.5:
        ins = _vec(ops[a].inputs)
        outs = _vec(ops[b].outputs)
        if not ins or not outs:
            return None
        ins[0] = rng.choice(outs)
        ops[a].inputs = np.array(ins, dtype=np.int32)
        return f"operator {a} reads the output of operator {b}"
    outs_a, outs_b = _vec(ops[a].outputs), _vec(ops[b].outputs)
    if not outs_a or not outs_b:
        return None
    outs_b[0] = outs_a[0]
    ops[b].outputs = np.array(outs_b, dtype=np.int32)
    return f"operator {b} writes operator {a}'s output"


def op_order(m, rng):
    ops = _ops(m)
    if len(ops) < 2:
        return None
    r = rng.random()
    if r < 0.4:
        a, b = rng.sample(range(len(ops)), 2)
        ops[a], ops[b] = ops[b], ops[a]
        return f"operators {a} and {b} swapped"
    if r < 0.7:
        k = rng.randrange(len(ops))
        del ops[k]
        return f"operator {k} deleted"
    k = rng.randrange(len(ops))
    ops.insert(k, ops[k])
    return f"operator {k} duplicated"


def opcode(m, rng):
    ops, codes = _ops(m), m.operatorCodes or []
    if not ops:
        return None
    k = rng.randrange(len(ops))
    if rng.random() < 0.5 or not codes:
        ops[k].opcodeIndex = rng.choice((len(codes), len(codes) + 7, 2 ** 32 - 1))
        return f"operator {k} opcode index {ops[k].opcodeIndex}"
    c = codes[rng.randrange(len(codes))]
    c.builtinCode = rng.choice(sorted(_enum(_schema().BuiltinOperator).values()) + [250, 4000])
    c.deprecatedBuiltinCode = min(c.builtinCode, 127)
    return f"opcode -> {c.builtinCode}"


def _quantized(m):
    return [i for i, t in enumerate(_tensors(m)) if t.quantization is not None and t.quantization.scale is not None
            and len(t.quantization.scale)]


def quant_shorten(m, rng):
    ts = _quantized(m)
    if not ts:
        return None
    i = rng.choice(ts)
    q = _tensors(m)[i].quantization
    field = rng.choice(("scale", "zeroPoint"))
    v = getattr(q, field)
    if v is None or len(v) == 0:
        return None
    setattr(q, field, np.asarray(v)[:-1] if rng.random() < 0.7 else np.concatenate([np.asarray(v), np.asarray(v)[:1]]))
    return f"tensor {i} {field} length {len(v)} -> {len(getattr(q, field))}"


def quant_scale(m, rng):
    ts = _quantized(m)
    if not ts:
        return None
    i = rng.choice(ts)
    q = _tensors(m)[i].quantization
    s = np.asarray(q.scale, dtype=np.float32).copy()
    j = rng.randrange(len(s))
    s[j] = rng.choice(HOSTILE_FLOATS + (-float(s[j]), float(s[j]) * 1e6, float(s[j]) * 1e-6))
    q.scale = s
    return f"tensor {i} scale[{j}] = {float(s[j])!r}"


def quant_zero_point(m, rng):
    ts = _quantized(m)
    if not ts:
        return None
    i = rng.choice(ts)
    q = _tensors(m)[i].quantization
    zp = _vec(q.zeroPoint)
    if not zp:
        return None
    j = rng.randrange(len(zp))
    zp[j] = rng.choice(HOSTILE_ZERO_POINTS)
    q.zeroPoint = np.array(zp, dtype=np.int64)
    return f"tensor {i} zero_point[{j}] = {zp[j]}"


def quant_axis(m, rng):
    ts = _quantized(m)
    if not ts:
        return None
    i = rng.choice(ts)
    t = _tensors(m)[i]
    rank = len(_vec(t.shape))
    t.quantization.quantizedDimension = rng.choice((-1, rank, rank + 3, rng.randrange(max(rank, 1))))
    return f"tensor {i} quantized dimension {t.quantization.quantizedDimension}"


def buffer_length(m, rng):
    bufs = [b for b, buf in enumerate(m.buffers or []) if buf.data is not None and len(buf.data)]
    if not bufs:
        return None
    b = rng.choice(bufs)
    d = np.asarray(m.buffers[b].data, dtype=np.uint8)
    delta = rng.choice((-1, 1, -4, 4, -len(d)))
    m.buffers[b].data = d[:delta] if delta < 0 else np.concatenate([d, np.zeros(delta, np.uint8)])
    return f"buffer {b} length {len(d)} -> {len(m.buffers[b].data)}"


def tensor_buffer(m, rng):
    ts = _tensors(m)
    if not ts:
        return None
    i = rng.randrange(len(ts))
    n = len(m.buffers or [])
    ts[i].buffer = rng.choice((0, n, n + 3, 2 ** 32 - 1, rng.randrange(max(n, 1))))
    return f"tensor {i} buffer {ts[i].buffer}"


def tensor_shape(m, rng):
    ts = _tensors(m)
    if not ts:
        return None
    i = rng.randrange(len(ts))
    shape = _vec(ts[i].shape)
    if shape and rng.random() < 0.8:
        j = rng.randrange(len(shape))
        shape[j] = rng.choice((0, -1, shape[j] + 1, max(shape[j] - 1, 0), 2 ** 31 - 1, 1))
    elif shape and rng.random() < 0.5:
        shape.pop()
    else:
        shape.append(1)
    ts[i].shape = np.array(shape, dtype=np.int32)
    return f"tensor {i} shape {shape}"


def tensor_type(m, rng):
    ts = _tensors(m)
    if not ts:
        return None
    i = rng.randrange(len(ts))
    ts[i].type = rng.choice(sorted(_enum(_schema().TensorType).values()) + [99, 127])
    return f"tensor {i} type {ts[i].type}"


MUTATIONS = {f.__name__: f for f in (
    options_swap, options_remove, options_field, op_index, op_arity, graph_io, rewire, op_order, opcode,
    quant_shorten, quant_scale, quant_zero_point, quant_axis, buffer_length, tensor_buffer, tensor_shape,
    tensor_type)}


def byte_mutation(data: bytes, rng) -> tuple[bytes, str]:
    d = bytearray(data)
    r = rng.random()
    if r < 0.5:
        n = rng.choice((1, 2, 4, 16))
        for _ in range(n):
            d[rng.randrange(8, len(d))] = rng.randrange(256)
        return bytes(d), f"{n} random bytes"
    if r < 0.8:
        at = rng.randrange(8, len(d) - 4) // 4 * 4
        v = rng.choice((0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, rng.randrange(2 ** 32)))
        d[at:at + 4] = v.to_bytes(4, "little")
        return bytes(d), f"word at {at} = {v:#x}"
    keep = rng.randrange(8, len(d))
    return bytes(d[:keep]), f"truncated to {keep} bytes"


# -- cases -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str  # "<seed name>#<index>"
    data: bytes
    mutations: tuple[str, ...]


def make_case(seeds: dict[str, bytes], seed: int, index: int, byte_fraction: float = 0.15) -> Case:
    """Case ``index`` of run ``seed``: deterministic given the seed models."""
    rng = random.Random(f"{seed}:{index}")
    name = sorted(seeds)[rng.randrange(len(seeds))]
    base = seeds[name]
    if rng.random() < byte_fraction:
        data, what = byte_mutation(base, rng)
        return Case(f"{name}#{index}", data, (what,))
    m = parse(base)
    done = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        fn = MUTATIONS[rng.choice(sorted(MUTATIONS))]
        what = fn(m, rng)
        if what is not None:
            done.append(f"{fn.__name__}: {what}")
    try:
        data = pack(m)
    except Exception as e:  # a value the packer cannot store (e.g. 2^62 in an int32 slot)
        data, done = base, done + [f"unpackable ({type(e).__name__}), seed unchanged"]
    return Case(f"{name}#{index}", data, tuple(done))


@contextmanager
def time_limit(seconds: float):
    """Raise :class:`CaseTimeout` after ``seconds`` (main thread, POSIX; no-op elsewhere)."""
    try:
        old = signal.signal(signal.SIGALRM, _alarm)
    except ValueError:  # not the main thread
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _alarm(signum, frame):
    raise CaseTimeout()


@dataclass
class Outcome:
    kind: str  # "accepted", "rejected:<kind>", "unsupported", "model-error", "timeout", "crash:<type>"
    message: str
    seconds: float
    program: object = None  # the generated Program when accepted

    @property
    def crashed(self) -> bool:
        return self.kind.startswith("crash:") or self.kind == "timeout"


def classify(error: BaseException) -> str:
    if isinstance(error, InvalidModelError):
        return f"rejected:{error.kind}"
    if isinstance(error, UnsupportedOpError):
        return "unsupported"
    if isinstance(error, ModelError):
        return "model-error"
    return f"crash:{type(error).__name__}"


def run_case(data: bytes, limit_s: float = 10.0, options=None) -> Outcome:
    """Read, validate, build and render ``data`` in process; classify what happened."""
    from .generate import CodegenOptions, build_program, render
    from .tflite_reader import read_tflite

    t0 = time.perf_counter()
    try:
        with time_limit(limit_s):
            program = build_program(read_tflite(data, "fuzz"), options or CodegenOptions(), "fuzz")
            render(program)
    except CaseTimeout:
        return Outcome("timeout", f"over {limit_s} s", time.perf_counter() - t0)
    except Exception as e:  # noqa: BLE001 - classifying is the point
        kind = classify(e)
        msg = str(e) if not kind.startswith("crash:") else "".join(
            traceback.format_exception(type(e), e, e.__traceback__)[-4:])
        return Outcome(kind, msg, time.perf_counter() - t0)
    return Outcome("accepted", "", time.perf_counter() - t0, program)


def compile_and_run(data: bytes, workdir, sanitize: bool = True, runs: int = 2) -> str | None:
    """Generate C for an accepted ``data``, build it with the host gcc (-Werror, and ASan/UBSan
    with ``sanitize``) and run ``runs`` random inputs; None on success, else what failed."""
    from pathlib import Path

    from tinyml_prune.verify.host import compile_host, run_host  # the host tier sits above codegen

    from .generate import generate

    workdir = Path(workdir)
    try:
        result = generate(data, workdir / "gen", force=True, source="fuzz")
        exe = compile_host(workdir / "gen", workdir / "model", sanitize=sanitize)
        size = sum(t["size"] for t in result.manifest["inputs"])
        inputs = np.random.default_rng(0).integers(-128, 128, (runs, size))
        run_host(exe, inputs, workdir)
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"
    return None


CORPUS_SUFFIX = ".case.json"


def diff_bytes(base: bytes, data: bytes) -> list:
    """``data`` as edits of ``base``: [[offset in base, bytes removed, hex inserted], ...]."""
    import difflib

    ops = difflib.SequenceMatcher(None, base, data, autojunk=False).get_opcodes()
    return [[i1, i2 - i1, data[j1:j2].hex()] for tag, i1, i2, j1, j2 in ops if tag != "equal"]


def patch_bytes(base: bytes, edits: list) -> bytes:
    out, at = bytearray(), 0
    for offset, removed, inserted in edits:
        out += base[at:offset] + bytes.fromhex(inserted)
        at = offset + removed
    return bytes(out + base[at:])


def save_case(case: Case, seeds: dict[str, bytes], outcome_kind: str, message: str, corpus_dir) -> Path:
    """Store a failing case as ``<sha>.case.json``: the edits that turn its seed model into it (no
    model file is stored; seeds are regenerated or read where they live), plus a ``.txt`` saying
    how it was made and how it failed."""
    import hashlib
    import json
    corpus = Path(corpus_dir)
    corpus.mkdir(parents=True, exist_ok=True)
    seed = case.name.split("#", 1)[0]
    digest = hashlib.sha256(case.data).hexdigest()
    path = corpus / f"{digest[:16]}{CORPUS_SUFFIX}"
    path.write_text(json.dumps(dict(seed=seed, seed_sha256=hashlib.sha256(seeds[seed]).hexdigest(), sha256=digest,
                                    edits=diff_bytes(seeds[seed], case.data))) + "\n")
    (corpus / f"{digest[:16]}.txt").write_text(
        f"case: {case.name}\nmutations:\n" + "".join(f"  {m}\n" for m in case.mutations)
        + f"outcome: {outcome_kind}\n{message}\n")
    return path


def load_case(path, seeds: dict[str, bytes]) -> bytes:
    """A stored case's model bytes, rebuilt from its seed (both checked against their hashes)."""
    import hashlib
    import json
    rec = json.loads(Path(path).read_text())
    base = seeds.get(rec["seed"])
    if base is None or hashlib.sha256(base).hexdigest() != rec["seed_sha256"]:
        raise ValueError(f"{Path(path).name}: its seed model {rec['seed']!r} is not available as it was")
    data = patch_bytes(base, rec["edits"])
    if hashlib.sha256(data).hexdigest() != rec["sha256"]:
        raise ValueError(f"{Path(path).name}: the rebuilt case does not match its hash")
    return data


def corpus_files(corpus_dir) -> list:
    d = Path(corpus_dir)
    return sorted(d.glob(f"*{CORPUS_SUFFIX}")) if d.is_dir() else []
