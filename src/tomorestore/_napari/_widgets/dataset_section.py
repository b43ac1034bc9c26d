"""The "Data set" section of the "Data and wedge" widget: several tomograms, one model.

A magicgui list of entries (:class:`~.dataset_entries.DatasetEntry`: a tomogram, or an
even/odd pair, each with the tilt range and sampling mask it had when it was added) with
*Add*, *Remove* and *Clear* buttons. A renamed layer stays in the data set under its new
name; a deleted one takes its entry with it (:meth:`DatasetSection.prune`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from magicgui.widgets import Container, Label, PushButton, Select

from .dataset_entries import DatasetEntry, describe_entry, format_voxel_size, unwrap
from .layer_helpers import layer_voxel_size

if TYPE_CHECKING:
    from napari.layers import Layer

    from .shared_state import DataSelection

LIST_HEIGHT = 96
"""Height of the entry list in pixels (about four rows; it scrolls beyond)."""

EMPTY_TEXT = (
    "No data set: Train and Restore use the layers chosen above. Add several tomograms (or "
    "even/odd pairs) to train one model on all of them."
)


class DatasetSection(Container):
    """The data-set list with *Add*, *Remove* and *Clear* (magicgui widgets).

    The owner connects ``add_button`` to what adds its current choice; this class keeps
    the entries, shows them and removes them.

    Parameters
    ----------
    on_change : callable
        Called (without arguments) after *Remove* or *Clear* changed the entries.

    Attributes
    ----------
    entry_list : magicgui.widgets.Select
        One row per entry (several can be selected for *Remove*).
    add_button, remove_button, clear_button : magicgui.widgets.PushButton
    summary : magicgui.widgets.Label
        How many tomograms, their voxel size, and what Train and Restore do with them.
    """

    def __init__(self, on_change: Callable[[], Any]) -> None:
        self._entries: list[DatasetEntry] = []
        self._on_change = on_change
        self.entry_list = Select(
            name="dataset",
            choices=[],
            allow_multiple=True,
            tooltip="The data set: one model trains on all of these tomograms (each with "
            "its own tilt range and mask), and Restore can restore each of them.",
        )
        self.entry_list.native.setMaximumHeight(LIST_HEIGHT)
        self.add_button = PushButton(
            name="add_to_dataset",
            text="Add",
            tooltip="Add the tomogram (or even/odd pair) chosen above with its tilt range and "
            "mask; adding it again updates them.",
        )
        self.remove_button = PushButton(
            name="remove_from_dataset", text="Remove", tooltip="Remove the selected rows."
        )
        self.clear_button = PushButton(
            name="clear_dataset", text="Clear", tooltip="Empty the data set."
        )
        buttons = Container(
            widgets=[self.add_button, self.remove_button, self.clear_button],
            layout="horizontal",
            labels=False,
        )
        buttons.margins = (0, 0, 0, 0)
        self.summary = Label(name="dataset_summary", value=EMPTY_TEXT)
        self.summary.native.setWordWrap(True)
        super().__init__(
            widgets=[self.entry_list, buttons, self.summary], labels=False, name="dataset"
        )
        self.margins = (0, 0, 0, 0)
        self.label = "Data set"
        self.remove_button.changed.connect(self._on_remove_clicked)
        self.clear_button.changed.connect(self._on_clear_clicked)
        self.refresh()

    # -- entries --------------------------------------------------------------------------

    @property
    def entries(self) -> tuple[DatasetEntry, ...]:
        """The entries, in the order they were added."""
        return tuple(self._entries)

    def selections(self) -> tuple[DataSelection, ...]:
        """The entries as :class:`DataSelection` objects (what the session carries)."""
        return tuple(entry.selection for entry in self._entries)

    def put(self, entry: DatasetEntry) -> bool:
        """Add ``entry``, or replace the entry with the same layers; True when it replaced."""
        for index, old in enumerate(self._entries):
            if old.same_layers(entry):
                self._entries[index] = entry
                self.refresh()
                return True
        self._entries.append(entry)
        self.refresh()
        return False

    def set_entries(self, entries: Sequence[DatasetEntry]) -> None:
        """Replace every entry."""
        self._entries = list(entries)
        self.refresh()

    def remove(self, indices: Sequence[int]) -> None:
        """Remove the entries at ``indices``."""
        drop = set(indices)
        self._entries = [e for i, e in enumerate(self._entries) if i not in drop]
        self.refresh()

    def prune(self, alive: Sequence[Layer]) -> list[str]:
        """Drop the entries with a layer (or mask) not in ``alive``; return their texts."""
        present = {id(unwrap(layer)) for layer in alive}
        kept, dropped = [], []
        for entry in self._entries:
            (kept if all(id(layer) in present for layer in entry.uses()) else dropped).append(entry)
        if dropped:
            self._entries = kept
        self.refresh()  # also shows renamed layers under their new names
        return [describe_entry(entry.selection) for entry in dropped]

    # -- display --------------------------------------------------------------------------

    def texts(self) -> list[str]:
        """The rows of the list as shown, top to bottom."""
        native = self.entry_list.native
        return [native.item(row).text() for row in range(native.count())]

    def refresh(self) -> None:
        """Show the entries (current layer names) and the summary."""
        self.entry_list.choices = []  # magicgui keeps rows by text: start afresh, in order
        self.entry_list.choices = [(entry.text(), i) for i, entry in enumerate(self._entries)]
        self.entry_list.value = []
        self.remove_button.enabled = bool(self._entries)
        self.clear_button.enabled = bool(self._entries)
        self.summary.value = self._summary()

    def _summary(self) -> str:
        if not self._entries:
            return EMPTY_TEXT
        count = len(self._entries)
        what = "tomogram" if len(self._entries[0].layers) == 1 else "even/odd pair"
        size = format_voxel_size(layer_voxel_size(self._entries[0].layers[0]))
        plural = "s" if count > 1 else ""
        return (
            f"{count} {what}{plural} of {size}. Train uses the data set (one model for all); "
            "Restore restores each. Clear it to use the layers chosen above alone."
        )

    # -- buttons --------------------------------------------------------------------------

    def _on_remove_clicked(self, *args: Any) -> None:
        chosen = list(self.entry_list.value or [])
        if chosen:
            self.remove(chosen)
            self._on_change()

    def _on_clear_clicked(self, *args: Any) -> None:
        if self._entries:
            self.set_entries([])
            self._on_change()
