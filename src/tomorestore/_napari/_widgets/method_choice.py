"""Which methods and devices the widgets offer, and why a method cannot be used."""

from __future__ import annotations

from typing import Any

from .shared_state import DataSelection

METHOD_LABELS = {
    "n2v": "n2v: Noise2Void blind spot (one tomogram)",
    "n2n": "n2n: Noise2Noise (even/odd)",
    "dewedge": "dewedge: denoise + fill the wedge (even/odd, tilt range)",
    "ei": "ei: equivariant imaging, fills the wedge (tilt range)",
}


def method_classes() -> dict[str, Any]:
    """The core's method classes by name (``tomorestore.methods.METHODS``)."""
    from ...methods import METHODS

    return dict(METHODS)


def method_problem(method_cls: Any, selection: DataSelection) -> str | None:
    """Why ``method_cls`` cannot run on ``selection`` (None when it can).

    Uses the class attributes ``needs_halves``, ``accepts_single`` and ``needs_wedge``.
    """
    name = method_cls.name
    single = not selection.has_halves
    if single and (method_cls.needs_halves or not method_cls.accepts_single):
        return (
            f"{name} needs even/odd half tomograms: choose 'Even/odd halves' in the 'Data and "
            "wedge' panel, or a single-tomogram method (n2v, ei)."
        )
    if method_cls.needs_wedge and selection.tilt_range is None:
        return (
            f"{name} needs the tilt range: tick 'Missing wedge: tilt range known' in the "
            "'Data and wedge' panel and enter the tilt range (e.g. -60 to 60)."
        )
    return None


def device_choices() -> list[str]:
    """``"auto"`` followed by every device torch can use (``cpu``, ``cuda:N``, ``mps``)."""
    from ...training.device import available_devices

    return ["auto", *[d for d in available_devices() if d != "auto"]]
