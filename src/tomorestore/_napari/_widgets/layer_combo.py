"""A combo box listing a viewer's layers of one kind, kept in sync with the layer list."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qtpy.QtWidgets import QComboBox, QWidget

if TYPE_CHECKING:
    import napari

NONE_TEXT = "(none)"


class LayerCombo(QComboBox):
    """Names of the layers that ``list_layers(viewer)`` returns, refreshed on every change.

    Parameters
    ----------
    viewer : napari.Viewer
    list_layers : callable
        ``viewer -> list of layers`` to offer.
    allow_none : bool
        Offer ``"(none)"`` as the first item (an optional choice).
    prefer : callable, optional
        ``name -> bool``: when the current choice disappears or is empty, the first layer
        for which this is true is picked (e.g. names containing "even").
    """

    def __init__(
        self,
        viewer: napari.Viewer,
        list_layers: Callable[[Any], list[Any]],
        *,
        allow_none: bool = False,
        prefer: Callable[[str], bool] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._viewer = viewer
        self._list_layers = list_layers
        self._allow_none = allow_none
        self._prefer = prefer
        self.refreshing = False  # True while a layer-list change updates the choice
        self.refresh()
        events = viewer.layers.events
        events.inserted.connect(self.refresh)
        events.removed.connect(self.refresh)
        events.moved.connect(self.refresh)
        events.changed.connect(self.refresh)
        viewer.layers.events.inserted.connect(self._watch_names)
        self._watch_names()

    def _watch_names(self, event: Any = None) -> None:
        for layer in self._viewer.layers:
            layer.events.name.connect(self.refresh)

    def disconnect_viewer(self) -> None:
        """Stop following the viewer's layer list (called when the widget goes away)."""
        events = self._viewer.layers.events
        for emitter in (events.inserted, events.removed, events.moved, events.changed):
            emitter.disconnect(self.refresh)
        events.inserted.disconnect(self._watch_names)
        for layer in self._viewer.layers:
            layer.events.name.disconnect(self.refresh)

    def names(self) -> list[str]:
        """The layer names offered now (without ``"(none)"``)."""
        return [layer.name for layer in self._list_layers(self._viewer)]

    def current_name(self) -> str | None:
        """The chosen layer name, or None for ``"(none)"``/an empty list."""
        text = self.currentText()
        return None if not text or text == NONE_TEXT else text

    def set_current_name(self, name: str | None) -> None:
        """Choose ``name`` (None chooses ``"(none)"``); ``ValueError`` if it is not offered."""
        if name is None:
            if not self._allow_none:
                raise ValueError("this choice is required; pick a layer")
            self.setCurrentIndex(0)
            return
        index = self.findText(name)
        if index < 0:
            raise ValueError(f"no layer {name!r} here; choose one of {self.names()}")
        self.setCurrentIndex(index)

    def refresh(self, event: Any = None) -> None:
        """Re-list the layers, keeping the current choice when it still exists."""
        current = self.current_name()
        names = self.names()
        items = ([NONE_TEXT] if self._allow_none else []) + names
        if items == [self.itemText(i) for i in range(self.count())]:
            return
        self.blockSignals(True)
        self.clear()
        self.addItems(items)
        if current in names:
            choice = current
        elif self._prefer is not None and any(self._prefer(n) for n in names):
            choice = next(n for n in names if self._prefer(n))
        else:
            choice = None if self._allow_none else (names[0] if names else None)
        self.setCurrentIndex(items.index(choice) if choice in items else (0 if items else -1))
        self.blockSignals(False)
        if self.current_name() != current:
            self.refreshing = True
            try:
                self.currentIndexChanged.emit(self.currentIndex())
            finally:
                self.refreshing = False
