"""A magicgui form for fields of a pydantic model: :class:`ConfigForm`.

The napari widgets build their controls from the core's configuration models
(``TrainConfig``, ``NetworkConfig``, ``WedgeConfig`` and each method's parameter model), so
bounds, defaults and help text live in one place: the model. One field becomes one widget
(:func:`~.field_widgets.field_widget`); a nested model becomes a nested form.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from magicgui.widgets import Container, Widget
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from .field_widgets import Auto, Choices, field_label, field_widget, value_type


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model class of a field annotation (``Model`` or ``Model | None``)."""
    kind = value_type(annotation)
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def _as_mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, BaseModel):
        return value.model_dump()
    return dict(value) if isinstance(value, Mapping) else {}


class ConfigForm(Container):
    """Labelled widgets for fields of a pydantic model, with ``values()`` / ``set_values()``.

    Parameters
    ----------
    model : type of pydantic.BaseModel
        Where the fields (annotation, bounds, default, description) come from.
    names : iterable of str, optional
        The fields to show, in order (default: all of the model's fields).
    values : mapping, optional
        Initial values by field name (default: the fields' defaults); a nested model's
        value may be a mapping or a model instance.
    choices : mapping, optional
        Field name → choices, for fields shown as a combo box (e.g. the device).
    auto : mapping, optional
        Field name → :class:`~.field_widgets.Auto`, for ``int | None`` fields whose None
        means "automatic".
    name, label, tooltip : str
        Of the form itself (when it is nested in another container).

    Attributes
    ----------
    model : type of pydantic.BaseModel
    skipped : tuple of str
        Fields of a type the form cannot show (e.g. a tuple); they are left out of
        :meth:`values`, so the model's defaults apply to them.

    Examples
    --------
    >>> from tomorestore.methods import DewedgeParams
    >>> form = ConfigForm(DewedgeParams)  # doctest: +SKIP
    >>> form.set_values({"wedge_weight": 5.0})  # doctest: +SKIP
    >>> DewedgeParams(**form.values()).wedge_weight  # doctest: +SKIP
    5.0
    """

    def __init__(
        self,
        model: type[BaseModel],
        names: Iterable[str] | None = None,
        *,
        values: Mapping[str, Any] | None = None,
        choices: Mapping[str, Choices] | None = None,
        auto: Mapping[str, Auto] | None = None,
        name: str = "",
        label: str = "",
        tooltip: str = "",
    ) -> None:
        self.model = model
        values, choices, auto = dict(values or {}), dict(choices or {}), dict(auto or {})
        widgets: list[Widget] = []
        skipped: list[str] = []
        for field_name in model.model_fields if names is None else names:
            field = model.model_fields[field_name]
            value = values.get(field_name, PydanticUndefined)
            sub_model = nested_model(field.annotation)
            if sub_model is not None and field_name not in choices:
                widgets.append(
                    ConfigForm(
                        sub_model,
                        values=_as_mapping(value),
                        name=field_name,
                        label=field_label(field_name, field),
                        tooltip=field.description or "",
                    )
                )
            else:
                try:
                    widget = field_widget(
                        field_name,
                        field,
                        value=value,
                        choices=choices.get(field_name),
                        auto=auto.get(field_name),
                    )
                except TypeError:
                    skipped.append(field_name)
                    continue
                widgets.append(widget)
        self.skipped = tuple(skipped)
        super().__init__(widgets=widgets, name=name, label=label, tooltip=tooltip or None)
        self.margins = (0, 0, 0, 0)

    @property
    def field_names(self) -> tuple[str, ...]:
        """The names of the fields shown, in order."""
        return tuple(widget.name for widget in self)

    def values(self) -> dict[str, Any]:
        """The current values by field name (a nested model's values as a dict)."""
        return {
            widget.name: widget.values() if isinstance(widget, ConfigForm) else widget.value
            for widget in self
        }

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Set fields from ``{name: value}`` (a nested model from a mapping or an instance).

        Raises
        ------
        KeyError
            For a name that is not one of :attr:`field_names`.
        ValueError
            For a value the widget does not accept (out of range, not a choice).
        """
        unknown = [key for key in values if key not in self.field_names]
        if unknown:
            raise KeyError(unknown[0])
        for key, value in values.items():
            widget = self[key]
            if isinstance(widget, ConfigForm):
                widget.set_values(_as_mapping(value))
            else:
                widget.value = value
