"""User-facing errors: each carries one clear line; the CLI prints it and exits 2."""

from __future__ import annotations


class FoolingError(Exception):
    """An error the user caused (bad name, bad value, missing or corrupt file, no network)."""


class ConfigError(FoolingError):
    """A configuration value is out of range or inconsistent."""


class UnknownNameError(FoolingError):
    """A model, encoding or preset name is not registered."""


class DataError(FoolingError):
    """A dataset or weights file is missing, truncated, corrupt or cannot be downloaded."""


class RunDirError(FoolingError):
    """A run directory cannot be written, already holds another run, or cannot be resumed."""


def first_line(error: BaseException) -> str:
    """The first line of ``error``'s message (its type's name if it has none): what a
    one-line error quotes of an exception raised by other code."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def check_positive_int(name: str, value: object) -> None:
    """Raise a ``ConfigError`` unless ``value`` is an integer >= 1 (``True`` is not one)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
