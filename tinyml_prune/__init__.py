"""tinyml-prune: Keras model -> pruned -> int8 -> C -> Cortex-M board -> report."""
__version__ = "0.1.0"
