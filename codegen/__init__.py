"""int8 TFLite -> C code generator (installed as ``tinyml_prune.codegen``)."""
