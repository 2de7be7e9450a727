"""Outputs: atomic, complete as a set (primary renamed last), umask modes, stale temp files swept."""
from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from tinyml_prune import artifacts
from tinyml_prune.artifacts import TMP_PREFIX, ArtifactSet, check_output_set, check_writable, staged_dir
from tinyml_prune.errors import OutputError, OutputExistsError

REPO = Path(__file__).resolve().parents[1]


def _temps(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith(TMP_PREFIX))


@pytest.fixture
def umask_002():
    old = os.umask(0o002)
    yield 0o002
    os.umask(old)


def test_files_get_the_umask_mode_not_0600(tmp_path, umask_002):
    artifacts.write_text(tmp_path / "a.json", "{}")
    with ArtifactSet([tmp_path / "m.bin", tmp_path / "m.bin.json"]) as s:
        s.path(tmp_path / "m.bin").write_bytes(b"x")
        s.path(tmp_path / "m.bin.json").write_text("{}")
    with staged_dir(tmp_path / "gen") as d:
        (d / "sub").mkdir()
        (d / "sub" / "f.c").write_text("int x;")
    for p in ("a.json", "m.bin", "m.bin.json", "gen/sub/f.c"):
        assert (tmp_path / p).stat().st_mode & 0o777 == 0o664, p
    assert (tmp_path / "gen").stat().st_mode & 0o777 == 0o775
    assert _temps(tmp_path) == []


def test_primary_is_renamed_last(tmp_path, monkeypatch):
    order = []
    real = os.replace
    monkeypatch.setattr(artifacts.os, "replace", lambda a, b: (order.append(Path(b).name), real(a, b)))
    paths = [tmp_path / "m.tflite", tmp_path / "m.tflite.report.json", tmp_path / "m.tflite.md"]
    with ArtifactSet(paths) as s:
        for p in paths:
            s.path(p).write_text(p.name)
    assert order[-1] == "m.tflite" and sorted(order) == sorted(p.name for p in paths)
    assert _temps(tmp_path) == []


def test_failed_set_leaves_nothing(tmp_path):
    paths = [tmp_path / "m.keras", tmp_path / "m.prune.json"]
    with pytest.raises(RuntimeError):
        with ArtifactSet(paths) as s:
            s.path(paths[1]).write_text("{}")
            raise RuntimeError("converter failed")
    assert list(tmp_path.iterdir()) == []


def test_a_set_without_its_primary_is_not_committed(tmp_path):
    with pytest.raises(RuntimeError, match="without its primary"):
        with ArtifactSet([tmp_path / "m.keras", tmp_path / "m.prune.json"]) as s:
            s.path(tmp_path / "m.prune.json").write_text("{}")
    assert list(tmp_path.iterdir()) == []


def test_existing_set_needs_force_but_orphans_do_not(tmp_path):
    primary, report = tmp_path / "m.tflite", tmp_path / "m.tflite.report.json"
    report.write_text("left by a killed run")
    check_output_set([primary, report], force=False)  # orphan secondary: replaceable
    primary.write_bytes(b"x")
    with pytest.raises(OutputExistsError, match="--force"):
        check_output_set([primary, report], force=False)
    check_output_set([primary, report], force=True)


def test_check_writable_refuses_before_work(tmp_path):
    with pytest.raises(OutputError, match=r"must end in \.keras or \.h5"):
        check_writable(tmp_path / "x.txt", extensions=(".keras", ".h5"))
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="not a directory"):
        check_writable(tmp_path / "file" / "m.keras")
    with pytest.raises(OutputError, match="is a directory"):
        check_writable(tmp_path)
    check_writable(tmp_path / "new" / "deeper" / "m.keras")  # created later: fine


def test_unwritable_directory_is_one_error(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    real = tempfile.mkstemp

    def mkstemp(*a, dir=None, **k):
        if dir is not None and Path(dir) == ro:
            raise PermissionError(errno.EACCES, "Permission denied", str(ro))
        return real(*a, dir=dir, **k)

    monkeypatch.setattr(artifacts.tempfile, "mkstemp", mkstemp)
    with pytest.raises(OutputError, match="cannot write into .*ro: Permission denied"):
        check_writable(ro / "m.tflite")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into mode-0555 directories")
def test_read_only_directory_for_real(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="Permission denied"):
            check_writable(ro / "m.tflite")
    finally:
        ro.chmod(0o755)


def test_stale_temps_of_dead_processes_are_swept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale_file = tmp_path / f"{TMP_PREFIX}{dead.pid}-abc-m.keras"
    stale_dir = tmp_path / f"{TMP_PREFIX}{dead.pid}-def-m.tflite"
    live = tmp_path / f"{TMP_PREFIX}{os.getpid()}-ghi-m.keras"
    user = tmp_path / ".m.keras.dom4_uvd.keras"
    stale_file.write_bytes(b"")
    stale_dir.mkdir()
    (stale_dir / "m.tflite").write_bytes(b"half")
    live.write_bytes(b"")
    user.write_bytes(b"")
    artifacts.write_text(tmp_path / "new.json", "{}")
    assert not stale_file.exists() and not stale_dir.exists()
    assert live.exists() and user.exists()  # another run's (still alive) and not ours by name


def test_staged_dir_appears_complete_or_not_at_all(tmp_path):
    with pytest.raises(ValueError):
        with staged_dir(tmp_path / "gen") as d:
            (d / "model.c").write_text("half")
            raise ValueError("unsupported op")
    assert list(tmp_path.iterdir()) == []


_WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from tinyml_prune.artifacts import ArtifactSet
    out = Path(sys.argv[1])
    paths = [out / "m.tflite", out / "m.tflite.report.json", out / "m.tflite.md", out / "m.tflite.sparsity.png"]
    payload = {p: (p.name.encode() * 400_000) for p in paths}
    for i in range(1000):
        with ArtifactSet(paths, force=True) as s:
            for p in paths[1:] + paths[:1]:
                with open(s.path(p), "wb") as f:
                    for k in range(0, len(payload[p]), 65536):
                        f.write(payload[p][k:k + 65536])
                        f.flush()
""")


def test_sigkill_never_leaves_a_primary_without_its_set(tmp_path):
    """SIGKILL a process that keeps rewriting a 4-file set at random moments: whenever the
    primary exists, every file of the set is there and complete; the next run sweeps the rest."""
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    names = ["m.tflite", "m.tflite.report.json", "m.tflite.md", "m.tflite.sparsity.png"]
    rng = random.Random(0)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    saw_primary = saw_partial = 0
    for trial in range(12):
        out = tmp_path / f"run{trial % 3}"
        out.mkdir(exist_ok=True)
        proc = subprocess.Popen([sys.executable, str(script), str(out)], env=env)
        time.sleep(0.15 + rng.random() * 0.6)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        present = {n for n in names if (out / n).exists()}
        if "m.tflite" in present:
            saw_primary += 1
            assert present == set(names)
            for n in names:
                assert (out / n).read_bytes() == n.encode() * 400_000, n
        else:
            saw_partial += bool(present)
    assert saw_primary  # the test did exercise complete sets
    for d in {tmp_path / f"run{i}" for i in range(3)}:
        artifacts.write_text(d / "next.json", "{}")  # the next run sweeps what the killed ones left
        assert _temps(d) == []
