"""Every optimized kernel file compiles at every -O level `tinyml build --opt` offers.

The DSP and MVE variants use inline assembly that needs nearly all core registers; -O0 (frame
pointer kept) and -Os (different inlining) once broke the build of a generated project.
"""
import shutil
import subprocess

import pytest

from tinyml_prune.firmware import ROOT

pytestmark = pytest.mark.qemu

VARIANTS = {
    "dsp": ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"],
    "mve": ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"],
}
LEVELS = ["-O0", "-O1", "-O2", "-O3", "-Os", "-Ofast"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("level", LEVELS)
def test_variant_compiles(variant, level, tmp_path):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc not installed (run make setup)")
    sources = sorted((ROOT / "kernels" / variant).glob("*.c"))
    assert sources, f"no {variant} kernels"
    for src in sources:
        cmd = ["arm-none-eabi-gcc", *VARIANTS[variant], level, "-std=c99", "-Wall", "-Wextra", "-Werror",
               f"-I{ROOT / 'kernels' / variant}", f"-I{ROOT / 'kernels' / 'include'}",
               "-c", str(src), "-o", str(tmp_path / (src.stem + ".o"))]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"{src.name} at {level}:\n{r.stderr[-1500:]}"
