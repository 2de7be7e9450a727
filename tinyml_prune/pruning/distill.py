"""Knowledge distillation from the dense model while fine-tuning a pruned one.

Loss (Hinton et al. 2015), per sample:

    α · T² · KL( softmax(z_t / T) ‖ softmax(z_s / T) ) + (1 − α) · CE(y, softmax(z_s))

with z_t, z_s the teacher's (dense model's) and student's logits. Our classifiers end in a
softmax, so logits are recovered as log-probabilities (softmax(log p / T) = softmax(z / T)).
The teacher's outputs are computed once on the (fixed) training inputs and travel with the
labels as ``y = [teacher log-probs..., label]``, so the ordinary ``fit`` loop, the mask
callback and the schedules need no change. Models that are not classifiers are distilled by
mean squared error to the dense model's outputs.

``FinetuneConfig.distill``: "auto" (on for channel pruning, where whole channels go and the
remaining ones must learn to carry the dense model's function; off otherwise), "on", "off".

Defaults chosen so that distilled fine-tuning does not undo a good one-shot result (measured on a
CIFAR-style ResNet-8 pruned one-shot by OBS, agreement with the dense model 0.88): α = 1, pure
distillation (α = 0.5 mixed in labels the dense model gets wrong 58 % of the time on its own
training set, and 2 epochs took the agreement to 0.69), and BatchNormalization frozen in inference
mode while distilling a reconstructed model (``FinetuneConfig.batchnorm``; training-mode batch
statistics are not the function the teacher's targets came from: 0.84 vs 0.93).
"""
from __future__ import annotations

import numpy as np

from ..kerasenv import keras, tf

DISTILL_CHOICES = ("auto", "on", "off")


def enabled(setting, granularity: str) -> bool:
    """Whether ``FinetuneConfig.distill`` switches distillation on for this granularity."""
    s = {True: "on", False: "off"}.get(setting, setting)
    return s == "on" or (s == "auto" and granularity == "channel")


def _log_probs(p):
    return tf.math.log(tf.clip_by_value(tf.cast(p, tf.float32), 1e-8, 1.0))


class DistillationLoss(keras.losses.Loss):
    """Temperature-scaled KL to the teacher plus (1 − α) cross-entropy on the labels.

    ``y_true`` = [teacher log-probabilities (k), label (1)]; ``y_pred`` = student probabilities.
    """

    def __init__(self, temperature: float = 4.0, alpha: float = 1.0, name: str = "distillation"):
        super().__init__(name=name)
        self.temperature = float(temperature)
        self.alpha = float(alpha)

    def call(self, y_true, y_pred):
        y_true = tf.cast(y_true, tf.float32)
        k = tf.shape(y_pred)[-1]
        t_logits, label = y_true[:, :k], tf.cast(y_true[:, k], tf.int32)
        s_logp = _log_probs(y_pred)
        T = self.temperature
        p_t = tf.nn.softmax(t_logits / T)
        kl = tf.reduce_sum(p_t * (tf.nn.log_softmax(t_logits / T) - tf.nn.log_softmax(s_logp / T)), axis=-1)
        ce = keras.losses.sparse_categorical_crossentropy(label, y_pred)
        return self.alpha * T * T * kl + (1.0 - self.alpha) * ce

    def get_config(self):
        return {"temperature": self.temperature, "alpha": self.alpha, "name": self.name}


def targets(dense, x: np.ndarray, y: np.ndarray, classifier: bool, temperature: float, alpha: float,
            batch_size: int = 256):
    """(loss, fit targets) distilling ``dense`` on ``x``; ``y`` are class ids for classifiers."""
    out = dense.predict(x, batch_size=batch_size, verbose=0)
    if not classifier or y.ndim != 1:
        return "mse", out.astype(np.float32)
    logp = np.log(np.clip(out.reshape(len(out), -1), 1e-8, 1.0)).astype(np.float32)
    packed = np.concatenate([logp, y.reshape(-1, 1).astype(np.float32)], axis=1)
    return DistillationLoss(temperature, alpha), packed
