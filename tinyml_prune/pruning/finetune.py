"""Fine-tuning under masks, with the schedule deciding when to (re-)prune.

Masks are applied by a Keras callback rather than by tfmot wrappers, so that the saved model
is a plain tf_keras model with zeros in its kernels. Every kernel being pruned keeps a dense
"shadow" copy: the forward pass sees ``shadow * mask``; after each optimizer step the update
the optimizer made to the masked kernel is added to the shadow (a straight-through estimate,
so pruned weights keep receiving gradient), and the kernel is reset to ``shadow * mask``.
Masks are re-selected whenever the schedule says so, and in between every ``reselect_every``
steps from the shadow weights for weight-only criteria — a mask chosen early can change as
training proceeds (tfmot fixes its N:M mask at the first update).

Re-selection stops at ``settle_step``: the rest of the run fine-tunes a fixed mask. A masked
weight's shadow is updated without ever being seen by the forward pass, so it drifts with no
feedback; when re-selection regrows it, it enters with that stale value. On the digits CNN at
80% one re-selection flipped ~2% of the weights and cost up to 26 points of accuracy, and with
8 epochs the last one fell 4 steps before the end (8 epochs ended at 0.78, 4 epochs at 0.92).
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..kerasenv import keras
from .layers import kernel_variable


class MaskedTraining(keras.callbacks.Callback):
    """``select(sparsity_scale, step) -> {name: mask}``; may also set kernels (solvers).

    ``schedule(step) -> (should_prune, sparsity)``; ``sparsity`` is handed to ``select``.
    """

    def __init__(self, layers, schedule, select, reselect_every: int = 0, reselect=None,
                 settle_step: int | None = None, after_prune=None):
        super().__init__()
        self.after_prune = after_prune  # called after each scheduled pruning step (BN re-estimation)
        self.layers = {l.name: l for l in layers}
        self.schedule = schedule
        self.select = select
        self.reselect = reselect  # weight-only re-selection at the current sparsity, or None
        self.reselect_every = reselect_every
        self.settle_step = settle_step  # no weight-only re-selection from this step on
        self.step = 0
        self.masks: dict[str, np.ndarray] = {}
        self.shadow: dict[str, np.ndarray] = {}
        self.sparsity = None
        self._masked: dict[str, np.ndarray] = {}

    def _load_shadow(self):
        for n, l in self.layers.items():
            kernel_variable(l).assign(self.shadow[n])

    def _apply(self):
        for n, l in self.layers.items():
            m = self.masks.get(n)
            w = self.shadow[n] if m is None else self.shadow[n] * m
            kernel_variable(l).assign(w)
            self._masked[n] = w

    def on_train_begin(self, logs=None):
        self.shadow = {n: kernel_variable(l).numpy() for n, l in self.layers.items()}

    def on_train_batch_begin(self, batch, logs=None):
        due, sparsity = self.schedule(self.step)
        if due:
            self._load_shadow()  # criteria and solvers look at the dense shadow weights
            self.masks = self.select(sparsity)
            self.sparsity = sparsity
            # a solver (CHITA) may have moved the kept weights: they become the new shadow
            self.shadow = {n: kernel_variable(l).numpy() for n, l in self.layers.items()}
            if self.after_prune is not None:
                self._apply()
                self.after_prune()
        elif (self.reselect is not None and self.reselect_every and self.sparsity is not None
              and self.step % self.reselect_every == 0
              and (self.settle_step is None or self.step < self.settle_step)):
            self.masks = self.reselect(self.shadow, self.sparsity)
        self._apply()

    def on_train_batch_end(self, batch, logs=None):
        for n, l in self.layers.items():
            new = kernel_variable(l).numpy()
            self.shadow[n] = self.shadow[n] + (new - self._masked[n])
        self._apply()
        self.step += 1

    def on_train_end(self, logs=None):
        self._apply()


@contextmanager
def batchnorm_frozen(model, frozen: bool):
    """BatchNormalization layers of ``model`` in inference mode (moving statistics fixed, γ/β
    not trained) while the block runs; their ``trainable`` flags are restored afterwards.
    Compile inside the block: Keras reads the flags when it builds the training step."""
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)] if frozen else []
    was = [l.trainable for l in bns]
    for l in bns:
        l.trainable = False
    try:
        yield
    finally:
        for l, t in zip(bns, was):
            l.trainable = t
