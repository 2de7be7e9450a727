"""Writing artifacts: atomically, complete as a set, never overwriting a user's file silently.

Every file is first written under a temporary name beside its destination and renamed into
place when it is complete, so a reader never sees half a file. Temporary names follow one
pattern, ``.tinyml-tmp-<pid>-<random>-<name>``: whatever a killed run leaves behind is recognised
as ours and swept by the next run that writes into the same directory (only when the process that
made it is gone). Final files get the permissions of the process umask, like any file the user
creates.

Commands that write several files (a model with its reports) use :class:`ArtifactSet`: the whole
set is produced in a staging directory, then renamed into place with the primary artifact LAST,
so the presence of the primary file implies that the set is complete. Secondary files found
without their primary are leftovers of an interrupted run and are replaced without ``--force``.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from .errors import OutputError, OutputExistsError

TMP_PREFIX = ".tinyml-tmp-"
_TMP_RE = re.compile(r"^\.tinyml-tmp-(\d+)-")


# --------------------------------------------------------------------------- checks before work

def check_writable(path: str | os.PathLike, force: bool = False,
                   extensions: Iterable[str] | None = None) -> Path:
    """Refuse an output before any work is done: wrong extension, a directory that cannot be
    written, or an existing file without ``force``. Returns the path."""
    p = Path(path)
    if extensions is not None:
        exts = tuple(extensions)
        if not any(p.name.endswith(e) for e in exts):
            raise OutputError(f"{p}: the output must end in {' or '.join(exts)}")
    if p.is_dir():
        raise OutputError(f"{p} is a directory; give a file name")
    check_output_dir(p.parent)
    if p.exists() and not force:
        raise OutputExistsError(f"{p} already exists; pass --force to overwrite it")
    return p


def check_output_dir(directory: str | os.PathLike) -> Path:
    """The directory (or the nearest existing ancestor, if it will be created) accepts new files.

    Tested by creating and removing a probe file, which also catches read-only file systems and
    a full disk, where ``os.access`` says yes."""
    d = Path(directory) if str(directory) else Path(".")
    probe_dir = d
    while not probe_dir.exists():
        if probe_dir.parent == probe_dir:
            break
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise OutputError(f"cannot write into {d}: {probe_dir} is not a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", suffix=".probe", dir=probe_dir)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise OutputError(f"cannot write into {probe_dir}: {e.strerror or e}") from None
    return d


def check_output_set(paths: Iterable[str | os.PathLike], force: bool = False,
                     extensions: Iterable[str] | None = None) -> list[Path]:
    """Check a set whose first path is the primary artifact (see :class:`ArtifactSet`)."""
    ps = [Path(p) for p in paths]
    primary, others = ps[0], ps[1:]
    check_writable(primary, force, extensions)
    # Without the primary, secondary files are leftovers of an interrupted run: replaceable.
    complete = primary.exists()
    for p in others:
        check_writable(p, force or not complete)
    return ps


# --------------------------------------------------------------------------- temporary names

def _umask() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def apply_umask(path: str | os.PathLike) -> None:
    """Give ``path`` the mode a normally created file (directory tree) would have."""
    mask = _umask()
    p = Path(path)
    if p.is_dir() and not p.is_symlink():
        for root, dirs, files in os.walk(p):
            os.chmod(root, 0o777 & ~mask)
            for f in files:
                os.chmod(os.path.join(root, f), 0o666 & ~mask)
    elif p.is_file():
        os.chmod(p, 0o666 & ~mask)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def sweep_stale(directory: str | os.PathLike) -> list[Path]:
    """Remove our temporary files and staging directories left by runs that no longer exist."""
    d = Path(directory)
    removed = []
    try:
        entries = list(d.iterdir())
    except OSError:
        return removed
    for e in entries:
        m = _TMP_RE.match(e.name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        try:
            if e.is_dir() and not e.is_symlink():
                shutil.rmtree(e)
            else:
                e.unlink()
            removed.append(e)
        except OSError:
            pass
    return removed


def _mktemp(dest: Path, directory: bool = False) -> Path:
    prefix = f"{TMP_PREFIX}{os.getpid()}-"
    try:
        if directory:
            return Path(tempfile.mkdtemp(prefix=prefix, suffix=f"-{dest.name}", dir=dest.parent))
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=f"-{dest.name}", dir=dest.parent)
        os.close(fd)
        return Path(tmp)
    except OSError as e:
        raise OutputError(f"cannot write into {dest.parent}: {e.strerror or e}") from None


def _remove(p: Path) -> None:
    try:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
    except OSError:
        pass


@contextmanager
def atomic_path(path: str | os.PathLike, force: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same ending, so tools that look at the suffix
    work); rename it into place only on success. Removed on every exit."""
    dest = Path(path)
    if not force:
        check_writable(dest, force)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(dest.parent)
    tmp_path = _mktemp(dest)
    try:
        yield tmp_path
        apply_umask(tmp_path)
        os.replace(tmp_path, dest)
    finally:
        _remove(tmp_path)


