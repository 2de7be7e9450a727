"""The model zoo through the whole chain: size, cost and bit-exactness of every zoo model.

Run: .venv/bin/python bench/zoo.py [--models mobilenet,unet,...] [--full] [--no-qemu] [--cache DIR]
Prints a Markdown table: distinct operators, MACs, weight and arena bytes from the generated C,
exact instructions per inference on qemu-m4 (our QEMU TCG plugin, one seeded random input), and
whether the host build and the QEMU run are bit-exact with TFLite's BUILTIN_REF. A model that
cannot go through shows the one-line reason; --refusals lists every operator the code generator
refuses, per model. --full adds the full-size networks (EfficientNetB0, ResNet50, DenseNet121:
minutes each). --cache keeps the converted .tflite files between runs.
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

N_HOST = 2  # random inputs compared on the host
N_QEMU = 1


def converted(name: str, cache: Path) -> bytes:
    from tinyml_prune import zoo

    path = cache / f"{name}.tflite"
    if not path.exists():
        path.write_bytes(zoo.build_int8(name))
    return path.read_bytes()


def refusals(tflite: bytes) -> list[str]:
    """Every refusal of the code generator, not only the first: the graph check, then each
    operator's emitter on its own."""
    from tinyml_prune.codegen import CodegenOptions, read_tflite
    from tinyml_prune.codegen.generate import check_graph
    from tinyml_prune.codegen.ops import make_emitter
    from tinyml_prune.codegen.passes import run_passes
    from tinyml_prune.errors import TinymlError

    try:
        graph = run_passes(read_tflite(tflite))
        check_graph(graph, "model")
    except TinymlError as e:
        return [str(e)]
    found = []
    for op in graph.operators:
        try:
            make_emitter(op, graph, CodegenOptions())
        except TinymlError as e:
            found.append(str(e))
    return found


def _one_line(e: BaseException) -> str:
    from tinyml_prune.errors import TinymlError

    text = _strip(str(e).strip().splitlines()[0]) if str(e).strip() else ""
    return text if isinstance(e, TinymlError) else f"{type(e).__name__}: {text}"


def measure(name: str, cache: Path, work: Path, qemu: bool) -> dict:
    from tinyml_prune.codegen import generate, read_tflite
    from tinyml_prune.verify import model_io, random_inputs, verify_host

    row = {"model": name}
    t0 = time.monotonic()
    try:
        tflite = converted(name, cache)
    except Exception as e:  # a conversion failure is a result of this benchmark, not a crash
        row["error"] = f"conversion: {_one_line(e)}"
        return row
    row["convert_s"] = time.monotonic() - t0
    row["ops"] = sorted({op.opcode for op in read_tflite(tflite).operators})
    root = work / name
    try:
        info = generate(tflite, root, force=True).manifest
    except Exception as e:
        row["error"] = _one_line(e)
        return row
    row.update(macs=info["macs"], weight_bytes=info["weight_bytes"], arena_bytes=info["arena_bytes"])
    try:
        x = random_inputs((model_io(tflite)["input_bytes"],), N_HOST, seed=1)
        r = verify_host(tflite, x, workdir=work / f"{name}-host", source=name, sanitize=False)
        row["host_exact"] = r.ok
        if not r.ok:
            row["error"] = f"host: {r.mismatch}"
    except Exception as e:
        row["error"] = f"host: {_one_line(e)}"
    if qemu:
        row.update(_qemu(tflite, root))
    return row


def _qemu(tflite: bytes, root: Path) -> dict:
    from tinyml_prune.boards import load, make_board
    from tinyml_prune.errors import FitError
    from tinyml_prune.harness.profile import ProfileConfig, profile

    (root / "model.tflite").write_bytes(tflite)
    board = make_board(load("qemu-m4"), exact=True)
    try:
        board.build(root)
        r = profile(root, board, ProfileConfig(n=N_QEMU, seed=0))
    except FitError as e:
        text = str(e).split(": ", 1)[-1]
        return {"qemu_error": text if "does not fit" in text else f"does not fit: {text}"}
    except Exception as e:
        return {"qemu_error": _one_line(e)}
    return {"instructions": r["latency"]["median"], "qemu_exact": r["bit_exact"]}


def _cell(value, fmt="{:,}"):
    return "" if value is None else fmt.format(value)


def print_table(rows: list[dict], qemu: bool) -> None:
    print("| model | ops | MACs | weight B | arena B | instructions (qemu-m4) | bit-exact host | bit-exact qemu "
          "| note |")
    print("|---|---:|---:|---:|---:|---:|---|---|---|")
    for r in rows:
        note = r.get("error") or r.get("qemu_error") or ""
        instructions = _cell(r.get("instructions")) if qemu else "not run"
        print(f"| {r['model']} | {len(r['ops']) if 'ops' in r else ''} | {_cell(r.get('macs'))} | "
              f"{_cell(r.get('weight_bytes'))} | {_cell(r.get('arena_bytes'))} | {instructions} | "
              f"{_cell(r.get('host_exact'), '{}')} | {_cell(r.get('qemu_exact'), '{}')} | "
              f"{note.replace('|', '/')} |", flush=True)


def main(argv=None) -> int:
    from tinyml_prune import zoo

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=None, help="comma-separated zoo names (default: all but the full-size ones)")
    ap.add_argument("--full", action="store_true", help="include EfficientNetB0, ResNet50 and DenseNet121")
    ap.add_argument("--no-qemu", action="store_true", help="host only: no firmware build, no instruction counts")
    ap.add_argument("--cache", default=None, help="directory that keeps converted .tflite files between runs")
    ap.add_argument("--refusals", action="store_true", help="also list every refused operator per model")
    args = ap.parse_args(argv)
    names = args.models.split(",") if args.models else zoo.names(heavy=args.full)
    unknown = [n for n in names if n not in zoo.REGISTRY]
    if unknown:
        print(f"unknown zoo model(s) {', '.join(unknown)}; choose from {', '.join(zoo.REGISTRY)}", file=sys.stderr)
        return 2
    qemu = not args.no_qemu and shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")
    if not args.no_qemu and not qemu:
        print("qemu-system-arm or arm-none-eabi-gcc is missing: host only", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="bench-zoo-"))
    cache = Path(args.cache) if args.cache else work / "tflite"
    cache.mkdir(parents=True, exist_ok=True)
    try:
        rows = []
        for name in names:
            t0 = time.monotonic()
            rows.append(measure(name, cache, work, bool(qemu)))
            print(f"{name}: {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
        print_table(rows, bool(qemu))
        print()
        for r in rows:
            if "ops" in r:
                print(f"- {r['model']} ({zoo.get(r['model']).description}): {', '.join(r['ops'])}")
        if args.refusals:
            print()
            for name in names:
                path = cache / f"{name}.tflite"
                found = refusals(path.read_bytes()) if path.exists() else ["not converted"]
                print(f"- {name}: " + ("; ".join(_strip(f) for f in found) if found else "none"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _strip(text: str) -> str:
    return re.sub(r" \(supported: [^)]*\)", "", text)


if __name__ == "__main__":
    sys.exit(main())
