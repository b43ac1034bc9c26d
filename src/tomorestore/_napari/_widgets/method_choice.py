"""Which methods and devices the widgets offer, and why a method cannot be used here.

The methods come from the core's registry (:data:`tomorestore.methods.METHODS`), so a
method registered by a plugin or a script appears in the Train widget with its label and
its parameters; why it cannot run is the method's own ``input_problem``, to which this
module adds where in napari to fix it.
"""

from __future__ import annotations

from typing import Any

from .shared_state import DataSelection

HALVES_ADVICE = "choose 'Even/odd halves' in the 'Data and wedge' panel"
WEDGE_ADVICE = (
    "tick 'Missing wedge: tilt range known' in the 'Data and wedge' panel and enter the "
    "tilt range (e.g. -60 to 60)"
)


def method_classes() -> dict[str, Any]:
    """The registered method classes by name, in menu order (a copy of ``METHODS``)."""
    from ...methods import METHODS

    return dict(METHODS)


def method_choices(widget: Any = None) -> list[tuple[str, str]]:
    """``(label, name)`` of every registered method, for a magicgui combo box.

    Parameters
    ----------
    widget : magicgui widget, optional
        Ignored (magicgui calls a choices callable with the widget).
    """
    return [(cls.label(), name) for name, cls in method_classes().items()]


def method_problem(method_cls: Any, selection: DataSelection) -> str | None:
    """Why ``method_cls`` cannot train on ``selection``, with what to do in napari.

    Returns
    -------
    str or None
        The method's ``input_problem`` plus napari advice; None when it can run (on every
        tomogram of a data set).
    """
    for entry in selection.tomograms:
        problem = _entry_problem(method_cls, entry)
        if problem is not None:
            if len(selection.tomograms) > 1:
                return f"{' + '.join(entry.layers)} of the data set: {problem}"
            return problem
    return None


def _entry_problem(method_cls: Any, selection: DataSelection) -> str | None:
    n_halves = 2 if selection.has_halves else 1
    has_wedge = selection.tilt_range is not None
    problem = method_cls.input_problem(n_halves=n_halves, has_wedge=has_wedge)
    if problem is None:
        return None
    advice = []
    if n_halves == 1 and method_cls.input_problem(n_halves=1, has_wedge=True) is not None:
        advice.append(HALVES_ADVICE)  # a tilt range would not help: it needs halves
    if not has_wedge and method_cls.input_problem(n_halves=2, has_wedge=False) is not None:
        advice.append(WEDGE_ADVICE)  # halves would not help: it needs a tilt range
    return f"{problem}: {' and '.join(advice)}." if advice else f"{problem}."


def device_choices() -> list[str]:
    """``"auto"`` followed by every device torch can use (``cpu``, ``cuda:N``, ``mps``)."""
    from ...training.device import available_devices

    return ["auto", *[d for d in available_devices() if d != "auto"]]


def device_type(device: str) -> str:
    """The type (``"cpu"``, ``"cuda"``, ``"mps"``) of a device name; ``"auto"`` resolved here."""
    from ...training.device import resolve_device

    return str(resolve_device(device).type)
