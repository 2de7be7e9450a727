"""Instructions per MAC of the dense int8 kernels, per layer class, exactly on QEMU.

Run: .venv/bin/python bench/kernels.py [--board qemu-m4] [--zoo mobilenet,resnet_mini,...] [--only pointwise,...]
     [--json out.json] [--cache DIR]

Builds one small Keras model per layer class (a single layer after the input: 1x1 pointwise,
3x3 conv, the Cin = 3 and Cin = 1 stems, depthwise 3x3 stride 1 and 2, fully connected,
AVERAGE_POOL_2D, MEAN, ADD, MUL, MUL by a squeeze-and-excite gate), converts it to int8, generates the C, builds the per-layer
profiling firmware and counts each layer's instructions exactly (QEMU TCG plugin, one seeded
input, output compared with TFLite's BUILTIN_REF). --zoo adds whole zoo models, their layers
sorted into the same classes. Prints per layer and per class: instructions, MACs (for pooling,
MEAN and elementwise ops: output values) and instructions per MAC, with the kernel variant and
loop the code generator chose.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# The targets (instructions per MAC on qemu-m4, dense int8).
TARGETS = {"pointwise": 1.3, "conv3x3": 1.8, "stem": 2.5, "depthwise3x3": 2.5, "fc": 1.3}


def _single_layer(name: str):
    """(input shape, builder) of the single-layer model of class ``name``."""
    from tinyml_prune.zoo import L, keras

    def seq(shape, *layers):
        def build():
            x = inp = keras.Input(shape)
            for layer in layers:
                x = layer(x)
            return keras.Model(inp, x)
        return shape, build

    def two(shape, combine):
        def build():
            inp = keras.Input(shape)
            y = L.Conv2D(shape[-1], 1, activation="relu")(inp)
            return keras.Model(inp, combine()([inp, y]))
        return shape, build

    def se(shape):
        """A squeeze-and-excite gate: x times a per-channel [1, 1, C] operand (MUL broadcasts)."""
        def build():
            inp = keras.Input(shape)
            gate = L.GlobalAveragePooling2D(keepdims=True)(inp)
            gate = L.Conv2D(shape[-1], 1, activation="sigmoid")(gate)
            return keras.Model(inp, L.Multiply()([inp, gate]))
        return shape, build

    table = {
        "pointwise": lambda: seq((12, 12, 64), L.Conv2D(64, 1, activation="relu")),
        "pointwise-6x6x128": lambda: seq((6, 6, 128), L.Conv2D(128, 1, activation="relu")),
        "conv3x3": lambda: seq((12, 12, 32), L.Conv2D(32, 3, padding="same", activation="relu")),
        "stem-rgb": lambda: seq((48, 48, 3), L.Conv2D(8, 3, strides=2, padding="same", activation="relu")),
        "stem-mono": lambda: seq((32, 32, 1), L.Conv2D(8, 3, padding="same", activation="relu")),
        "depthwise3x3-s1": lambda: seq((24, 24, 32), L.DepthwiseConv2D(3, padding="same", activation="relu")),
        "depthwise3x3-s2": lambda: seq((24, 24, 32), L.DepthwiseConv2D(3, strides=2, padding="same",
                                                                         activation="relu")),
        "fc": lambda: seq((256,), L.Dense(64, activation="relu")),
        "average_pool": lambda: seq((12, 12, 32), L.AveragePooling2D(2)),
        "mean": lambda: seq((6, 6, 128), L.GlobalAveragePooling2D()),
        "add": lambda: two((12, 12, 32), L.Add),
        "mul": lambda: two((12, 12, 32), L.Multiply),
        "mul-se": lambda: se((12, 12, 32)),
    }
    return table[name]()


SINGLE = ("pointwise", "pointwise-6x6x128", "conv3x3", "stem-rgb", "stem-mono", "depthwise3x3-s1",
          "depthwise3x3-s2", "fc", "average_pool", "mean", "add", "mul", "mul-se")
# Models whose other layers only make an operand: only their ADD / MUL is counted.
ELEMENTWISE = ("add", "mul", "mul-se")


def convert_single(name: str, cache: Path) -> bytes:
    path = cache / f"layer-{name}.tflite"
    if not path.exists():
        from tinyml_prune import zoo

        shape, build = _single_layer(name)
        zoo.keras.backend.clear_session()
        zoo.keras.utils.set_random_seed(zoo.SEED)
        model = build()
        rep = np.random.default_rng(0).uniform(-1, 1, (8, *shape)).astype(np.float32)
        path.write_bytes(zoo.convert_int8(model, rep))
    return path.read_bytes()


def convert_zoo(name: str, cache: Path) -> bytes:
    path = cache / f"zoo-{name}.tflite"
    if not path.exists():
        from tinyml_prune import zoo

        path.write_bytes(zoo.build_int8(name))
    return path.read_bytes()


def layer_class(graph, op) -> str | None:
    """The layer class of one operator (None: not one the table follows)."""
    t = graph.tensors
    if op.opcode == "CONV_2D":
        _, kh, kw, cin = t[op.inputs[1]].shape
        if cin <= 3:
            return "stem"
        if (kh, kw) == (1, 1):
            return "pointwise"
        return "conv3x3" if (kh, kw) == (3, 3) else "conv other"
    if op.opcode == "DEPTHWISE_CONV_2D":
        _, kh, kw, _ = t[op.inputs[1]].shape
        return "depthwise3x3" if (kh, kw) == (3, 3) else "depthwise other"
    return {"FULLY_CONNECTED": "fc", "AVERAGE_POOL_2D": "average_pool", "MEAN": "mean", "ADD": "add",
            "MUL": "mul"}.get(op.opcode)


def work_of(graph, op, macs: int) -> int:
    """MACs for the layers that multiply weights; output values for the others."""
    if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        return macs
    return int(np.prod(graph.tensors[op.outputs[0]].shape))


def profile_model(tflite: bytes, root: Path, board_name: str) -> list[dict]:
    """Per layer: class, instructions, work, variant; raises on a mismatch with BUILTIN_REF."""
    from tinyml_prune.boards import load, make_board
    from tinyml_prune.codegen import generate, read_tflite
    from tinyml_prune.harness.layers import build_layers, measure_layers
    from tinyml_prune.verify import model_io, random_inputs, reference_run

    res = generate(tflite, root, force=True)
    manifest = res.manifest
    (root / "model.tflite").write_bytes(tflite)
    board = make_board(load(board_name), exact=True)
    board.build(root)
    build_layers(root, board)
    x = random_inputs((model_io(tflite)["input_bytes"],), 1, seed=1)
    expected, _ = reference_run(tflite, x)
    prof = measure_layers(root, board, x, expected)
    if not prof.bit_exact:
        raise RuntimeError("the board's output differs from TFLite's BUILTIN_REF")
    graph = read_tflite(tflite)
    ops = {op.index: op for op in graph.operators}
    rows = []
    for layer, count in zip(manifest["layers"], prof.median()):
        op = ops[layer["operator"]]
        cls = layer_class(graph, op)
        rows.append(dict(op=layer["op"], operator=layer["operator"], cls=cls, instructions=count,
                         work=work_of(graph, op, int(layer.get("macs") or 0)),
                         variant=layer.get("kernel_variant", ""), loop=layer.get("loop", "")))
    return rows


def summarize(rows: list[dict]) -> dict:
    by: dict[str, list[int]] = {}
    for r in rows:
        if r["cls"]:
            s = by.setdefault(r["cls"], [0, 0])
            s[0] += r["instructions"]
            s[1] += r["work"]
    return {k: {"instructions": v[0], "work": v[1], "per": round(v[0] / v[1], 3) if v[1] else None}
            for k, v in sorted(by.items())}


def print_layers(title: str, rows: list[dict]) -> None:
    print(f"\n### {title}\n")
    print("| op | class | instructions | MACs / values | per MAC / value | variant | loop |")
    print("|---|---|---:|---:|---:|---|---|")
    for r in rows:
        per = f"{r['instructions'] / r['work']:.2f}" if r["work"] else "—"
        print(f"| {r['op']} | {r['cls'] or ''} | {r['instructions']:,} | {r['work']:,} | {per} | {r['variant']} "
              f"| {r['loop']} |")


def print_summary(summary: dict) -> None:
    print("\n### Per layer class (all models above)\n")
    print("| class | instructions | MACs / values | per MAC / value | target |")
    print("|---|---:|---:|---:|---:|")
    for cls, s in summary.items():
        t = TARGETS.get(cls)
        mark = "" if t is None or s["per"] is None else (f"≤ {t} ({'met' if s['per'] <= t else 'NOT met'})")
        print(f"| {cls} | {s['instructions']:,} | {s['work']:,} | {s['per']} | {mark} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="qemu-m4")
    ap.add_argument("--only", default=None, help=f"comma-separated single-layer models ({', '.join(SINGLE)})")
    ap.add_argument("--zoo", default="", help="comma-separated zoo models profiled whole")
    ap.add_argument("--json", default=None, help="write every row and the summary here")
    ap.add_argument("--cache", default=None, help="directory that keeps converted .tflite files between runs")
    args = ap.parse_args(argv)
    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        print("qemu-system-arm and arm-none-eabi-gcc are needed", file=sys.stderr)
        return 2
    singles = args.only.split(",") if args.only is not None else list(SINGLE)
    singles = [s for s in singles if s]
    unknown = [s for s in singles if s not in SINGLE]
    if unknown:
        print(f"unknown layer model(s) {', '.join(unknown)}; choose from {', '.join(SINGLE)}", file=sys.stderr)
        return 2
    zoo_names = [z for z in args.zoo.split(",") if z]
    work = Path(tempfile.mkdtemp(prefix="bench-kernels-"))
    cache = Path(args.cache) if args.cache else work / "tflite"
    cache.mkdir(parents=True, exist_ok=True)
    out: dict = {"board": args.board, "models": {}}
    all_rows: list[dict] = []
    try:
        single_rows = []
        for name in singles:
            t0 = time.monotonic()
            rows = profile_model(convert_single(name, cache), work / name, args.board)
            for r in rows:
                r["model"] = name
            # ADD / MUL models carry other layers to make their second operand: not counted here
            keep = [r for r in rows if name not in ELEMENTWISE or r["op"] in ("ADD", "MUL")]
            single_rows += keep
            out["models"][name] = rows
            print(f"{name}: {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
        if single_rows:
            print_layers(f"Single-layer models ({args.board}, exact instructions)", single_rows)
        all_rows += single_rows
        for name in zoo_names:
            t0 = time.monotonic()
            rows = profile_model(convert_zoo(name, cache), work / f"zoo-{name}", args.board)
            out["models"][f"zoo:{name}"] = rows
            print_layers(f"zoo: {name}", rows)
            all_rows += rows
            print(f"zoo {name}: {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
        summary = summarize(all_rows)
        out["summary"] = summary
        print_summary(summary)
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
