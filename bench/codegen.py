"""Code generator figures per model: flatbuffer bytes, generated weight bytes, arena, MACs, time.

Run: .venv/bin/python bench/codegen.py [--no-digits]
Prints a Markdown table. The digits CNN and ResNet are trained and PTQ-quantized on the fly
(about 20 s each); the MLPerf Tiny fixtures are read from ../shared/fixtures when present.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures" / "mlperf_tiny"
FIXTURE_MODELS = ["kws_ref_model", "ad01_int8", "str_ww_ref_model"]
REPEATS = 3


def digits_models() -> dict[str, bytes]:
    from tinyml_prune import data, models
    from tinyml_prune.quantize import convert_ptq

    ds = data.load_digits()
    return {f"digits_{arch}": convert_ptq(models.train(arch, ds), ds.calibration(200)) for arch in ("cnn", "resnet")}


def measure(name: str, tflite: bytes, work: Path) -> dict:
    from tinyml_prune.codegen import generate

    times = []
    for i in range(REPEATS):
        t0 = time.perf_counter()
        result = generate(tflite, work / f"{name}-{i}", source=name)
        times.append(time.perf_counter() - t0)
    m = result.manifest
    return dict(model=name, flatbuffer=len(tflite), weights=m["weight_bytes"], params=m["param_bytes"],
                arena=m["arena_bytes"], macs=m["macs"], layers=len(m["layers"]), seconds=statistics.median(times))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-digits", action="store_true", help="skip training the digits models")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    models: dict[str, bytes] = {}
    for name in FIXTURE_MODELS:
        path = FIXTURES / f"{name}.tflite"
        if path.exists():
            models[name] = path.read_bytes()
        else:
            print(f"(skipping {name}: {path} is absent)", file=sys.stderr)
    if not args.no_digits:
        models.update(digits_models())
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-codegen-") as tmp:
        for name, tflite in models.items():
            rows.append(measure(name, tflite, Path(tmp)))
    print("| model | layers | flatbuffer B | weights B | requant/table B | arena B | MACs | codegen s (median of 3) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['layers']} | {r['flatbuffer']:,} | {r['weights']:,} | {r['params']:,} | "
              f"{r['arena']:,} | {r['macs']:,} | {r['seconds']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
