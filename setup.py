"""Package discovery for the fixed repository layout.

``codegen/``, ``boards/`` and ``firmware/`` sit at the top of the repository but install as
``tinyml_prune.codegen``, ``tinyml_prune.boards`` and ``tinyml_prune.firmware`` so that no
generic top-level names land in site-packages. Discovery walks each folder, so new
subpackages need no edit here.
"""
from setuptools import find_packages, setup

MAPPED = {"tinyml_prune.codegen": "codegen", "tinyml_prune.boards": "boards", "tinyml_prune.firmware": "firmware"}

packages = find_packages(include=["tinyml_prune", "tinyml_prune.*"])
package_dir = {"tinyml_prune": "tinyml_prune"}
for name, folder in MAPPED.items():
    packages.append(name)
    package_dir[name] = folder
    for sub in find_packages(where=folder):
        packages.append(f"{name}.{sub}")
        package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir)
