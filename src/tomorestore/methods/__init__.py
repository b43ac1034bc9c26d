# ruff: noqa: I001 - the import order of the method modules is the order of the menus
"""Self-supervised restoration methods behind one interface (:class:`Method`).

======== =========================================== ======= ====== =====
name     what it does                                halves  single wedge
======== =========================================== ======= ====== =====
n2v      blind-spot denoising (N2V2 + struct mask)   usable  yes    no
n2n      Noise2Noise even/odd denoising              needed  no     no
dewedge  rotations + wedge loss: denoise and fill    needed  no     needed
ei       equivariant imaging: denoise and fill       either  yes    needed
======== =========================================== ======= ====== =====

Each method registers itself in :data:`METHODS` (:mod:`.registry`) when its module is
imported; the command line, the training configuration and the napari widgets are built
from that registry.
"""

from __future__ import annotations

# Importing a method module registers it: the order here is the order of the menus.
from .n2v import N2V
from .n2n import N2N
from .dewedge import Dewedge
from .ei import EI

from .base import Method
from .params import DewedgeParams, EIParams, MethodParams, N2NParams, N2VParams
from .registry import METHODS, get_method, method_names, register_method, unregister_method

__all__ = [
    "METHODS",
    "Dewedge",
    "DewedgeParams",
    "EI",
    "EIParams",
    "Method",
    "MethodParams",
    "N2N",
    "N2NParams",
    "N2V",
    "N2VParams",
    "get_method",
    "method_names",
    "register_method",
    "unregister_method",
]
