"""magicgui layer choosers that list the layers of one given viewer.

magicgui's layer widgets (``create_widget(annotation=napari.layers.Image)``) find their
viewer through the Qt parent chain (``napari.utils._magicgui.find_viewer_ancestor``), which
falls back to ``napari.current_viewer()`` while a widget is not docked: with several
viewers (or a widget built before it is docked) that can be the wrong one. A
:class:`LayerChooser` keeps magicgui's widget but gives it a ``choices`` callable over the
layers of *its* viewer, keeps the chosen layer (not its name) across renames and
re-orderings, and falls back to a preferred layer when the chosen one goes away.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

from magicgui.widgets import create_widget

if TYPE_CHECKING:
    import napari
    from magicgui.widgets import ComboBox

NONE_TEXT = "(none)"
LAYER_EVENTS = ("inserted", "removed", "moved", "reordered", "renamed")
"""The viewer's layer-list events after which the choices are listed again."""


class LayerChooser:
    """A magicgui layer combo box (``widget``) over the layers of one viewer.

    Parameters
    ----------
    viewer : napari.Viewer
        Whose layers are offered.
    layer_type : type
        ``napari.layers.Image``, ``napari.layers.Labels``, ...: the widget's annotation.
    name, label, tooltip : str
        Of the magicgui widget.
    accept : callable, optional
        ``layer -> bool``: offer only these layers of ``layer_type`` (e.g. 3D ones).
    optional : bool
        Offer ``"(none)"`` (value None) first: the annotation is ``Optional[layer_type]``.
    prefer : callable, optional
        ``name -> bool``: when nothing valid is chosen, pick the first layer whose name
        this accepts (e.g. names containing "even"); else the first layer (or none).
    """

    def __init__(
        self,
        viewer: napari.Viewer,
        layer_type: type,
        *,
        name: str,
        label: str,
        tooltip: str = "",
        accept: Callable[[Any], bool] | None = None,
        optional: bool = False,
        prefer: Callable[[str], bool] | None = None,
    ) -> None:
        self.viewer = viewer
        self.layer_type = layer_type
        self._accept = accept
        self._optional = optional
        self._prefer = prefer
        # typing.Optional: older magicgui releases do not unwrap ``X | None`` (types.UnionType)
        annotation = Optional[layer_type] if optional else layer_type  # noqa: UP045
        self.widget: ComboBox = create_widget(
            annotation=annotation, name=name, label=label, options={"tooltip": tooltip}
        )
        self.widget.null_string = NONE_TEXT
        self.widget.choices = self.layers  # this viewer's layers, whoever the Qt parent is
        self._choose_preferred()

    def layers(self, widget: Any = None) -> list[Any]:
        """The layers offered now, in the viewer's order (magicgui's choices callable)."""
        return [
            layer
            for layer in self.viewer.layers
            if isinstance(layer, self.layer_type) and (self._accept is None or self._accept(layer))
        ]

    @property
    def layer(self) -> Any:
        """The chosen layer (None for ``"(none)"`` or when there is no layer)."""
        return self.widget.value if len(self.widget) else None

    @property
    def name(self) -> str | None:
        """The chosen layer's name (None when no layer is chosen)."""
        layer = self.layer
        return None if layer is None else str(layer.name)

    def choose(self, name: str | None) -> None:
        """Choose the layer called ``name`` (None: ``"(none)"``).

        Raises
        ------
        ValueError
            When no such layer is offered, or None for a required choice.
        """
        if name is None:
            if not self._optional:
                raise ValueError("this choice is required; pick a layer")
            self.widget.value = None
            return
        for layer in self.layers():
            if layer.name == name:
                self.widget.value = layer
                return
        names = [layer.name for layer in self.layers()]
        raise ValueError(f"no layer {name!r} here; choose one of {names}")

    def reset(self) -> None:
        """List the layers again, keeping the chosen layer while it is still there."""
        current = self.layer
        self.widget.reset_choices()
        if current is not None and any(layer is current for layer in self.layers()):
            if self.widget.value is not current:
                self.widget.value = current  # renamed or moved: still the same layer
        elif current is not None or not self._optional:
            self._choose_preferred()

    def _choose_preferred(self) -> None:
        layers = self.layers()
        if self._prefer is not None:
            preferred = [layer for layer in layers if self._prefer(layer.name)]
            if preferred:
                self.widget.value = preferred[0]
                return
        if self._optional:
            self.widget.value = None
        elif layers:
            self.widget.value = layers[0]
