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
