"""Dependencies point one way: core <- stages <- pipeline <- cli.

Reads every module's imports (ast, nothing is imported) across the installed package tree
(``tinyml_prune/`` plus ``codegen/``, ``boards/`` and ``firmware/``, which install as
``tinyml_prune.codegen`` etc.) and checks the layering documented in docs/architecture.md.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"tinyml_prune": "tinyml_prune", "codegen": "tinyml_prune.codegen",
           "boards": "tinyml_prune.boards", "firmware": "tinyml_prune.firmware"}

# Modules (and everything under them) by layer; the longest matching prefix decides.
CORE = ("tinyml_prune", "tinyml_prune.errors", "tinyml_prune.artifacts", "tinyml_prune.nm",
        "tinyml_prune.kerasenv", "tinyml_prune.keras3", "tinyml_prune.modelio", "tinyml_prune.datacheck",
        "tinyml_prune.data", "tinyml_prune.executors", "tinyml_prune.firmware",
        "tinyml_prune.codegen.ir", "tinyml_prune.codegen.schema", "tinyml_prune.codegen.validate",
        "tinyml_prune.codegen.tflite_reader", "tinyml_prune.codegen.tflite_patch",
        "tinyml_prune.codegen.quantization")
STAGES = ("tinyml_prune.pruning", "tinyml_prune.quantize", "tinyml_prune.codegen", "tinyml_prune.boards",
          "tinyml_prune.ampere", "tinyml_prune.verify", "tinyml_prune.sensitivity", "tinyml_prune.models",
          "tinyml_prune.zoo")
PIPELINE = ("tinyml_prune.harness",)
CLI = ("tinyml_prune.cli",)
LAYERS = {**{m: 0 for m in CORE}, **{m: 1 for m in STAGES}, **{m: 2 for m in PIPELINE}, **{m: 3 for m in CLI}}
LAYER_NAMES = ("core", "stage", "pipeline", "cli")

# Stages that must not know each other: (importer prefix, forbidden prefixes).
FORBIDDEN = [
    ("tinyml_prune.codegen", ("tinyml_prune.pruning", "tinyml_prune.quantize", "tinyml_prune.ampere",
                              "tinyml_prune.harness", "tinyml_prune.sensitivity")),
    ("tinyml_prune.pruning", ("tinyml_prune.codegen", "tinyml_prune.quantize", "tinyml_prune.ampere")),
    ("tinyml_prune.ampere", ("tinyml_prune.codegen", "tinyml_prune.pruning", "tinyml_prune.quantize")),
]

# Known exceptions, each with its reason. ``tinyml prune --auto`` counts a flash budget in the
# code generator's own bytes: the ratio search converts the model (quantize) and runs codegen
# itself instead of being handed a cost function by the CLI.
ALLOWED = {
    ("tinyml_prune.pruning.auto", "tinyml_prune.codegen.formats"),
    ("tinyml_prune.pruning.auto", "tinyml_prune.codegen.formats.select"),
    ("tinyml_prune.pruning.auto", "tinyml_prune.codegen.generate"),
    ("tinyml_prune.pruning.auto", "tinyml_prune.quantize.qat"),
    ("tinyml_prune.pruning.auto", "tinyml_prune.quantize.tflite_weights"),
}


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for folder, pkg in FOLDERS.items():
        for f in (ROOT / folder).rglob("*.py"):
            parts = list(f.relative_to(ROOT / folder).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            if is_pkg:
                parts = parts[:-1]
            mods[".".join([pkg, *parts])] = (f, is_pkg)
    return mods


def _imports(name: str, path: Path, is_pkg: bool, known) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
            out.update(subs or [target])
    return {m for m in out if m == "tinyml_prune" or m.startswith("tinyml_prune.")}


def _owner(name: str, prefixes) -> str | None:
    hits = [p for p in prefixes if name == p or name.startswith(p + ".")]
    return max(hits, key=len) if hits else None


def _edges():
    mods = _modules()
    return [(m, t) for m, (path, is_pkg) in sorted(mods.items()) for t in sorted(_imports(m, path, is_pkg, mods))]


def test_every_module_has_a_layer():
    missing = [m for m in _modules() if _owner(m, LAYERS) is None]
    assert not missing, f"modules without a layer (add them to tests/test_layering.py and docs/architecture.md): {missing}"


def test_imports_point_down():
    bad = []
    for src, dst in _edges():
        a, b = LAYERS[_owner(src, LAYERS)], LAYERS[_owner(dst, LAYERS)]
        if b > a:
            bad.append(f"{src} ({LAYER_NAMES[a]}) imports {dst} ({LAYER_NAMES[b]})")
    assert not bad, "\n".join(bad)


def test_stages_do_not_import_each_other_where_forbidden():
    bad = []
    for src, dst in _edges():
        if (src, dst) in ALLOWED or LAYERS[_owner(dst, LAYERS)] == 0:
            continue
        for importer, forbidden in FORBIDDEN:
            if _owner(src, [importer]) and _owner(dst, forbidden):
                bad.append(f"{src} imports {dst}")
    assert not bad, "\n".join(bad)


def test_allowed_exceptions_are_still_needed():
    edges = set(_edges())
    stale = sorted(ALLOWED - edges)
    assert not stale, f"exceptions no longer used, remove them: {stale}"


def test_the_code_generator_does_not_import_the_2to4_path_or_the_pruner():
    edges = _edges()
    assert not [e for e in edges if e[0].startswith("tinyml_prune.codegen.formats.sparsify")
                and e[1].startswith(("tinyml_prune.ampere", "tinyml_prune.pruning"))]
