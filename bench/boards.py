"""Fixture models × QEMU boards: exact instructions per inference, flash, RAM, arena.

Run: .venv/bin/python bench/boards.py [--boards qemu-m4,qemu-m55] [--models kws_ref_model,...]
Prints a Markdown table. Instructions are exact (our QEMU TCG plugin); each cell is one
inference on seeded random int8 inputs, checked bit-exact against TFLite's BUILTIN_REF.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures" / "mlperf_tiny"
QEMU_BOARDS = ["qemu-m0", "qemu-m3", "qemu-m4", "qemu-m7", "qemu-m33", "qemu-m55"]
FIXTURE_MODELS = ["kws_ref_model", "ad01_int8", "str_ww_ref_model"]


def digits_tflite(work: Path) -> Path:
    from tinyml_prune import data, models
    from tinyml_prune.quantize import convert_ptq

    ds = data.load_digits()
    path = work / "digits_cnn.tflite"
    path.write_bytes(convert_ptq(models.train("cnn", ds), ds.calibration(200)))
    return path


def measure(tflite: Path, board_name: str, work: Path) -> dict:
    from tinyml_prune.boards import load, make_board
    from tinyml_prune.codegen import generate
    from tinyml_prune.errors import FitError
    from tinyml_prune.harness.profile import ProfileConfig, profile

    root = work / f"{tflite.stem}-{board_name}"
    generate(tflite.read_bytes(), root)
    board = make_board(load(board_name), exact=True)
    try:
        board.build(root)
    except FitError as e:
        return {"error": str(e).split(": ", 1)[-1]}
    r = profile(root, board, ProfileConfig(n=1, seed=0, tflite=str(tflite)))
    return {"instructions": r["latency"]["median"], "flash": r["flash_bytes"], "ram": r["ram_bytes"],
            "arena": r["arena_bytes"], "bit_exact": r["bit_exact"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", default=",".join(QEMU_BOARDS))
    ap.add_argument("--models", default="digits_cnn," + ",".join(FIXTURE_MODELS))
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-boards-"))
    try:
        models = []
        for name in args.models.split(","):
            if name == "digits_cnn":
                models.append(digits_tflite(work))
            elif (FIXTURES / f"{name}.tflite").exists():
                models.append(FIXTURES / f"{name}.tflite")
            else:
                print(f"skipping {name}: {FIXTURES / name}.tflite is absent", file=sys.stderr)
        print("| model | board | instructions/inference | flash B | RAM B | arena B | bit-exact | wall s |")
        print("|---|---|---:|---:|---:|---:|---|---:|")
        for tflite in models:
            for board in args.boards.split(","):
                t0 = time.monotonic()
                m = measure(tflite, board, work)
                wall = time.monotonic() - t0
                if "error" in m:
                    print(f"| {tflite.stem} | {board} | does not fit: {m['error']} | | | | | {wall:.1f} |")
                else:
                    print(f"| {tflite.stem} | {board} | {m['instructions']:,} | {m['flash']:,} | {m['ram']:,} | "
                          f"{m['arena']:,} | {m['bit_exact']} | {wall:.1f} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
