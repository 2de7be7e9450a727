"""Board definitions and connections (installed as ``tinyml_prune.boards``)."""
