"""One magicgui widget for one pydantic field: type, bounds, default and help from the field.

The mapping is deliberately small (magicgui's own pydantic support is private):

=========================  ==============================================================
field annotation           widget
=========================  ==============================================================
``bool``                   :class:`~magicgui.widgets.CheckBox` (its text is the label)
``Literal[...]``           :class:`~magicgui.widgets.ComboBox` of the literal values
``str`` with ``choices``   :class:`~magicgui.widgets.ComboBox` of those choices
``str``                    :class:`~magicgui.widgets.LineEdit`
``int``                    :class:`~magicgui.widgets.SpinBox`, range from ``ge/gt/le/lt``
``float``                  :class:`~magicgui.widgets.FloatSpinBox`, range from the bounds
``X | None``, value None   :class:`AutoNumber`: a spin box with an "auto" (None) tick
=========================  ==============================================================

``X | None`` is treated as ``X``; the tooltip is the field's ``description``. Nested models
are handled by :class:`~.config_form.ConfigForm`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    LineEdit,
    SpinBox,
    Widget,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ...training.field_info import field_bounds, field_default, value_type

FLOAT_LIMIT = 1e12
"""Range of a float field without bounds (the spin box needs finite limits)."""

INT_LIMIT = 2**63 - 1
"""Range of an int field without bounds (magicgui's spin box holds 64-bit integers)."""

Choices = Sequence[Any] | Callable[[Any], Sequence[Any]]


def field_label(name: str, field: FieldInfo | None = None) -> str:
    """The field's ``title``, else its name as words: ``"learning_rate"`` → ``"Learning rate"``."""
    if field is not None and field.title:
        return field.title
    words = name.replace("_", " ")
    return words[:1].upper() + words[1:]


def number_range(field: FieldInfo, kind: type, epsilon: float = 0.0) -> tuple[Any, Any]:
    """``(minimum, maximum)`` allowed by the field's ``ge``/``gt``/``le``/``lt`` bounds.

    Parameters
    ----------
    field : FieldInfo
    kind : type
        ``int`` or ``float``.
    epsilon : float
        For floats: how far inside an exclusive bound (``gt``/``lt``) the range stops
        (the spin box's resolution); ints step by 1.
    """
    limit = INT_LIMIT if kind is int else FLOAT_LIMIT
    inside = 1 if kind is int else epsilon
    bounds = field_bounds(field)
    lows = [bounds["ge"]] if "ge" in bounds else []
    lows += [bounds["gt"] + inside] if "gt" in bounds else []
    highs = [bounds["le"]] if "le" in bounds else []
    highs += [bounds["lt"] - inside] if "lt" in bounds else []
    low, high = max([-limit, *lows]), min([limit, *highs])
    return kind(low), kind(high)


def float_step(value: float | None) -> float:
    """A spin-box step a tenth of ``value``'s order of magnitude (0.1 for 2.0, 1e-4 for 1e-3)."""
    if not value:
        return 0.01
    return 10.0 ** (math.floor(math.log10(abs(value))) - 1)


def float_decimals(step: float) -> int:
    """Decimals that show two more digits than ``step`` (at least 2)."""
    return max(2, 2 - math.floor(math.log10(step)))


@dataclass(frozen=True)
class Auto:
    """How a ``X | None`` number field shows None: an "auto" tick beside the number.

    Attributes
    ----------
    text : str
        The tick's text, e.g. ``"auto (16 CPU, 32 GPU)"``.
    number : int or float
        The number shown (greyed out) while "auto" is ticked.
    """

    text: str
    number: int | float


DEFAULT_AUTO_TEXT = "default"
"""The tick's text for a ``X | None`` field whose None has no :class:`Auto` of its own."""


class AutoNumber(Container):
    """A number widget with an "auto" tick; its value is None while "auto" is ticked.

    Parameters
    ----------
    number : magicgui.widgets.SpinBox or FloatSpinBox
        The number (range, step, tooltip already set); shown greyed out while auto.
    auto_text : str
        The tick's text, e.g. ``"auto (16 CPU, 32 GPU)"``.
    auto : bool
        Whether "auto" starts ticked.
    name, label, tooltip : str
        As for every magicgui widget.
    """

    def __init__(
        self,
        number: SpinBox | FloatSpinBox,
        *,
        auto_text: str,
        auto: bool,
        name: str,
        label: str,
        tooltip: str,
    ) -> None:
        self.auto = CheckBox(name="auto", text=auto_text, value=auto, tooltip=tooltip)
        self.number = number
        number.name = "number"
        number.enabled = not auto
        super().__init__(
            widgets=[self.auto, number],
            layout="horizontal",
            labels=False,
            name=name,
            label=label,
            tooltip=tooltip,
        )
        self.margins = (0, 0, 0, 0)
        self.auto.changed.connect(self._on_auto)

    @property
    def value(self) -> Any:
        """The number, or None while "auto" is ticked."""
        return None if self.auto.value else self.number.value

    @value.setter
    def value(self, value: Any) -> None:
        if value is not None:
            self.number.value = value
        self.auto.value = value is None

    def _on_auto(self, ticked: bool) -> None:
        self.number.enabled = not ticked


def number_widget(
    kind: type, field: FieldInfo, value: float | None, **common: Any
) -> SpinBox | FloatSpinBox:
    """A spin box for an ``int`` or ``float`` field, its range from the field's bounds.

    ``value`` None starts at the smallest allowed value (for a caller that shows None).
    """
    if kind is int:
        minimum, maximum = number_range(field, int)
        start = minimum if value is None else int(value)
        return SpinBox(value=start, min=minimum, max=maximum, **common)
    step = float_step(value)
    decimals = float_decimals(step)
    minimum, maximum = number_range(field, float, epsilon=10.0**-decimals)
    widget = FloatSpinBox(min=minimum, max=maximum, step=step, **common)
    widget.native.setDecimals(decimals)
    widget.min, widget.max = minimum, maximum  # again: Qt rounded them to 2 decimals
    widget.value = minimum if value is None else float(value)
    return widget


def field_widget(
    name: str,
    field: FieldInfo,
    *,
    value: Any = PydanticUndefined,
    choices: Choices | None = None,
    auto: Auto | None = None,
) -> Widget:
    """The magicgui widget for one pydantic field (see the table in the module docstring).

    Parameters
    ----------
    name : str
        The field's name (becomes the widget's name).
    field : FieldInfo
        ``Model.model_fields[name]``: annotation, bounds, default and description.
    value : optional
        The initial value (default: the field's default).
    choices : sequence or callable, optional
        Offer these values in a combo box (``(text, value)`` pairs allowed; a callable is
        called with the widget, magicgui style, whenever the choices are reset).
    auto : Auto, optional
        For ``int | None`` / ``float | None`` fields: show None as an "auto" tick with
        this text. A number field whose value is None gets a "default" tick without it.

    Returns
    -------
    magicgui.widgets.Widget

    Raises
    ------
    TypeError
        For an annotation the mapping does not cover.
    """
    if value is PydanticUndefined:
        value = field_default(field)
    kind = value_type(field.annotation)
    common: dict[str, Any] = {
        "name": name,
        "label": field_label(name, field),
        "tooltip": field.description or "",
    }
    if choices is not None or get_origin(kind) is Literal:
        options = choices if choices is not None else get_args(kind)
        widget = ComboBox(choices=options, **common)
        if value is not None:
            widget.value = value
        return widget
    if kind is bool:
        return CheckBox(value=bool(value), text=common.pop("label"), **common)
    if kind is str:
        return LineEdit(value="" if value is None else str(value), **common)
    if kind in (int, float):
        if auto is None and value is None:
            auto = Auto(DEFAULT_AUTO_TEXT, number_range(field, kind)[0])
        if auto is None:
            return number_widget(kind, field, value, **common)
        number = number_widget(
            kind, field, auto.number if value is None else value, tooltip=common["tooltip"]
        )
        return AutoNumber(number, auto_text=auto.text, auto=value is None, **common)
    raise TypeError(f"no form widget for field {name!r} of type {field.annotation!r}")
