"""The Train widget's settings: magicgui forms generated from ``TrainConfig`` and friends.

Bounds, defaults and help text come from the core's models: ``TrainConfig`` (steps, device
and the *Advanced* run settings), ``NetworkConfig`` (depth and base channels, "auto" by
default) and the chosen method's own parameter model, rebuilt whenever the method changes.
The method-dependent defaults (steps, batch size, patch size, learning rate) come from the
method class. :meth:`TrainForm.config` turns the forms into a ``TrainConfig``.
"""

from __future__ import annotations

from typing import Any

from magicgui.widgets import Container, Label

from ...errors import InputError
from .config_form import ConfigForm
from .field_widgets import Auto
from .method_choice import device_choices, device_type, method_choices, method_classes

MAIN_FIELDS = ("method", "steps", "device")
"""``TrainConfig`` fields always shown."""

TRAINING_FIELDS = (
    "batch_size",
    "patch_size",
    "learning_rate",
    "validate_every",
    "preview_every",
    "seed",
    "fast",
)
"""``TrainConfig`` fields under *Advanced*."""

NETWORK_FIELDS = ("depth", "base_channels")
"""``NetworkConfig`` fields under *Advanced* ("auto": the method's default network)."""

METHOD_DEFAULTS = {
    "steps": "default_steps",
    "batch_size": "default_batch_size",
    "patch_size": "default_patch_size",
    "learning_rate": "default_learning_rate",
}
"""``TrainConfig`` field → the method class attribute holding its default."""


def method_defaults(method_cls: Any) -> dict[str, Any]:
    """The method's default budget: ``steps``, ``batch_size``, ``patch_size``, ``learning_rate``."""
    return {field: getattr(method_cls, attr) for field, attr in METHOD_DEFAULTS.items()}


def network_auto() -> dict[str, Auto]:
    """The "auto" ticks of depth and base channels, with the core's default network."""
    from ...training.config import default_network

    cpu, gpu = default_network("cpu"), default_network("cuda")
    return {
        "depth": Auto(f"auto ({cpu.depth})", cpu.depth),
        "base_channels": Auto(
            f"auto ({cpu.base_channels} CPU, {gpu.base_channels} GPU)", cpu.base_channels
        ),
    }


