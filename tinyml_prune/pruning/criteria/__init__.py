"""Pruning criteria: a registry of scorers with one interface (see ``base``)."""
from .base import (Criterion, ScoreContext, criterion_names, make_context, make_criterion,
                   register_criterion)

__all__ = ["Criterion", "ScoreContext", "criterion_names", "make_context", "make_criterion",
           "register_criterion"]
