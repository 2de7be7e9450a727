"""Exact graph rewrites (see :mod:`codegen.passes`): every module here registers its own with
``@passes.rewrite(name)`` on import; a new rewrite is a new module."""
from __future__ import annotations

import importlib
import pkgutil

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
