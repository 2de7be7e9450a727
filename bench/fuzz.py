"""Fuzz `tinyml codegen` with hostile models: counts per outcome, crashing cases saved.

Run: .venv/bin/python bench/fuzz.py --cases 20000 [--seed N] [--compile 50] [--models a.tflite ...]

Seeds are the MLPerf Tiny fixtures from ../shared/fixtures (or the models given with --models).
Each case is one seeded structure-aware or byte-level
mutation (codegen/fuzz.py); it must end in a ModelError or in a generated program. Prints the
counts per outcome (ModelError by kind, accepted, accepted and compiled, crashes) and writes
every crashing case into tests/codegen/fuzz_corpus/ as edits of its seed (no model file), which
the test tier rebuilds and replays.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures" / "mlperf_tiny"
CORPUS = REPO / "tests" / "codegen" / "fuzz_corpus"


def default_models() -> list[Path]:
    return sorted(FIXTURES.glob("*.tflite"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--compile", type=int, default=50, metavar="K",
                    help="build and run K accepted cases under ASan/UBSan (spread over the run)")
    ap.add_argument("--models", type=Path, nargs="*", help="seed models (default: the MLPerf Tiny fixtures)")
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="where crashing cases are saved")
    ap.add_argument("--limit", type=float, default=10.0, help="seconds allowed per case")
    args = ap.parse_args(argv)

    from tinyml_prune.codegen import fuzz

    models = args.models or default_models()
    if not models:
        print("no seed models found", file=sys.stderr)
        return 2
    seeds = {p.name: p.read_bytes() for p in models}
    counts: Counter = Counter()
    crashes: Counter = Counter()
    compiled = compile_failed = 0
    every = max(args.cases // max(args.compile, 1), 1)
    next_build = 0  # build the first accepted case at or after this index, then wait `every` cases
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tinyml-fuzz-") as tmp:
        for i in range(args.cases):
            case = fuzz.make_case(seeds, args.seed, i)
            outcome = fuzz.run_case(case.data, limit_s=args.limit)
            counts[outcome.kind] += 1
            if outcome.crashed:
                last = outcome.message.strip().splitlines()[-1] if outcome.message.strip() else outcome.kind
                crashes[last] += 1
                fuzz.save_case(case, seeds, outcome.kind, outcome.message, args.corpus)
            elif outcome.kind == "accepted" and compiled + compile_failed < args.compile and i >= next_build:
                next_build = i + every
                error = fuzz.compile_and_run(case.data, Path(tmp) / str(i))
                if error is None:
                    compiled += 1
                else:
                    compile_failed += 1
                    counts["crash:compile-or-run"] += 1
                    fuzz.save_case(case, seeds, "compile-or-run", error, args.corpus)
            if (i + 1) % 1000 == 0:
                print(f"  {i + 1} cases, {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    total = sum(v for k, v in counts.items() if k != "crash:compile-or-run")
    print(f"{total} cases from {len(seeds)} seed models in {time.perf_counter() - t0:.0f} s")
    print("| outcome | cases |\n|---|---:|")
    for kind, n in sorted(counts.items(), key=lambda kv: (kv[0].startswith("crash"), kv[0])):
        print(f"| {kind} | {n} |")
    print(f"| accepted, compiled and run clean (ASan/UBSan) | {compiled} |")
    n_crash = sum(v for k, v in counts.items() if k.startswith("crash") or k == "timeout")
    if n_crash:
        print(f"\n{n_crash} crashing cases saved in {args.corpus}:")
        for line, n in crashes.most_common():
            print(f"  {n} x {line}")
    return 1 if n_crash else 0


if __name__ == "__main__":
    sys.exit(main())
