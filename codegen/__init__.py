"""int8 TFLite -> C code generator (installed as ``tinyml_prune.codegen``).

``generate(tflite_bytes, out_dir)`` reads the flatbuffer with the TFLite schema, builds
the IR, checks every operator against a registered emitter, plans the activation arena
and renders C through Jinja2 templates. Kernels come from ``tinyml_prune.firmware``.
"""
from .generate import CodegenOptions, CodegenResult, Program, build_program, generate, render  # noqa: F401
from .tflite_reader import read_tflite  # noqa: F401
