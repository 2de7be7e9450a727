"""`generate` into an existing directory: the set of files is complete or visibly incomplete
(no manifest.json), never a mix of two generations under a manifest."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyml_prune.artifacts import TMP_PREFIX
from tinyml_prune.codegen import generate
from tinyml_prune.errors import OutputError, OutputExistsError

from . import opmodels

gen_mod = sys.modules[generate.__module__]


def _model(seed: int) -> bytes:
    return opmodels.residual_add(np.random.default_rng(seed), 4, 4, 2 + seed % 2, "RELU")


def _snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_a_failure_while_staging_leaves_the_previous_set_untouched(tmp_path, monkeypatch):
    out = tmp_path / "gen"
    generate(_model(0), out)
    before = _snapshot(out)

    def disk_full(path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(gen_mod, "apply_umask", disk_full)
    with pytest.raises(OutputError, match="no space left on the device"):
        generate(_model(1), out, force=True)
    assert _snapshot(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(TMP_PREFIX)]


def test_a_failure_mid_rename_leaves_no_manifest_and_a_rerun_completes(tmp_path, monkeypatch):
    out = tmp_path / "gen"
    generate(_model(0), out)
    real_replace, calls = os.replace, []

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == 3:  # two new files are in place, the rest are not
            raise OSError(errno.EIO, "Input/output error", str(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OutputError, match="Input/output error"):
        generate(_model(1), out, force=True)
    monkeypatch.setattr(os, "replace", real_replace)
    assert not (out / "manifest.json").exists()  # the mix of generations is visibly incomplete
    assert not [p for p in out.iterdir() if p.name.startswith(TMP_PREFIX)]

    result = generate(_model(1), out)  # leftovers without a manifest are replaced without force
    fresh = tmp_path / "fresh"
    generate(_model(1), fresh)
    got, want = _snapshot(out), _snapshot(fresh)
    ignore = {"manifest.json"}  # it records the generation time
    assert {k: v for k, v in got.items() if k not in ignore} == {k: v for k, v in want.items() if k not in ignore}
    assert (out / "manifest.json").exists() and set(result.files) <= set(got)


def test_an_existing_set_needs_force_and_files_follow_the_umask(tmp_path):
    out = tmp_path / "gen"
    generate(_model(0), out)
    with pytest.raises(OutputExistsError, match="pass --force"):
        generate(_model(1), out)
    old = os.umask(0o027)
    try:
        generate(_model(1), out, force=True)
    finally:
        os.umask(old)
    for p in out.rglob("*"):
        if p.is_file():
            assert p.stat().st_mode & 0o777 == 0o640, p
    (out / "user_notes.txt").write_text("mine")  # files that are not ours stay
    generate(_model(0), out, force=True)
    assert (out / "user_notes.txt").read_text() == "mine"


def test_a_killed_runs_staging_directory_is_swept(tmp_path):
    out = tmp_path / "gen"
    generate(_model(0), out)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = out / f"{TMP_PREFIX}{dead}-abc123-codegen"
    (stale / "kernels").mkdir(parents=True)
    (stale / "model.c").write_text("half")
    generate(_model(0), out, force=True)
    assert not stale.exists()
    assert not [p for p in out.iterdir() if p.name.startswith(TMP_PREFIX)]
