"""C sources: int8 kernels and the on-board runtime (installed as ``tinyml_prune.firmware``)."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent
