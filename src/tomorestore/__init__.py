"""tomorestore: self-supervised restoration of cryo-electron tomograms.

The public API is imported lazily so that ``import tomorestore`` (done by napari at
start-up through the plugin manifest) stays cheap and never imports torch.

Examples
--------
>>> import tomorestore
>>> vol = tomorestore.read_volume("tomo.mrc")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

_LAZY = {
    "Volume": "tomorestore.io",
    "read_volume": "tomorestore.io",
    "write_volume": "tomorestore.io",
    "simulate_tomogram": "tomorestore.simulate",
    "MissingWedge": "tomorestore.physics",
    "train": "tomorestore.api",
    "restore": "tomorestore.api",
    "load_model": "tomorestore.api",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return getattr(module, name)
    raise AttributeError(f"module 'tomorestore' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
