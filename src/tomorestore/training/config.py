"""Training configuration: small validated pydantic models, saved as YAML.

A :class:`TrainConfig` is stored, fully resolved (no ``None`` left), inside every
checkpoint, so a checkpoint alone describes how its network was trained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..errors import InputError
from ..methods import MethodParams, get_method, method_names
from ..models.config import NetworkConfig


class WedgeConfig(BaseModel):
    """The tilt range of the tilt series: which Fourier region was measured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tilt_min: float = Field(gt=-90.0, lt=90.0, description="Lowest tilt angle (degrees).")
    tilt_max: float = Field(gt=-90.0, lt=90.0, description="Highest tilt angle (degrees).")
    tilt_axis: Literal["Y", "X"] = Field(
        "Y",
        description=(
            "Tilt axis: Y (the second array axis, most tomograms) or X (the third). For X "
            "the core transposes Y and X of the data on the way in and back on the way out, "
            "so the methods always see the tilt axis along Y."
        ),
    )

    @model_validator(mode="after")
    def _ordered(self) -> WedgeConfig:
        if not self.tilt_min < self.tilt_max:
            raise ValueError(
                f"tilt_min ({self.tilt_min}) must be smaller than tilt_max ({self.tilt_max}); "
                "give the range as MIN MAX, e.g. -60 60"
            )
        return self

    def missing_wedge(self) -> Any:
        """The :class:`~tomorestore.physics.MissingWedge` of the data, in its orientation."""
        from ..physics import MissingWedge

        return MissingWedge(self.tilt_min, self.tilt_max, tilt_axis=self.tilt_axis)

    def method_wedge(self) -> Any:
        """The wedge in the methods' frame (tilt axis along Y; see ``training.tilt_frame``)."""
        from ..physics import MissingWedge

        return MissingWedge(self.tilt_min, self.tilt_max, tilt_axis="Y")