class TrainForm:
    """The forms of the Train widget and the ``TrainConfig`` they describe.

    Attributes
    ----------
    main : ConfigForm
        Method (the registry's labels), steps and device.
    training : ConfigForm
        Batch size, patch size, learning rate, validation and preview intervals, seed, fast.
    network : ConfigForm
        U-Net depth and base channels (None: "auto").
    params : ConfigForm
        The chosen method's parameters (its ``params_type``), replaced on method change.
    advanced : magicgui.widgets.Container
        ``training``, ``network`` and ``params``: the body of the *Advanced* section.
    """

    def __init__(self) -> None:
        from ...models.config import NetworkConfig
        from ...training.config import TrainConfig

        classes = method_classes()
        if not classes:
            raise InputError("no method is registered (tomorestore.methods.METHODS is empty).")
        name, cls = next(iter(classes.items()))
        defaults = method_defaults(cls)
        self.main = ConfigForm(
            TrainConfig,
            MAIN_FIELDS,
            values={"method": name, "steps": defaults["steps"], "device": "auto"},
            choices={"method": method_choices, "device": device_choices()},
        )
        self.training = ConfigForm(TrainConfig, TRAINING_FIELDS, values=defaults)
        self.network = ConfigForm(
            NetworkConfig,
            NETWORK_FIELDS,
            values=dict.fromkeys(NETWORK_FIELDS),
            auto=network_auto(),
        )
        self.params_title = Label(name="params_title")
        self.params = self._params_form(cls)
        self._params_host = Container(widgets=[self.params], labels=False)
        self._params_host.margins = (0, 0, 0, 0)
        self.advanced = Container(
            widgets=[self.training, self.network, self.params_title, self._params_host],
            labels=False,
        )
        self.main.method.changed.connect(self._on_method_changed)

    # -- reading --------------------------------------------------------------------------

    @property
    def method(self) -> str:
        """The chosen method's name."""
        return str(self.main.method.value)

    @property
    def method_cls(self) -> Any:
        """The chosen method's class."""
        from ...methods import get_method

        return get_method(self.method)

    def network_config(self) -> Any:
        """The ``NetworkConfig`` to train (None when depth and channels are both "auto").

        A set depth or channel count overrides the method's default network for the
        chosen device, so the normalisation and N2V2 layout still follow the method and
        "auto" channels follow the device ("auto" resolved: 16 on a CPU).
        """
        from ...models.config import NetworkConfig
        from ...training.config import default_network

        shape = {key: value for key, value in self.network.values().items() if value is not None}
        if not shape:
            return None
        cls = self.method_cls
        try:
            params = cls.params_type(**self.params.values())
        except ValueError:  # invalid parameters are reported by config()
            params = None
        base = default_network(
            device_type(str(self.main.device.value)), **cls.network_defaults(params)
        )
        return NetworkConfig(**{**base.model_dump(), **shape})

    def config(self, *, wedge: Any = None, extra_steps: int = 0) -> Any:
        """The ``TrainConfig`` of the forms.

        Parameters
        ----------
        wedge : WedgeConfig, optional
            The data's missing wedge.
        extra_steps : int
            Added to the steps (fine-tuning: the loaded model's step count).

        Raises
        ------
        InputError
            When the values do not form a valid configuration.
        """
        from ...training.config import make_config

        main = self.main.values()
        return make_config(
            method=main["method"],
            steps=int(main["steps"]) + int(extra_steps),
            device=main["device"],
            **self.training.values(),
            network=self.network_config(),
            wedge=wedge,
            params=self.params.values(),
        )

    # -- writing --------------------------------------------------------------------------

    def field_names(self) -> tuple[str, ...]:
        """Every name :meth:`set_values` takes (the method's parameters last)."""
        forms = (self.main, self.training, self.network, self.params)
        return tuple(name for form in forms for name in form.field_names)

    def set_values(self, values: dict[str, Any]) -> None:
        """Set controls by field name; ``method`` first (its defaults, then the rest).

        ``depth`` or ``base_channels`` of None or 0 mean "auto"; ``params`` takes a mapping
        (or model) of method parameters, which may also be given by name.

        Raises
        ------
        InputError
            For an unknown name or a value out of range / not offered.
        """
        values = dict(values)
        if "method" in values:
            self.set_method(values.pop("method"))
        params = values.pop("params", None)
        if params is not None:
            self._set(self.params, "params", params)
        for key, value in values.items():
            if key in NETWORK_FIELDS and not value:
                value = None
            form = next(
                (
                    form
                    for form in (self.main, self.training, self.network, self.params)
                    if key in form.field_names
                ),
                None,
            )
            if form is None:
                raise InputError(
                    f"unknown parameter {key!r}; use one of {', '.join(self.field_names())}."
                )
            self._set(form, key, value)

    def set_method(self, name: str) -> None:
        """Choose the method ``name`` (fills its default budget and parameters)."""
        name = str(name).lower()
        names = [value for _, value in method_choices()]
        if name not in names:
            raise InputError(f"unknown method {name!r}; choose one of {', '.join(names)}.")
        if name != self.method:
            self.main.method.value = name
        else:
            self._on_method_changed(name)

    def _set(self, form: ConfigForm, key: str, value: Any) -> None:
        try:
            if key == "params":
                form.set_values(dict(value) if isinstance(value, dict) else value.model_dump())
            else:
                form.set_values({key: value})
        except KeyError as exc:
            raise InputError(f"{self.method} has no parameter {exc.args[0]!r}.") from None
        except (ValueError, TypeError) as exc:
            choices = getattr(form[key], "choices", None) if key in form.field_names else None
            hint = f"; use one of {', '.join(map(str, choices))}" if choices else ""
            raise InputError(f"{key} = {value!r} is not accepted: {exc}{hint}.") from None

    # -- method change --------------------------------------------------------------------

    def _params_form(self, cls: Any) -> ConfigForm:
        form = ConfigForm(cls.params_type, name="params")
        self.params_title.value = f"<b>{cls.name} parameters</b>" if form.field_names else ""
        return form

    def _on_method_changed(self, name: Any) -> None:
        cls = method_classes().get(str(name))
        if cls is None:
            return
        defaults = method_defaults(cls)
        self.main.steps.value = defaults.pop("steps")
        self.training.set_values(defaults)
        if self.params.model is not cls.params_type:
            self._params_host.remove(self.params)
            self.params = self._params_form(cls)
            self._params_host.append(self.params)
        else:
            self.params.set_values(cls.params_type().model_dump())
