"""Sensitivity analysis: per-layer pruning curves (``sweep.py``) and plots (``plot.py``)."""
