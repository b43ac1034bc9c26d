"""The method registry: the one list of self-supervised methods.

The command line (``--method`` choices, help and the method-parameter flags), the training
configuration (which parameter model ``params`` is validated against) and the napari Train
widget (method list, labels, the *Advanced* method parameters) are all generated from
:data:`METHODS`. Adding a method means writing one module with a
:class:`~tomorestore.methods.base.Method` subclass (and its pydantic parameter model) and
registering it with :func:`register_method` (the built-in ones are imported by
``tomorestore.methods``).

Examples
--------
>>> from tomorestore.methods import get_method, method_names
>>> method_names()
('n2v', 'n2n', 'dewedge', 'ei')
>>> get_method("dewedge").needs_wedge
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from ..errors import InputError

if TYPE_CHECKING:
    from .base import Method

MethodType = TypeVar("MethodType", bound="type[Method]")

METHODS: dict[str, type[Method]] = {}
"""Registered method classes by name, in registration order."""

_REQUIRED = (
    "name",
    "title",
    "params_type",
    "accepts_single",
    "needs_wedge",
    "default_steps",
    "default_batch_size",
    "default_patch_size",
    "default_learning_rate",
)


def register_method(cls: MethodType) -> MethodType:
    """Add a :class:`~tomorestore.methods.base.Method` subclass to :data:`METHODS`.

    Use as a class decorator. The class must define every class attribute the interface
    declares (``name``, ``title``, ``params_type``, ``accepts_single``, ``needs_wedge`` and
    the default budget); its name must be new, lower case, and usable as a command-line
    choice.

    Parameters
    ----------
    cls : type
        The method class.

    Returns
    -------
    type
        ``cls`` itself.

    Raises
    ------
    TypeError
        When a required class attribute is missing or ``params_type`` is not a pydantic
        model.
    ValueError
        When the name is taken or not a lower-case identifier.
    """
    missing = [attr for attr in _REQUIRED if not hasattr(cls, attr)]
    if missing:
        raise TypeError(f"{cls.__name__} lacks the class attributes {', '.join(missing)}.")
    name = cls.name
    if not (name.isidentifier() and name == name.lower()):
        raise ValueError(f"method name {name!r} must be a lower-case identifier.")
    if name in METHODS and METHODS[name] is not cls:
        raise ValueError(f"a method called {name!r} is already registered.")
    if not (isinstance(cls.params_type, type) and issubclass(cls.params_type, BaseModel)):
        raise TypeError(f"{cls.__name__}.params_type must be a pydantic model class.")
    METHODS[name] = cls
    return cls


def unregister_method(name: str) -> None:
    """Remove the method ``name`` from :data:`METHODS` (no error if absent)."""
    METHODS.pop(name, None)


def method_names() -> tuple[str, ...]:
    """Names of the registered methods, in registration order."""
    return tuple(METHODS)


def get_method(name: str) -> type[Method]:
    """The method class called ``name`` (one of :data:`METHODS`).

    Raises
    ------
    InputError
        For an unknown name; the message lists the known ones.
    """
    try:
        return METHODS[str(name).lower()]
    except KeyError:
        raise InputError(f"Unknown method {name!r}; choose one of {', '.join(METHODS)}.") from None
