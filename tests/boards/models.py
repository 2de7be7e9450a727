"""Generated model directories for the board tests, shared across xdist workers."""
from __future__ import annotations

import shutil
from pathlib import Path

from conftest import shared_artifact


def generated(tmp_path_factory, tflite: Path, name: str) -> Path:
    """codegen output for ``tflite`` (once per run), with the .tflite copied beside it."""
    def build(path: Path):
        from tinyml_prune.codegen import generate

        generate(tflite.read_bytes(), path)
        shutil.copyfile(tflite, path / "model.tflite")

    return shared_artifact(tmp_path_factory, f"gen-{name}", build)


def project_copy(src: Path, dest: Path) -> Path:
    """A private copy of a generated directory (each board build writes into it)."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("board", "build", "Makefile", "report.*"))
    return dest
