"""Check the emulated tensor-core kernels on a real CUDA GPU, in one go (a few minutes).

    # where TensorFlow is (optional): real 2:4 model layers with their expected accumulators
    .venv/bin/python bench/ampere_gpu_check.py --export build/ampere_gpu_layers.npz
    # on the GPU machine (python3 + numpy + CuPy; no TensorFlow, no pytest needed)
    python3 bench/ampere_gpu_check.py [--bundle build/ampere_gpu_layers.npz] [--out DIR]

What it does, each result compared register for register with ``tinyml_prune.ampere.fragments``:
1. compiles the inline-PTX kernels (NVRTC) in both spellings, ``mma.sp`` and
   ``mma.sp::ordered_metadata``;
2. random GEMMs (2:4 with groups of 0, 1 and 2 non-zeros, full-range int32 C so that the int32
   accumulator wraps): ``mma.sp`` m16n8k32 selectors 0 and 1, m16n8k64 selector 0, dense
   ``mma.sync`` m16n8k32 — every D register equal to the emulation;
3. with ``--bundle``: the exported model layers (raw int8 input, zero point folded into the bias)
   — every accumulator equal to the emulation and to TFLite's formula in exact arithmetic;
4. timing with CUDA events, back-to-back launches: an empty kernel (the launch floor), the three
   calibration GEMMs of ``cost.CALIBRATION``, a batch sweep of KWS's pointwise layer and squares
   up to 4096³, next to the cost model's figures for this part;
5. with ``--pytest`` and pytest installed: the ``requires_gpu`` tests.
Writes ``ampere_gpu_check.json`` and ``.md`` to ``--out`` (default: the current directory) and
exits 1 if any accumulator differs.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tinyml_prune.ampere import cost  # noqa: E402
from tinyml_prune.ampere import format as fmt  # noqa: E402
from tinyml_prune.ampere import fragments as fr  # noqa: E402

SHAPES = (("m16n8k32", 0), ("m16n8k32", 1), ("m16n8k64", 0))
RANDOM_GEMMS = ((16, 32, 8), (16, 64, 8), (40, 100, 20), (64, 64, 125), (128, 640, 1), (128, 128, 36), (256, 576, 64))
BATCHES = (1, 4, 16, 64, 256)          # KWS pointwise 64x64x(125 x batch)
SQUARES = (256, 1024, 4096)
COMPARE_UP_TO = 300_000                # timed GEMMs are also compared up to this many accumulators


def random_2to4(rng, m: int, k: int) -> np.ndarray:
    w = fmt.prune_2to4(rng.integers(-128, 128, (m, k)).astype(np.int8))
    return np.where(rng.random((m, k)) < 0.3, 0, w).astype(np.int8)     # some groups keep 1 or 0


def export(path: Path) -> None:
    """Real 2:4 layers (KWS and ad01 pruned in their flatbuffers) with their expected accumulators."""
    from tinyml_prune.ampere.check import check_model
    from tinyml_prune.ampere.execute import exact_accumulators, folded_bias, im2col
    from tinyml_prune.ampere.prune import prune_model_2to4

    fixtures = REPO.parent / "shared" / "fixtures" / "mlperf_tiny"
    arrays, names = {}, []
    for model in ("kws_ref_model.tflite", "ad01_int8.tflite"):
        src = fixtures / model
        if not src.exists():
            print(f"skipping {model}: {src} is absent")
            continue
        _, checks, _ = check_model(prune_model_2to4(src), samples=4)
        for ch in checks:
            L = ch.layer
            assert ch.bit_exact, (model, L.name)
            x = np.stack(ch.inputs)
            b = im2col(L, x)
            key = f"{Path(model).stem}_op{L.op.index}"
            names.append(f"{key}: {L.op.name} {L.m}x{L.k}x{b.shape[1]} ({L.name})")
            arrays[f"{key}_w"] = L.weights
            arrays[f"{key}_b"] = b
            arrays[f"{key}_acc0"] = np.broadcast_to(folded_bias(L)[:, None], (L.m, b.shape[1])).copy()
            arrays[f"{key}_exact"] = exact_accumulators(L, b)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, names=np.array(names), **arrays)
    print(f"wrote {path}: {len(names)} layers, every one bit-exact with TFLite BUILTIN_REF on 4 inputs")


def check_random(gpus: dict, rng) -> list[dict]:
    from tinyml_prune.ampere.gpu import compare_gemm

    rows = []
    for spelling, g in gpus.items():
        for shape_name, sel in SHAPES:
            for m, k, n in RANDOM_GEMMS:
                w, b = random_2to4(rng, m, k), rng.integers(-128, 128, (k, n)).astype(np.int8)
                acc0 = rng.integers(-(1 << 31), 1 << 31, (m, n))
                r = compare_gemm(g, w, b, acc0, reps=0, shape_name=shape_name, selector=sel)
                rows.append(dict(r, spelling=spelling, shape=shape_name, selector=sel))
    return rows


def check_bundle(g, path: Path) -> list[dict]:
    from tinyml_prune.ampere.gpu import compare_gemm

    z = np.load(path)
    rows = []
    for name in z["names"]:
        key = str(name).split(":")[0]
        w, b, acc0, exact = (z[f"{key}_{s}"] for s in ("w", "b", "acc0", "exact"))
        for shape_name, sel in SHAPES:
            r = compare_gemm(g, w, b, acc0, reps=0, shape_name=shape_name, selector=sel)
            # and the GPU's accumulators against TFLite's formula, via the emulation being equal to it
            emu = fr.gemm_sparse(fmt.compress(w), b, acc0, shape_name, sel)
            r.update(layer=str(name), shape=shape_name, selector=sel,
                     emulation_vs_tflite_mismatches=int((emu != exact).sum()))
            rows.append(r)
    return rows


def timing(g, reps: int) -> dict:
    from tinyml_prune.ampere.gpu import compare_gemm

    spec = cost.part("h200-sxm")
    rng = np.random.default_rng(1)
    out = {"launch_floor_us": g.launch_floor_us(), "calibration": [], "batch_sweep": [], "squares": []}

    def one(m, k, n, compare=True):
        w, b = random_2to4(rng, m, k), rng.integers(-128, 128, (k, n)).astype(np.int8)
        acc0 = np.zeros((m, n), np.int64)
        if compare:
            r = compare_gemm(g, w, b, acc0, reps=reps)
        else:                                           # timing only: the emulation would take minutes
            a, bf, cf = fr.dense_operands(w, b, acc0)
            _, dense_us = g.run_dense(a, bf, cf, reps)
            _, sparse_us = g.run_sparse(*fr.sparse_operands(fmt.compress(w), b, acc0), reps=reps)
            r = {"m": m, "k": k, "n": n, "dense_us": dense_us, "sparse_us": sparse_us, "speedup": dense_us / sparse_us}
        io = k * n + m * n
        d = cost.gemm_time(spec, m, k, n, m * k, io, sparse=False)
        s = cost.gemm_time(spec, m, k, n, cost.sparse_weight_bytes(m, k), io, sparse=True)
        r.update(modeled_dense_us=d["seconds"] * 1e6, modeled_sparse_us=s["seconds"] * 1e6)
        return r

    for c in cost.CALIBRATION:
        out["calibration"].append(dict(one(c["m"], c["k"], c["n"]), what=c["what"], earlier_dense_us=c["dense_us"],
                                       earlier_sparse_us=c["sparse_us"]))
    for batch in BATCHES:
        out["batch_sweep"].append(dict(one(64, 64, 125 * batch, compare=64 * 125 * batch <= COMPARE_UP_TO), batch=batch))
    for size in SQUARES:
        out["squares"].append(one(size, size, size, compare=size * size <= COMPARE_UP_TO))
    return out


def markdown(res: dict) -> str:
    lines = [f"# 2:4 tensor-core check on {res['device']}", "",
             f"- random GEMMs: {res['random_accumulators']:,} accumulators, {res['random_mismatches']} differ "
             f"from the emulation ({', '.join(res['spellings'])}; k32 selectors 0/1, k64, dense mma.sync)"]
    if res.get("bundle"):
        lines.append(f"- model layers ({res['bundle']}): {res['bundle_accumulators']:,} accumulators, "
                     f"{res['bundle_mismatches']} differ from the emulation, {res['bundle_vs_tflite']} from "
                     "TFLite's formula")
    t = res["timing"]
    lines += [f"- empty kernel: {t['launch_floor_us']:.2f} µs per back-to-back launch", "",
              "| GEMM M×K×N | dense µs | 2:4 µs | speed-up | modeled dense µs (H200) | modeled 2:4 µs |",
              "|---|---|---|---|---|---|"]
    for r in t["calibration"] + t["batch_sweep"] + t["squares"]:
        lines.append(f"| {r['m']}×{r['k']}×{r['n']} | {r['dense_us']:.2f} | {r['sparse_us']:.2f} | "
                     f"{r['speedup']:.2f}× | {r['modeled_dense_us']:.2f} | {r['modeled_sparse_us']:.2f} |")
    if res.get("pytest"):
        lines += ["", "pytest -m requires_gpu:", "", "```", res["pytest"].strip()[-3000:], "```"]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--export", type=Path, help="write the model-layer bundle here (needs TensorFlow) and stop")
    ap.add_argument("--bundle", type=Path, help="model-layer bundle made by --export")
    ap.add_argument("--out", type=Path, default=Path("."))
    ap.add_argument("--reps", type=int, default=200, help="back-to-back launches per timing")
    ap.add_argument("--pytest", action="store_true", help="also run the requires_gpu tests (needs pytest)")
    args = ap.parse_args()
    if args.export:
        export(args.export)
        return 0
    from tinyml_prune.ampere.gpu import SPELLINGS, Gpu, GpuUnavailable

    t0 = time.time()
    try:
        gpus = {s: Gpu(s) for s in SPELLINGS}
    except GpuUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    g = gpus["mma.sp"]
    print(f"device: {g.label}", flush=True)
    rng = np.random.default_rng(0)
    rand = check_random(gpus, rng)
    res = {"device": g.label, "spellings": list(gpus), "random": rand,
           "random_accumulators": sum(r["accumulators"] * (2 if "sparse_mismatches" in r else 1) for r in rand),
           "random_mismatches": sum(r["dense_mismatches"] + r.get("sparse_mismatches", 0) for r in rand)}
    print(f"random GEMMs: {res['random_mismatches']} of {res['random_accumulators']:,} accumulators differ "
          f"({time.time() - t0:.0f} s)", flush=True)
    if args.bundle:
        rows = check_bundle(g, args.bundle)
        res.update(bundle=str(args.bundle), bundle_rows=rows,
                   bundle_accumulators=sum(2 * r["accumulators"] for r in rows),
                   bundle_mismatches=sum(r["dense_mismatches"] + r.get("sparse_mismatches", 0) for r in rows),
                   bundle_vs_tflite=sum(r["emulation_vs_tflite_mismatches"] for r in rows))
        print(f"model layers: {res['bundle_mismatches']} of {res['bundle_accumulators']:,} accumulators differ; "
              f"emulation vs TFLite: {res['bundle_vs_tflite']} ({time.time() - t0:.0f} s)", flush=True)
    res["timing"] = timing(g, args.reps)
    print(f"timing done ({time.time() - t0:.0f} s)", flush=True)
    if args.pytest:
        try:
            import pytest  # noqa: F401
            p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                                "-m", "requires_gpu", str(REPO / "tests" / "ampere" / "test_gpu.py")],
                               cwd=REPO, capture_output=True, text=True, timeout=300)
            res["pytest"] = p.stdout + p.stderr
        except ImportError:
            res["pytest"] = "pytest is not installed here: the requires_gpu tests were not run"
        print(res["pytest"][-1500:], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ampere_gpu_check.json").write_text(json.dumps(res, indent=1, default=float))
    md = markdown(res)
    (args.out / "ampere_gpu_check.md").write_text(md)
    print(md)
    bad = res["random_mismatches"] + res.get("bundle_mismatches", 0) + res.get("bundle_vs_tflite", 0)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
