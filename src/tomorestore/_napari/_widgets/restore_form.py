"""The Restore widget's settings: a magicgui form of ``RestorationModel.restore``'s options.

Tile ("auto": the core's :func:`~tomorestore.training.restoration_model.default_tile` for
the device), overlap, device, whether to add the even/odd disagreement map and, with a data
set, whether to restore all of its tomograms.
"""

from __future__ import annotations

from typing import Any

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, SpinBox

from ...errors import InputError
from ...inference.tiling import DEFAULT_OVERLAP
from .field_widgets import AutoNumber
from .method_choice import device_choices

TILE_RANGE = (8, 1024)
"""Smallest and largest tile edge offered (voxels)."""

OVERLAP_RANGE = (0.0, 0.9)
"""Overlap offered: the core takes [0, 1)."""


NAMES = ("tile", "overlap", "device", "disagreement", "whole_dataset")


class RestoreForm(Container):
    """Tile, overlap, device, disagreement, whole data set; ``values()``, ``set_values()``.

    Attributes
    ----------
    tile : AutoNumber
        Tile edge in voxels (None: automatic).
    overlap : magicgui.widgets.FloatSpinBox
    device : magicgui.widgets.ComboBox
    disagreement : magicgui.widgets.CheckBox
    whole_dataset : magicgui.widgets.CheckBox
        Restore every tomogram of the data set (enabled while there is one).
    """

    def __init__(self) -> None:
        from ...training.restoration_model import default_tile

        cpu, gpu = default_tile("cpu"), default_tile("cuda")
        tile_help = "Edge of the cubic tiles (voxels); lowered automatically on GPU OOM."
        self.tile = AutoNumber(
            SpinBox(min=TILE_RANGE[0], max=TILE_RANGE[1], step=16, value=cpu, tooltip=tile_help),
            auto_text=f"auto ({cpu} CPU, {gpu} GPU)",
            auto=True,
            name="tile",
            label="Tile",
            tooltip=tile_help,
        )
        self.overlap = FloatSpinBox(
            name="overlap",
            label="Overlap",
            min=OVERLAP_RANGE[0],
            max=OVERLAP_RANGE[1],
            step=0.0625,
            value=DEFAULT_OVERLAP,
            tooltip="Fraction of a tile shared with each neighbour (blended).",
        )
        self.device = ComboBox(
            name="device",
            label="Device",
            choices=device_choices(),
            value="auto",
            tooltip="Compute device: auto picks the first GPU, else the CPU.",
        )
        self.disagreement = CheckBox(
            name="disagreement",
            text="Even/odd disagreement map (reliability)",
            value=False,
            tooltip="Also add |f(even) - f(odd)| of the two restored halves as a layer: high "
            "values mark where the restoration is not supported by the data.",
        )
        self.whole_dataset = CheckBox(
            name="whole_dataset",
            text="Every tomogram of the data set",
            value=True,
            enabled=False,
            tooltip="With a data set in 'Data and wedge': restore each of its tomograms into "
            "its own layer, each with its own tilt range. Unticked: only the tomogram (or "
            "pair) chosen there.",
        )
        super().__init__(
            widgets=[self.tile, self.overlap, self.device, self.disagreement, self.whole_dataset]
        )
        self.margins = (0, 0, 0, 0)

    def values(self) -> dict[str, Any]:
        """The settings by name (``tile`` None: automatic)."""
        return {
            "tile": self.tile.value,
            "overlap": float(self.overlap.value),
            "device": str(self.device.value),
            "disagreement": bool(self.disagreement.value),
            "whole_dataset": bool(self.whole_dataset.value),
        }

    def set_values(self, values: dict[str, Any]) -> None:
        """Set controls by name (``tile`` of None or 0: automatic).

        Raises
        ------
        InputError
            For an unknown name or a value out of range / not offered.
        """
        for key, value in values.items():
            if key not in NAMES:
                raise InputError(
                    f"unknown parameter {key!r}; use tile, overlap, device, disagreement or "
                    "whole_dataset."
                )
            try:
                if key == "tile":
                    self.tile.value = int(value) if value else None
                else:
                    getattr(self, key).value = value
            except ValueError as exc:
                hint = f"; use one of {', '.join(device_choices())}" if key == "device" else ""
                raise InputError(f"{key} = {value!r} is not accepted: {exc}{hint}.") from None
