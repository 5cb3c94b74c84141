"""User-facing errors.

Every mistake a user can make (a bad value, a missing file, an unknown name, malformed data)
raises a :class:`TempcheckError`; the CLI prints it as one line ``error: ...`` and exits 2.
Programming errors stay ordinary Python exceptions so they keep their tracebacks.
"""

from __future__ import annotations


class TempcheckError(Exception):
    """Base class of errors caused by user input; the message is shown as one line."""


class ConfigError(TempcheckError):
    """An unknown config key, a malformed YAML file or a value of the wrong type."""


class TemperatureError(TempcheckError, ValueError):
    """A temperature that is not finite and strictly positive."""


class UnknownNameError(TempcheckError, KeyError):
    """An unknown model, dataset, evaluation or attack name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataError(TempcheckError):
    """A missing or malformed data file."""


class RunFolderError(TempcheckError):
    """An output folder that holds a different sweep, or is locked by another process."""


class ModelError(TempcheckError):
    """A user model that cannot be built or banked (a bad ``python:`` model, a construct
    ``torch.func.vmap`` cannot batch, a module that does not return ``(B, C)`` logits)."""
