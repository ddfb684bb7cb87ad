"""Exceptions raised by eventsim.

Every error raised on a user's input names where the problem is (a file, or a
layer of a network), the field, and what was expected, so that the message alone
tells the user what to fix.
"""

from __future__ import annotations

import numbers


def quoted(text: object, limit: int = 300) -> str:
    """``text`` as one printable line for a message: a library's error text may carry bytes of
    a damaged file (newlines, control characters, terminal escapes); those become ``\\xNN``,
    and the text is cut at ``limit`` characters."""
    out = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in str(text))
    return out if len(out) <= limit else out[:limit] + "..."


class EventsimError(Exception):
    """Base class of every error eventsim raises on purpose."""


class FormatError(EventsimError):
    """A file is not in the format its name or content claims (truncated, foreign, damaged)."""


class EventError(FormatError):
    """Events are malformed: coordinates off the sensor, wrong dtype, bad polarity."""


class NetworkError(EventsimError):
    """A network description is invalid: a wrong shape, a NaN weight, a bad parameter."""


class InputError(EventsimError):
    """Inputs given to the simulator do not fit the network (shape, values, binning)."""


class ResourceError(EventsimError):
    """A run would exceed a limit: memory it would allocate, a number beyond what the engine
    represents, more workers than the machine has. Raised before the work starts."""


class OutputError(EventsimError):
    """An output cannot be written, or would overwrite one of the run's inputs; nothing of
    the user's was changed."""


class EventsimWarning(UserWarning):
    """Warnings about input eventsim could repair (for example unsorted timestamps)."""


def whole(value, where: str, field: str, minimum: int | None = 1, maximum: int | None = None,
          error: type[EventsimError] = InputError) -> int:
    """``value`` as an ``int``, if it is a whole number (a Python or numpy integer, not a bool)
    in ``minimum..maximum`` (None: unbounded); otherwise ``error`` naming ``where`` and
    ``field``.

    The one integer check of eventsim: arguments (``dt_us``, ``T``, ``threads``), spec and
    network fields, and the CLI's flags once parsed all go through it.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
            or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if minimum is None:
            expected = "an integer"
        elif maximum is not None:
            expected = f"an integer in {minimum}..{maximum}"
        elif minimum in (0, 1):
            expected = ("a non-negative", "a positive")[minimum] + " integer"
        else:
            expected = f"an integer >= {minimum}"
        raise error(f"{where}: field '{field}' must be {expected}, got {value!r}")
    return int(value)
