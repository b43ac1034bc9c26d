"""What a pydantic field says about itself: value type, choices, bounds, default.

The command line's method-parameter flags (:mod:`tomorestore.cli.method_options`) and the
napari forms (``tomorestore._napari._widgets.field_widgets``) are generated from the
configuration models through these functions, so both read bounds and choices the same
way.

Examples
--------
>>> from tomorestore.methods import DewedgeParams
>>> field = DewedgeParams.model_fields["wedge_weight"]
>>> field_bounds(field)
{'ge': 0.0, 'le': 1000.0}
>>> literal_choices(DewedgeParams.model_fields["rotations"].annotation)
('so3', 'cube', 'z')
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

from pydantic.fields import FieldInfo

BOUND_NAMES = ("ge", "gt", "le", "lt")
"""Names of the numeric bounds a field may carry (``Field(ge=..., lt=...)``)."""


def value_type(annotation: Any) -> Any:
    """The annotation without ``None``: ``int | None`` -> ``int`` (others unchanged)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def literal_choices(annotation: Any) -> tuple[Any, ...] | None:
    """The values of a ``Literal[...]`` annotation (``None`` stripped first), else None."""
    kind = value_type(annotation)
    return typing.get_args(kind) if typing.get_origin(kind) is Literal else None


def field_bounds(field: FieldInfo) -> dict[str, Any]:
    """The numeric bounds of ``field`` by name (``{"ge": 0, "le": 1000}``; empty if none)."""
    bounds: dict[str, Any] = {}
    for item in field.metadata:
        for name in BOUND_NAMES:
            value = getattr(item, name, None)
            if value is not None:
                bounds[name] = value
    return bounds


def field_default(field: FieldInfo) -> Any:
    """The field's default value (calling ``default_factory``); None when it has none."""
    if field.is_required():
        return None
    return field.get_default(call_default_factory=True)
