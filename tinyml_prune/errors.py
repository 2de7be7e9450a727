"""Errors a user can act on. The CLI turns any `TinymlError` into one line and exit code 2."""


class TinymlError(Exception):
    """Base class: the message names the layer/op/tensor/number at fault."""

    exit_code = 2


class ModelError(TinymlError):
    """A model file that cannot be read or is not what the stage needs."""


class UnsupportedOpError(ModelError):
    """An operator (or operator option) the code generator has no kernel for."""


class DataError(TinymlError):
    """A dataset that is missing, malformed or does not fit the model."""


class BoardError(TinymlError):
    """Base for board and connection failures."""


class BoardTimeout(BoardError):
    """The board did not answer within the allowed time."""


class BoardClosed(BoardError):
    """The connection went away (QEMU died, port vanished)."""


class FitError(BoardError):
    """The model does not fit the board's flash or RAM."""


class OutputExistsError(TinymlError):
    """Refusing to overwrite a user's file without --force."""


class OutputError(TinymlError):
    """An output that cannot be written: wrong extension, read-only or missing directory, full disk."""


class UnsupportedLayerError(ModelError):
    """A Keras layer a stage cannot handle (recurrent, custom); the message names it and why."""


class ToolError(TinymlError):
    """A failure inside TensorFlow or its converter, translated to the layer/op it concerns."""


_TOOL_MODULES = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization", "tflite_runtime",
                 "ai_edge_litert", "absl")


def _raised_in_tool(e: BaseException) -> bool:
    tb = e.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_globals.get("__name__", "")
        tb = tb.tb_next
    return bool(last) and last.split(".")[0] in _TOOL_MODULES


def is_tool_error(e: BaseException) -> bool:
    """An exception class of TensorFlow's own (OpError, ConverterError, ...)."""
    return (type(e).__module__ or "").split(".")[0] in _TOOL_MODULES


def tool_error_message(e: BaseException) -> str | None:
    """One line for an exception raised by TensorFlow, its converter or tfmot: the first error it
    states, with the op and the layer when the text names them; None when ``e`` did not come from
    there. The full text is for TINYML_DEBUG=1."""
    import re

    if not (is_tool_error(e) or _raised_in_tool(e)):
        return None
    text = str(e)
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    first = next((l.split("error:", 1)[1].strip() for l in lines if "error:" in l), None)
    if first is None:
        first = next((l for l in lines if not l.startswith(("File ", "Traceback", "Node:", "Detected at"))),
                     type(e).__name__)
    op = re.search(r"'((?:tf|tfl|mhlo|stablehlo)\.[A-Za-z0-9_]+)'", text)
    node = re.search(r"Node: '([^']+)'", text) or re.search(r'loc\("([^"]+)"\)', text)
    where = []
    if op and op.group(1) not in first:
        where.append(f"op {op.group(1)}")
    if node:
        parts = [p for p in node.group(1).split("/") if p and not p.startswith(("StatefulPartitionedCall",
                                                                                  "while", "cond"))]
        if parts:
            layer = parts[1] if len(parts) > 1 and parts[0].startswith(("model", "sequential", "functional")) \
                else parts[0]
            where.append(f"layer {layer!r}")
    at = f" ({', '.join(where)})" if where else ""
    if len(first) > 300:
        first = first[:300] + "..."
    return f"TensorFlow {type(e).__name__}{at}: {first}"
