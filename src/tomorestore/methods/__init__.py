"""Self-supervised restoration methods behind one interface (:class:`Method`).

======== =========================================== ======= ====== =====
name     what it does                                halves  single wedge
======== =========================================== ======= ====== =====
n2v      blind-spot denoising (N2V2 + struct mask)   usable  yes    no
n2n      Noise2Noise even/odd denoising              needed  no     no
dewedge  rotations + wedge loss: denoise and fill    needed  no     needed
ei       equivariant imaging: denoise and fill       either  yes    needed
======== =========================================== ======= ====== =====
"""

from __future__ import annotations

from ..errors import InputError
from .base import Method
from .dewedge import Dewedge
from .ei import EI
from .n2n import N2N
from .n2v import N2V
from .params import DewedgeParams, EIParams, N2NParams, N2VParams

METHODS: dict[str, type[Method]] = {cls.name: cls for cls in (N2V, N2N, Dewedge, EI)}
"""Method classes by name."""


def get_method(name: str) -> type[Method]:
    """The method class called ``name`` (one of :data:`METHODS`).

    Raises
    ------
    InputError
        For an unknown name; the message lists the known ones.
    """
    try:
        return METHODS[str(name).lower()]
    except KeyError:
        raise InputError(f"Unknown method {name!r}; choose one of {', '.join(METHODS)}.") from None


__all__ = [
    "METHODS",
    "Dewedge",
    "DewedgeParams",
    "EI",
    "EIParams",
    "Method",
    "N2N",
    "N2NParams",
    "N2V",
    "N2VParams",
    "get_method",
]
