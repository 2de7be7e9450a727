"""The pruning-criterion extension point: one interface, one registry.

A criterion scores the weights of one layer; a larger score means "more important, keep".

    class MyCriterion(Criterion):
        name = "mine"
        estimator = "exact name of the quantity computed"
        granularities = frozenset({"element", "channel"})
        def score(self, ctx: ScoreContext, layer) -> np.ndarray: ...

``score`` returns an array shaped like the layer's kernel for ``ctx.granularity == "element"``
and a 1-D array with one entry per output channel (see ``layers.output_channel_axis``) for
``"channel"``. Criteria that compute per-element scores can implement only ``element_scores``;
the base class then sums them over each channel. Criteria are frozen dataclasses, so their
options (e.g. the Hutchinson sample cap) come from the recipe like every other config.

Register with ``@register_criterion``; look up with ``make_criterion(name, **options)``.
"""
from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar, Iterator

import numpy as np

from ...errors import DataError, ModelError
from ..layers import channel_reduce, kernel_variable

GRANULARITIES = ("element", "channel")

_REGISTRY: dict[str, type["Criterion"]] = {}


@dataclass
class ScoreContext:
    """What a criterion may look at: the model, the granularity and (optionally) data.

    ``y`` holds the targets for data-driven criteria: class ids when ``task == "classification"``
    (loss: sparse categorical cross-entropy on the model's probabilities), arrays like the
    model's output when ``task == "regression"`` (loss: mean squared error). Without user labels
    the dense model's own predictions serve as targets (``make_context``). ``cache`` lets a
    criterion compute something once for all layers (one HVP covers every layer).
    """

    model: object
    granularity: str = "element"
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    task: str = "classification"
    batch_size: int = 64
    cache: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}, not {self.granularity!r}")

    def require_data(self, criterion: str) -> None:
        if self.x is None or len(self.x) == 0:
            raise DataError(f"criterion {criterion!r} is data-driven: give it inputs (--data)")

    def batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for i in range(0, len(self.x), self.batch_size):
            yield self.x[i:i + self.batch_size], self.y[i:i + self.batch_size]

    def per_sample_loss(self, y_true, y_pred):
        """Loss per sample (a 1-D tensor), in float32 whatever the compute dtype."""
        from ...kerasenv import tf

        y_pred = tf.cast(y_pred, tf.float32)
        if self.task == "classification":
            return tf.keras.losses.sparse_categorical_crossentropy(
                tf.cast(y_true, tf.int32), tf.reshape(y_pred, (tf.shape(y_pred)[0], -1)))
        diff = tf.reshape(y_pred - tf.cast(y_true, tf.float32), (tf.shape(y_pred)[0], -1))
        return tf.reduce_mean(tf.square(diff), axis=1)

    def mean_loss(self, y_true, y_pred):
        from ...kerasenv import tf

        return tf.reduce_mean(self.per_sample_loss(y_true, y_pred))


def is_classifier(model) -> bool:
    """True when the model ends in a softmax (then targets are class ids)."""
    last = model.layers[-1]
    act = getattr(last, "activation", None)
    if act is not None and getattr(act, "__name__", "") == "softmax":
        return True
    return type(last).__name__ == "Softmax"


def make_context(model, x=None, y=None, granularity: str = "element", batch_size: int = 64) -> ScoreContext:
    """A context whose targets are ``y`` or, without labels, the dense model's own predictions."""
    task = "classification" if is_classifier(model) else "regression"
    if x is not None:
        x = np.asarray(x, np.float32)
        if tuple(x.shape[1:]) != tuple(d for d in model.input_shape[1:]):
            raise DataError(f"data shape {x.shape[1:]} does not fit model input {model.input_shape[1:]}")
        if y is None:
            pred = model.predict(x, batch_size=256, verbose=0)
            y = pred.argmax(axis=-1) if task == "classification" else pred
    return ScoreContext(model, granularity, x, y, task, batch_size)


class Criterion(abc.ABC):
    """Base class; subclasses are frozen dataclasses registered under ``name``."""

    name: ClassVar[str]
    estimator: ClassVar[str]  # the exact name of the quantity computed (docs, reports)
    granularities: ClassVar[frozenset] = frozenset(GRANULARITIES)
    needs_data: ClassVar[bool] = False
    updates_weights: ClassVar[bool] = False  # solvers (CHITA) that also change kept weights

    def score(self, ctx: ScoreContext, layer) -> np.ndarray:
        if ctx.granularity not in self.granularities:
            raise ModelError(f"criterion {self.name!r} has no {ctx.granularity}-level scores "
                             f"(it supports: {', '.join(sorted(self.granularities))})")
        if self.needs_data:
            ctx.require_data(self.name)
        s = self.element_scores(ctx, layer)
        return s if ctx.granularity == "element" else channel_reduce(s, layer)

    def element_scores(self, ctx: ScoreContext, layer) -> np.ndarray:
        raise TypeError(f"criterion {type(self).__name__} overrides neither score() nor element_scores()")

    def options(self) -> dict:
        return dataclasses.asdict(self) if dataclasses.is_dataclass(self) else {}


def register_criterion(cls: type[Criterion]) -> type[Criterion]:
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"criterion {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def criterion_names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def make_criterion(name: str, **options) -> Criterion:
    _load_builtin()
    cls = _REGISTRY.get(name)
    if cls is None:
        raise ModelError(f"unknown pruning criterion {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    unknown = set(options) - fields
    if unknown:
        raise ModelError(f"criterion {name!r} has no option(s) {', '.join(sorted(unknown))}"
                         f" (options: {', '.join(sorted(fields)) or 'none'})")
    return cls(**options)


def kernel_array(layer) -> np.ndarray:
    return kernel_variable(layer).numpy()


def _load_builtin() -> None:
    # Import the modules that register the built-in criteria (each registers on import).
    from . import magnitude  # noqa: F401
    for mod in ("taylor", "hessian", "chita", "obs"):
        try:
            __import__(f"{__package__}.{mod}")
        except ModuleNotFoundError as e:
            if not e.name.endswith(mod):
                raise
    try:  # channel scorers (BN-gamma, APoZ) from the structured-pruning package
        __import__("tinyml_prune.pruning.channel.criteria")
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("tinyml_prune.pruning.channel"):
            raise