class TrainConfig(BaseModel):
    """Everything that defines a training run (except the data).

    ``None`` fields are filled at training time by :func:`resolve_config` (method defaults;
    a network sized for the device) and the resolved configuration is stored in the
    checkpoint.
    """

    model_config = ConfigDict(extra="forbid")

    method: str = Field(
        description="Self-supervised method, one of the registered names (n2v, n2n, ...)."
    )
    steps: int | None = Field(
        None, ge=1, le=10_000_000, description="Optimiser steps in total (None: method default)."
    )
    batch_size: int | None = Field(
        None, ge=1, le=512, description="Sub-tomograms per step (None: method default)."
    )
    patch_size: int | None = Field(
        None, ge=8, le=512, description="Edge of the cubic training patches, voxels."
    )
    learning_rate: float | None = Field(
        None, gt=0.0, le=1.0, description="Peak Adam learning rate (None: method default)."
    )
    schedule: Literal["cosine", "constant"] | None = Field(
        None,
        description=(
            "Learning-rate schedule after a short warm-up: cosine decay or constant "
            "(None: method default)."
        ),
    )
    validation_fraction: float = Field(
        0.1, ge=0.0, le=0.5, description="Fraction of the Y axis held out for validation."
    )
    validate_every: int = Field(50, ge=1, le=1_000_000, description="Validate every N steps.")
    keep_best: bool = Field(
        True,
        description=(
            "End with the weights of the lowest validation loss (held-out slab) instead of "
            "the last ones: on one small tomogram the network can fit its noise late in "
            "training. A refill of the wedge (dewedge, ei's filler) changes the data, so "
            "only the losses since the last refill compete: there it keeps weights of the "
            "last refill period. Needs validation_fraction > 0."
        ),
    )
    preview_every: int = Field(
        100, ge=0, le=1_000_000, description="Preview the restoration every N steps (0: never)."
    )
    checkpoint_every: int = Field(
        500, ge=0, le=1_000_000, description="Write a checkpoint every N steps (0: only at end)."
    )
    seed: int = Field(0, ge=0, le=2**63 - 1, description="Random seed (crops, masks, weights).")
    device: str = Field(
        "auto", description="'auto' (cuda, then mps, then cpu), 'cpu', 'cuda', 'cuda:1', 'mps'."
    )
    fast: bool = Field(
        True, description="bf16 autocast and channels_last_3d (about 2.3x faster on CPU)."
    )
    network: NetworkConfig | None = Field(
        None, description="U-Net shape (None: depth 3, 16 channels on CPU, 32 on a GPU)."
    )
    wedge: WedgeConfig | None = Field(None, description="Tilt range (required by dewedge and ei).")
    params: SerializeAsAny[MethodParams] = Field(
        None,
        validate_default=True,
        description=(
            "Parameters of the chosen method (its own pydantic model, e.g. wedge_weight for "
            "dewedge); missing fields take the method's defaults."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy_method_sections(cls, data: Any) -> Any:
        return upgrade_config_mapping(data) if isinstance(data, dict) else data

    @field_validator("method", mode="before")
    @classmethod
    def _registered_method(cls, value: Any) -> str:
        name = str(value).lower()
        if name not in method_names():
            raise ValueError(f"unknown method {value!r}; choose one of {', '.join(method_names())}")
        return name

    @field_validator("params", mode="before")
    @classmethod
    def _params_of_method(cls, value: Any, info: ValidationInfo) -> Any:
        method = info.data.get("method")
        if method is None:  # the method itself was invalid: that error is reported
            return MethodParams()
        params_type = get_method(method).params_type
        if value is None:
            return params_type()
        if isinstance(value, params_type):
            return value
        if isinstance(value, BaseModel):
            raise ValueError(
                f"{type(value).__name__} given for method {method!r}; it takes "
                f"{params_type.__name__}"
            )
        try:
            return params_type.model_validate(value)
        except ValidationError as exc:
            raise ValueError(f"{method} parameters: {describe_validation_error(exc)}") from None

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The configuration as YAML text; also written to ``path`` when given."""
        text = yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_yaml(cls, source: str | Path) -> TrainConfig:
        """Read a complete configuration from a YAML file path or YAML text.

        Raises
        ------
        InputError
            If the file is missing, not YAML, or has unknown, missing or out-of-range
            fields. (A partial file merged with other settings: :func:`read_config_mapping`.)
        """
        return make_config(**read_config_mapping(source))


def read_config_mapping(source: str | Path) -> dict[str, Any]:
    """The ``field: value`` mapping of a YAML configuration (file path or text), unvalidated.

    A partial file is fine: validation happens once the mapping is merged with the other
    settings (:func:`tomorestore.api.build_config`).

    Raises
    ------
    InputError
        If the file cannot be read, is not YAML, or is not a mapping.
    """
    text = str(source)
    is_path = isinstance(source, Path) or ("\n" not in text and text.endswith((".yaml", ".yml")))
    if is_path:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read the configuration file {source}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"the configuration is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError("the configuration must be a YAML mapping of field: value.")
    return data


def upgrade_config_mapping(data: dict[str, Any]) -> dict[str, Any]:
    """A configuration mapping of format 1 in today's layout (a copy; others unchanged).

    Format 1 had one section per method (``n2v: {...}``, ``dewedge: {...}``, ...); the
    section of the chosen method becomes ``params`` and the others are dropped.
    """
    legacy = [
        name for name in method_names() if name in data and name not in TrainConfig.model_fields
    ]
    if not legacy:
        return data
    data = dict(data)
    sections = {name: data.pop(name) for name in legacy}
    method = str(data.get("method", "")).lower()
    if method in sections and data.get("params") is None:
        data["params"] = sections[method]
    return data


def describe_validation_error(exc: ValidationError) -> str:
    """A short, readable summary of a pydantic validation error."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ())) or "configuration"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if error.get("type") == "extra_forbidden":
            message = "unknown field (check the spelling)"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def make_config(**fields: Any) -> TrainConfig:
    """Build a :class:`TrainConfig`, turning validation errors into :class:`InputError`."""
    try:
        return TrainConfig.model_validate(fields)
    except ValidationError as exc:
        raise InputError(
            f"invalid training configuration: {describe_validation_error(exc)}"
        ) from exc


def make_wedge(tilt_range: Any, tilt_axis: str = "Y") -> WedgeConfig | None:
    """A :class:`WedgeConfig` from ``(tilt_min, tilt_max)`` and the tilt axis (None stays None)."""
    if tilt_range is None:
        return None
    try:
        tilt_min, tilt_max = (float(t) for t in tilt_range)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"tilt range must be two numbers MIN MAX in degrees, got {tilt_range!r}."
        ) from exc
    try:
        return WedgeConfig(tilt_min=tilt_min, tilt_max=tilt_max, tilt_axis=str(tilt_axis).upper())
    except ValidationError as exc:
        raise InputError(
            f"invalid tilt range ({tilt_min:g}, {tilt_max:g}): "
            f"{describe_validation_error(exc)}. Tilt angles must lie strictly between -90 "
            "and 90 degrees with MIN < MAX, e.g. --tilt-range -60 60."
        ) from exc


def default_network(
    device_type: str,
    *,
    n2v2: bool = False,
    norm: str = "instance",
    stages: int = 1,
    filler_norm: str | None = None,
) -> NetworkConfig:
    """The default U-Net for a device: depth 3, 16 channels on CPU, 32 on a GPU."""
    return NetworkConfig(
        depth=3,
        base_channels=16 if device_type == "cpu" else 32,
        n2v2=n2v2,
        norm=norm,
        stages=stages,
        filler_norm=filler_norm,
    )


def resolve_config(config: TrainConfig, method_cls: Any, device_type: str) -> TrainConfig:
    """Fill every ``None`` of ``config`` with the method's defaults and a device network.

    Parameters
    ----------
    config : TrainConfig
    method_cls : type
        The :class:`~tomorestore.methods.base.Method` subclass (for its defaults).
    device_type : str
        ``"cpu"``, ``"cuda"`` or ``"mps"``: sizes the default network.

    Returns
    -------
    TrainConfig
        A copy with ``steps``, ``batch_size``, ``patch_size``, ``learning_rate``,
        ``schedule`` and ``network`` set.
    """
    updates: dict[str, Any] = {}
    defaults = {
        "steps": method_cls.steps_default(config.params),
        "batch_size": method_cls.default_batch_size,
        "patch_size": method_cls.default_patch_size,
        "learning_rate": method_cls.default_learning_rate,
        "schedule": method_cls.default_schedule,
    }
    for name, value in defaults.items():
        if getattr(config, name) is None:
            updates[name] = value
    if config.network is None:
        updates["network"] = default_network(
            device_type, **method_cls.network_defaults(config.params)
        )
    return config.model_copy(update=updates)
