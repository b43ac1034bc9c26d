"""Command-line flags generated from the method registry and the methods' parameter models.

Each field of a registered method's parameter model becomes one flag (``wedge_weight`` ->
``--wedge-weight``); a field name shared by several methods is one flag whose help names
each of them. Nested models (EI's ``blind_spot``) are set in a ``--config`` YAML file.
"""

from __future__ import annotations

import argparse
from typing import Any

from pydantic.fields import FieldInfo

from ..errors import InputError
from ..methods import METHODS
from ..training.field_info import field_bounds, literal_choices, value_type

DEST_PREFIX = "method_param_"


def method_help() -> str:
    """One line per registered method: its label."""
    return "; ".join(cls.label() for cls in METHODS.values())


def _scalar_type(annotation: Any) -> tuple[Any, tuple[Any, ...] | None] | None:
    """``(argparse type, choices)`` for a flat field annotation; None for nested models."""
    choices = literal_choices(annotation)
    if choices is not None:
        return type(choices[0]), choices
    kind = value_type(annotation)
    return (kind, None) if kind in (bool, int, float, str) else None


def _bounds(field: FieldInfo) -> str:
    symbols = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    return ", ".join(
        f"{symbols[name]} {value:g}" if isinstance(value, float) else f"{symbols[name]} {value}"
        for name, value in field_bounds(field).items()
    )


def _flat_fields() -> dict[str, list[tuple[str, FieldInfo]]]:
    """Field name -> [(method, field)] over every registered method's parameters."""
    fields: dict[str, list[tuple[str, FieldInfo]]] = {}
    for name, cls in METHODS.items():
        for field_name, field in cls.params_type.model_fields.items():
            if _scalar_type(field.annotation) is not None:
                fields.setdefault(field_name, []).append((name, field))
    return fields


def add_method_parameter_flags(parser: argparse.ArgumentParser) -> None:
    """Add one flag per method parameter, in a group "method parameters"."""
    group = parser.add_argument_group(
        "method parameters",
        "each applies to the methods named in brackets; unset flags keep the method's "
        "defaults (or the --config file's params)",
    )
    for field_name, owners in _flat_fields().items():
        kinds = [_scalar_type(field.annotation) for _, field in owners]
        kind = kinds[0][0]  # type: ignore[index]
        choices = None
        if all(k[1] for k in kinds):  # type: ignore[index]
            choices = tuple(dict.fromkeys(c for k in kinds for c in k[1]))  # type: ignore[index]
        help_text = " ".join(_field_help(name, field) for name, field in owners)
        flag = "--" + field_name.replace("_", "-")
        dest = DEST_PREFIX + field_name
        if kind is bool:
            group.add_argument(
                flag, dest=dest, action=argparse.BooleanOptionalAction, default=None,
                help=help_text.replace("%", "%%"),
            )  # fmt: skip
        else:
            group.add_argument(
                flag, dest=dest, type=kind, choices=choices, default=None,
                metavar=None if choices else field_name.upper(),
                help=help_text.replace("%", "%%"),
            )  # fmt: skip


def _field_help(method: str, field: FieldInfo) -> str:
    """``"[method] description (bounds) Default: value."``"""
    bounds = _bounds(field)
    details = f" ({bounds})" if bounds else ""
    return f"[{method}] {(field.description or '').strip()}{details} Default: {field.default}."


def method_parameters(args: argparse.Namespace, method: str) -> dict[str, Any]:
    """The method-parameter flags that were given, checked against ``method``.

    Raises
    ------
    InputError
        When a flag belongs to other methods only.
    """
    given = {
        key.removeprefix(DEST_PREFIX): value
        for key, value in vars(args).items()
        if key.startswith(DEST_PREFIX) and value is not None
    }
    own = METHODS[method].params_type.model_fields
    foreign = [name for name in given if name not in own]
    if foreign:
        owners = _flat_fields()
        text = "; ".join(
            f"--{name.replace('_', '-')} is a parameter of "
            f"{', '.join(m for m, _ in owners.get(name, []))}"
            for name in foreign
        )
        raise InputError(f"{text}, not of {method}: remove it or choose that method.")
    return given
