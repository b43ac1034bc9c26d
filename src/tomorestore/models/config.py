"""Validated network configuration (stored in checkpoints) and the network factory."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .staged import StagedUNet
from .unet import UNet3D, min_input_shape


class NetworkConfig(BaseModel):
    """Shape of the 3D U-Net; the fields are the keyword arguments of :class:`UNet3D`."""

    model_config = ConfigDict(extra="forbid")

    in_channels: int = Field(1, ge=1, le=16, description="Input channels.")
    out_channels: int = Field(1, ge=1, le=16, description="Output channels.")
    depth: int = Field(
        3, ge=1, le=5, description="Number of 2x downsamplings; sizes are padded to 2**depth."
    )
    base_channels: int = Field(
        32, ge=4, le=256, description="Feature maps at the top level (doubled per level)."
    )
    norm: Literal["instance", "group", "batch", "none"] = Field(
        "instance",
        description=(
            "Normalisation after each convolution. Instance and group norm compute "
            "statistics over each tile, so a tiled restoration depends on the tile size "
            "(seams): on the 64x128x128 benchmark tomogram an n2n model restored with 64^3 "
            "and with 128^3 tiles differed by 40% of the signal's standard deviation with "
            "instance norm and by 1.6% with none. 'none' is n2n's default (it also trained "
            "40% faster and restored better there); n2v, dewedge and ei trained much worse "
            "without normalisation in their default budgets, so they keep instance norm."
        ),
    )
    residual: bool = Field(
        False,
        description=(
            "Add the input to the output. Off by default: on a 48x96x96 simulated tomogram "
            "(200 steps) a residual U-Net restored worse with every method (Pearson with the "
            "truth n2v 0.06 vs 0.46, n2n 0.33 vs 0.37, dewedge 0.37 vs 0.43): the identity "
            "path hands each voxel's own noise to the output and the network must learn to "
            "cancel it."
        ),
    )
    n2v2: bool = Field(
        False, description="Blur-pool downsampling and no top skip connection (N2V2)."
    )
    tilt_axis_split: bool = Field(
        False,
        description=(
            "Run the U-Net on the even and on the odd rows along the tilt axis separately "
            "and interleave the outputs: n2n's network for one tomogram, trained to map the "
            "even rows to the odd ones and back (their noise is independent). With stages: "
            "2 it applies to the denoiser only. Set by the training engine, not by hand."
        ),
    )
    stages: Literal[1, 2] = Field(
        1,
        description=(
            "1: one U-Net. 2: a denoiser (with n2v2 as set) followed by a wedge filler (a "
            "U-Net of the same depth and channels, without n2v2; norm as filler_norm and "
            "residual as filler_residual say): the network of ei's denoise_first order."
        ),
    )

    filler_residual: bool = Field(
        True,
        description=(
            "With stages: 2, the filler adds its input to its output: untrained it is the "
            "identity, so it keeps the denoised volume where it was measured and learns "
            "only the missing wedge. Its input is the denoised volume, so the noise that "
            "makes 'residual' a poor default for the first network is not there. Networks "
            "of checkpoint format 3 and earlier had a plain filler and load as such."
        ),
    )

    filler_norm: Literal["instance", "group", "batch", "none"] | None = Field(
        None,
        description=(
            "With stages: 2, the filler's normalisation (None: norm, the denoiser's). ei's "
            "n2n denoiser trains without normalisation, as n2n does, and its filler with "
            "instance norm (EIParams.denoiser_settings 'own')."
        ),
    )

    @model_validator(mode="after")
    def _residual_needs_equal_channels(self) -> NetworkConfig:
        if (self.residual or (self.stages == 2 and self.filler_residual)) and (
            self.in_channels != self.out_channels
        ):
            raise ValueError(
                "residual=True (or a two-stage network's filler_residual) needs "
                "in_channels == out_channels; set them to false or use equal channel counts"
            )
        return self

    @property
    def divisor(self) -> int:
        """Sizes that are multiples of this need no internal padding (``2 ** depth``,
        doubled with ``tilt_axis_split``)."""
        return 2 ** (self.depth + int(self.tilt_axis_split))

    @property
    def min_input_shape(self) -> tuple[int, int, int]:
        """The smallest ``(Z, Y, X)`` volume the network restores: twice its downsampling
        along each axis, twice that again along Y when its rows are split (the same for
        both stages of a two-stage network: its filler never splits rows)."""
        return min_input_shape(self.depth, self.tilt_axis_split)


def build_network(config: NetworkConfig | None = None, **overrides: object) -> UNet3D | StagedUNet:
    """Build the :class:`UNet3D` (or, with ``stages=2``, the :class:`StagedUNet`) that
    ``config`` describes.

    Parameters
    ----------
    config : NetworkConfig, optional
        The configuration (defaults: depth 3, 32 base channels, instance norm, no residual).
    **overrides
        Fields to change, validated like the configuration itself.

    Examples
    --------
    >>> net = build_network(NetworkConfig(depth=2, base_channels=8))
    >>> net.divisor
    4
    """
    config = config or NetworkConfig()
    if overrides:
        config = NetworkConfig.model_validate({**config.model_dump(), **overrides})
    fields = config.model_dump(exclude={"stages", "filler_residual", "filler_norm"})
    if config.stages == 1:
        return UNet3D(**fields)
    denoiser = UNet3D(**fields)  # built first: the weights' random draws keep their order
    filler = {
        "n2v2": False,
        "tilt_axis_split": False,
        "residual": config.filler_residual,
        "norm": config.filler_norm or config.norm,
    }
    return StagedUNet(denoiser, UNet3D(**{**fields, **filler}))
