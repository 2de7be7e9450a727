"""What sweeps and searches ship to their workers, and the resumable cache of finished units.

The payload carries the model *file* (bytes) and the data arrays the driver already loaded, so a
worker on another machine needs neither the model path nor the dataset: the executor puts the
payload once into Ray's object store (or hands it to each local worker process at its start).
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path


def model_blob(path: str | Path) -> dict:
    """The model file (or a SavedModel directory, zipped) as bytes, with the name to restore it."""
    p = Path(path)
    if p.is_dir():
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(p.rglob("*")):
                if f.is_file():
                    z.write(f, f.relative_to(p).as_posix())
        return {"name": p.name, "dir": True, "bytes": buf.getvalue()}
    return {"name": p.name, "dir": False, "bytes": p.read_bytes()}


def load_blob(blob: dict):
    """The tf_keras model from ``model_blob``'s bytes (restored in a temporary directory)."""
    from ..modelio import load_model

    with tempfile.TemporaryDirectory(prefix="tinyml-model-") as d:
        p = Path(d) / blob["name"]
        if blob["dir"]:
            with zipfile.ZipFile(io.BytesIO(blob["bytes"])) as z:
                z.extractall(p)
        else:
            p.write_bytes(blob["bytes"])
        return load_model(p)


def default_cache_dir() -> Path:
    return Path(os.environ.get("TINYML_CACHE_DIR", Path.home() / ".cache" / "tinyml-prune")) / "sensitivity"


def read_cache(path: Path) -> dict[str, dict]:
    """Finished rows by unit key; a line cut short by an interrupt is skipped (recomputed)."""
    done = {}
    if not path.exists():
        return done
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
            done[row["unit"]] = row
        except (ValueError, KeyError, TypeError):
            continue
    return done


def append_cache(path: Path, row: dict) -> None:
    """Append one row (fsynced); a line an interrupt cut short is closed first, not extended."""
    cut = path.exists() and path.stat().st_size > 0 and _last_byte(path) != b"\n"
    with open(path, "a") as f:
        f.write(("\n" if cut else "") + json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)
