"""Notifications shown to the user (napari's notification system), in one place.

Errors never escape into Qt's event loop: every user action catches
:class:`~tomorestore.errors.TomorestoreError` (and unexpected exceptions of the core) and
shows its message here. Tests capture these by patching
``napari.utils.notifications.show_error`` (looked up at call time).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from napari.utils import notifications


def notify_error(message: str) -> None:
    """Show an error notification with ``message``."""
    notifications.show_error(str(message))


def notify_warning(message: str) -> None:
    """Show a warning notification with ``message``."""
    notifications.show_warning(str(message))


def notify_info(message: str) -> None:
    """Show an information notification with ``message``."""
    notifications.show_info(str(message))


def describe_exception(exc: BaseException) -> str:
    """The message for a failed action: the text of an ``InputError``, else type + text."""
    from ...errors import TomorestoreError

    if isinstance(exc, TomorestoreError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def guarded(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a Qt/napari signal handler: an exception becomes a notification, never a crash."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except RuntimeError as exc:
            if "has been deleted" not in str(exc):  # a closed widget still being signalled
                notify_error(describe_exception(exc))
            return None
        except Exception as exc:  # noqa: BLE001 - shown to the user instead of raised into Qt
            notify_error(describe_exception(exc))
            return None

    return wrapper
