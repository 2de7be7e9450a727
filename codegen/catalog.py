"""What the code generator supports, per board kernel variant (``tinyml ops``).

Read from the registries themselves (op emitters, graph rewrites, kernel folders), so the
list cannot drift from what ``codegen`` accepts."""
from __future__ import annotations

from dataclasses import dataclass

# Operators that never reach an emitter: the passes remove them (codegen/passes.py, rewrites/).
REWRITTEN = {
    "QUANTIZE": "float32 -> int8 at a model input: part of the float entry point (tp_model_run_float)",
    "DEQUANTIZE": "int8 -> float32 at a model output: part of the float entry point",
    "SPACE_TO_BATCH_ND": "with its CONV_2D/DEPTHWISE_CONV_2D and BATCH_TO_SPACE_ND: one dilated convolution",
    "BATCH_TO_SPACE_ND": "see SPACE_TO_BATCH_ND",
}
FUSED = {
    "PAD": "a zero-point PAD before a VALID convolution becomes the convolution's padding",
    "PADV2": "as PAD, when the pad value is the zero point",
    "RELU": "into the producer's clamp when the scale is unchanged",
    "RELU6": "into the producer's clamp when the scale is unchanged",
    "RELU_N1_TO_1": "into the producer's clamp when the scale is unchanged",
}


@dataclass(frozen=True)
class OpSupport:
    opcode: str
    kernel: str  # the kernel variant a board of the given kind runs: "mve", "dsp", "reference" or "-"
    sources: tuple[str, ...]
    folds: bool  # evaluated at code generation when its inputs are constant / shapes static
    note: str


def _variant(sources: tuple[str, ...], variants: list[str]) -> str:
    from tinyml_prune.firmware import ROOT

    if not sources:
        return "-"
    for variant in variants:
        if variant != "reference" and all((ROOT / "kernels" / variant / s).exists() for s in sources):
            return variant
    return "reference"


def supported_ops(variants: list[str] | tuple[str, ...] = ("reference",)) -> list[OpSupport]:
    """Every operator the generator takes, with the kernel variant used for ``variants``
    (most specific first, as a board lists them)."""
    from .ops import EMITTERS, OpEmitter

    rows = []
    for opcode, cls in sorted(EMITTERS.items()):
        folds = cls.fold.__func__ is not OpEmitter.fold.__func__
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        notes = [n for n in (doc, FUSED.get(opcode), REWRITTEN.get(opcode)) if n]
        rows.append(OpSupport(opcode, _variant(tuple(cls.sources), list(variants)), tuple(cls.sources), folds,
                              "; ".join(notes)))
    for opcode, note in sorted({**REWRITTEN, **FUSED}.items()):
        if opcode not in EMITTERS:
            rows.append(OpSupport(opcode, "-", (), False, note))
    return rows
