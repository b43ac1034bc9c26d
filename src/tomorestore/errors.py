"""Exceptions raised by tomorestore.

Every error a user can cause by giving bad input is an :class:`InputError`: its message
says what is wrong and what to do about it. :class:`Cancelled` signals a clean stop that
the user asked for (Stop button, Ctrl-C, a cancellation callback).
"""

from __future__ import annotations


class TomorestoreError(Exception):
    """Base class of all tomorestore errors."""


class InputError(TomorestoreError, ValueError):
    """Bad user input: wrong shape, NaNs, unreadable file, bad parameter, ...

    The message says what is wrong and what to do.
    """


class CheckpointError(InputError):
    """A checkpoint that cannot be used (corrupt, foreign, or from an incompatible version)."""


class Cancelled(TomorestoreError):  # noqa: N818 - reads naturally: ``raise Cancelled``
    """The user asked to stop; partial results are discarded, nothing half-written."""