class ArtifactSet:
    """Several files produced together, made visible together.

    >>> with ArtifactSet(["m.tflite", "m.tflite.report.json"], force) as s:
    ...     s.path("m.tflite").write_bytes(...)          # writes into the staging directory
    ...     s.path("m.tflite.report.json").write_text(...)

    All destinations share one directory. On success the secondary files are renamed into
    place first and the primary (the first path) last; on any error nothing is renamed and the
    staging directory is removed. A declared secondary file that was not produced is not an error.
    """

    def __init__(self, paths: Iterable[str | os.PathLike], force: bool = False):
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise ValueError("an artifact set needs at least its primary file")
        parents = {Path(os.path.abspath(p)).parent for p in self.paths}
        if len(parents) != 1:
            raise ValueError(f"artifact set spans several directories: {sorted(map(str, parents))}")
        self.primary = self.paths[0]
        self.force = force
        self.stage: Path | None = None

    def path(self, dest: str | os.PathLike) -> Path:
        """The staging path where ``dest`` is to be written."""
        if self.stage is None:
            raise RuntimeError("ArtifactSet.path() outside its `with` block")
        d = Path(dest)
        if d not in self.paths:
            raise ValueError(f"{d} is not part of this artifact set ({', '.join(map(str, self.paths))})")
        return self.stage / d.name

    def __enter__(self) -> "ArtifactSet":
        check_output_set(self.paths, self.force)
        parent = self.primary.parent
        parent.mkdir(parents=True, exist_ok=True)
        sweep_stale(parent)
        self.stage = _mktemp(self.primary, directory=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._commit()
        finally:
            _remove(self.stage)

    def _commit(self) -> None:
        staged = {p: self.stage / p.name for p in self.paths}
        if not staged[self.primary].exists():
            raise RuntimeError(f"artifact set committed without its primary file {self.primary}")
        # re-check: something may have appeared at a destination while we worked
        check_output_set(self.paths, self.force)
        for p in [*self.paths[1:], self.primary]:
            src = staged[p]
            if not src.exists():
                continue
            apply_umask(src)
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            os.replace(src, p)


@contextmanager
def staged_dir(dest: str | os.PathLike) -> Iterator[Path]:
    """A new output directory built under a staging name and renamed into place complete.
    ``dest`` must not exist yet (an existing directory is written file by file instead)."""
    d = Path(dest)
    d.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(d.parent)
    stage = _mktemp(d, directory=True)
    try:
        yield stage
        apply_umask(stage)
        try:
            os.rename(stage, d)
        except OSError as e:
            if d.exists():
                raise OutputExistsError(f"{d} appeared while it was being generated; run again") from None
            raise
    finally:
        _remove(stage)


# --------------------------------------------------------------------------- writers

def write_bytes(path: str | os.PathLike, data: bytes, force: bool = True) -> Path:
    with atomic_path(path, force) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, force: bool = True) -> Path:
    return write_bytes(path, text.encode("utf-8"), force)


def write_json(path: str | os.PathLike, obj, force: bool = True) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n", force)


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def os_error_message(e: OSError) -> str:
    """One line for a failed file operation: what, where, why (disk full, read-only, ...)."""
    where = e.filename if e.filename is not None else ""
    if e.filename2 is not None:
        where = f"{where} -> {e.filename2}"
    why = e.strerror or str(e)
    if e.errno == errno.ENOSPC:
        why = "no space left on the device"
    return f"{where}: {why}" if where else why
