"""The model half of `tinyml deploy`: prune + fine-tune, then int8 quantize.

One small function (`prune_and_quantize`) so that the pruner (issue #4) and QAT (issue #5)
can replace the tfmot stand-in here without touching the deploy command. Today: tfmot
`prune_low_magnitude` (N:M or unstructured magnitude) with a short fine-tune, then the
existing post-training quantization.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import TinymlError

GRANULARITIES = ("none", "unstructured", "nm")


@dataclass(frozen=True)
class PruneConfig:
    granularity: str = "nm"  # none | unstructured | nm
    nm: tuple[int, int] = (2, 4)  # at most N nonzeros in every M consecutive input channels
    sparsity: float = 0.5  # unstructured target
    finetune_epochs: int = 4
    # tfmot updates masks when step % frequency == 0 starting at `frequency`; the default
    # (100) would never fire in a short fine-tune on digits (~43 steps per epoch).
    frequency: int = 10
    learning_rate: float = 1e-3
    batch_size: int = 32
    calibration_samples: int = 200
    seed: int = 0

    def __post_init__(self):
        if self.granularity not in GRANULARITIES:
            raise TinymlError(f"granularity must be one of {', '.join(GRANULARITIES)} (got {self.granularity!r})")
        n, m = self.nm
        if not (0 < n < m):
            raise TinymlError(f"--nm {n}:{m}: need 0 < N < M")
        if not 0.0 <= self.sparsity < 1.0:
            raise TinymlError(f"sparsity {self.sparsity} must be in [0, 1)")


def parse_nm(text: str) -> tuple[int, int]:
    try:
        n, m = (int(v) for v in text.split(":"))
    except ValueError:
        raise TinymlError(f"--nm {text!r}: expected N:M such as 2:4") from None
    return n, m


def weight_sparsity(model) -> dict[str, float]:
    """Fraction of exactly-zero kernel weights per Conv/Dense layer."""
    out = {}
    for layer in model.layers:
        for w in layer.weights:
            if "kernel" in w.name and len(w.shape) > 1:
                v = w.numpy()
                out[layer.name] = float((v == 0).mean())
    return out


def prune(model, ds, cfg: PruneConfig):
    """A pruned copy of ``model`` (pruning wrappers stripped), fine-tuned on ``ds``."""
    if cfg.granularity == "none":
        return model
    import tensorflow_model_optimization as tfmot

    from ..kerasenv import keras

    keras.utils.set_random_seed(cfg.seed)
    schedule = tfmot.sparsity.keras.ConstantSparsity(
        cfg.sparsity if cfg.granularity == "unstructured" else cfg.nm[0] / cfg.nm[1],
        begin_step=0, frequency=cfg.frequency)
    kwargs = {"sparsity_m_by_n": tuple(cfg.nm)} if cfg.granularity == "nm" else {}
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule, **kwargs)
    pruned.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate),
                   loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    pruned.fit(ds.x_train, ds.y_train, batch_size=cfg.batch_size, epochs=cfg.finetune_epochs,
               verbose=0, shuffle=True, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    return tfmot.sparsity.keras.strip_pruning(pruned)


def quantize(model, ds, cfg: PruneConfig) -> bytes:
    from ..quantize import convert_ptq

    return convert_ptq(model, ds.calibration(cfg.calibration_samples))


def prune_and_quantize(model, ds, cfg: PruneConfig):
    """(pruned Keras model, int8 .tflite bytes, per-layer sparsity)."""
    pruned = prune(model, ds, cfg)
    return pruned, quantize(pruned, ds, cfg), weight_sparsity(pruned)


def float_accuracy(model, ds) -> float:
    pred = model.predict(ds.x_test, batch_size=256, verbose=0)
    return float((np.argmax(pred, axis=-1) == ds.y_test).mean())
