"""Parameters of the self-supervised methods (small pydantic models with bounds).

Each method reads one of these models. They are stored in the training configuration (and
so in every checkpoint) and saved as YAML; unknown keys are rejected (``extra="forbid"``)
so a typo in a configuration file fails loudly instead of being ignored.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class MethodParams(BaseModel):
    """Base class of every method's parameter model: frozen, unknown keys rejected.

    Each field needs a default, bounds where numbers are bounded, and a ``description``:
    the command line's flags, the configuration files and the napari *Advanced* controls
    are generated from them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_assignment=True)


class N2VParams(MethodParams):
    """Blind-spot (Noise2Void / N2V2 / StructN2V) parameters."""

    mask_percent: float = Field(
        0.2,
        gt=0.0,
        le=5.0,
        description=(
            "Percentage of voxels of each patch that are blind spots. Stratified: one per "
            "cubic cell of edge (100 / mask_percent) ** (1/3) voxels."
        ),
    )
    neighbourhood: int = Field(
        11,
        ge=3,
        le=21,
        description=(
            "Edge (odd, voxels) of the cube around a blind spot from which its replacement "
            "value is taken."
        ),
    )
    replacement: Literal["random", "median"] = Field(
        "median",
        description=(
            "How a blind spot is replaced: 'random' (Noise2Void) takes a random voxel of "
            "the neighbourhood that shares no row, column or plane with the blind spot; "
            "'median' (N2V2) takes the median of those voxels."
        ),
    )
    struct_z: int = Field(
        2,
        ge=0,
        le=8,
        description=(
            "Voxels blanked above and below each blind spot along Z (StructN2V). "
            "Back-projection noise is correlated along Z; 0 disables."
        ),
    )
    struct_x: int = Field(
        2,
        ge=0,
        le=8,
        description=(
            "Voxels blanked on each side of each blind spot along X; 0 disables. The ramp "
            "filter of weighted back-projection acts along X and anti-correlates the noise "
            "of X neighbours (lags 1-2)."
        ),
    )

    struct_shape: Literal["cross", "plane", "auto"] = Field(
        "auto",
        description=(
            "'auto' (default): the mask is measured from the data (see below); "
            "'cross': blank ±struct_z along Z and ±struct_x along X; 'plane': blank the "
            "whole (2·struct_z+1) x (2·struct_x+1) rectangle of the XZ plane around each "
            "blind spot (back-projection noise is also correlated along the tilt "
            "directions, diagonally in XZ); 'auto': blank every neighbour within 3 voxels "
            "whose noise correlation, measured on the first training batch (even-odd "
            "difference, or a high-pass residual of one tomogram), is at least "
            "struct_threshold in size. On the quality benchmark 'auto' at threshold 0.02 "
            "raised n2v's r without the Z profile and measured-region correlation on every "
            "case tried, over 'cross' (docs/quality.md, session 7)."
        ),
    )
    struct_threshold: float = Field(
        0.02,
        gt=0.0,
        lt=1.0,
        description=(
            "With struct_shape 'auto': the smallest |noise correlation| (relative to the "
            "noise variance) for which a neighbour of a blind spot is blanked."
        ),
    )

    @field_validator("neighbourhood")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(
                f"neighbourhood must be odd so that the blind spot is its centre, got {value}; "
                f"use {value + 1}."
            )
        return value


class N2NParams(MethodParams):
    """Noise2Noise (even/odd, cryoCARE-style) parameters."""

    rotate: bool = Field(
        True,
        description=(
            "Augment with random 90-degree rotations about the tilt axis (Y) and flips "
            "(exact index operations; both halves move together)."
        ),
    )
    swap: bool = Field(
        True, description="Randomly swap input and target half (even->odd and odd->even)."
    )


class DewedgeParams(MethodParams):
    """Missing-wedge restoration with rotations (DeepDeWedge-style) parameters."""

    wedge_weight: float = Field(
        2.0,
        ge=0.0,
        le=1000.0,
        description=(
            "Weight of the loss on target frequencies that are missing from the input "
            "(inside the input's wedge). DeepDeWedge uses 2; larger values favour "
            "wedge filling over denoising."
        ),
    )
    rotations: Literal["so3", "cube", "z"] = Field(
        "cube",
        description=(
            "'cube': the 24 exact 90-degree rotations of the cube (index operations, no "
            "interpolation, patch-sized crops); 'so3': uniform random rotations (trilinear "
            "resampling of crops cut sqrt(2) larger); 'z': random rotations about Z only "
            "(the tomogram's normal; resampled like 'so3'): a lamella stays a lamella, "
            "and the wedge is learned everywhere except a cone about k_z."
        ),
    )
    refill_every: int = Field(
        150,
        ge=0,
        le=1_000_000,
        description=(
            "Every this many steps, fill the missing wedge of the training halves with the "
            "network's prediction (measured frequencies are kept); 0 disables."
        ),
    )
    wedge_filter_input: bool = Field(
        True,
        description=(
            "At restore time, apply the wedge mask to each tile before the network, as in "
            "training (removes tile-edge leakage into the wedge)."
        ),
    )


class EIParams(MethodParams):
    """Equivariant imaging (EI / robust EI) parameters."""

    order: Literal["denoise_first", "joint"] = Field(
        "denoise_first",
        description=(
            "'denoise_first' (IsoNet's order): a denoiser trains alone (blind-spot on one "
            "tomogram, Noise2Noise on halves) for denoise_fraction of the steps; the data "
            "are then denoised once and a second network learns to fill the wedge of the "
            "denoised volume from rotated copies of it (the 'filling' parameters); restoring "
            "runs both. 'joint': one network trains the data term and the equivariance term "
            "together (ei_weight, wedge_weight, rotations, renoise, wedge_filter_input)."
        ),
    )
    denoise_fraction: float | None = Field(
        None,
        ge=0.05,
        le=0.95,
        description=(
            "'denoise_first': share of the training steps that train the denoiser. None: "
            "2/3 with the n2n denoiser of one tomogram at its own settings (600 + 300 of "
            "900 steps), else 0.4 (200 + 300 of 500)."
        ),
    )
    denoiser_settings: Literal["auto", "shared", "own"] = Field(
        "auto",
        description=(
            "'denoise_first' with the n2n denoiser: 'shared' trains both stages with ei's "
            "network normalisation (instance), N2V2 layout and learning rate; 'own' trains "
            "the denoiser as n2n trains (no normalisation, no N2V2, n2n's constant learning "
            "rate) and the filler with ei's (instance norm, ei's rate, cosine decay); "
            "'auto': 'own' on one tomogram, 'shared' on even/odd halves."
        ),
    )
    keep_measured: bool = Field(
        True,
        description=(
            "'denoise_first': restore with the denoiser's measured frequencies and take "
            "only the missing wedge from the filler; off: the filler's whole output."
        ),
    )
    wedge_share: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description=(
            "'denoise_first' with keep_measured: the share of the filler's missing-wedge "
            "prediction that restoring adds (1: all of it; 0: the denoiser's own wedge "
            "alone). None: 0.75 for new runs on one tomogram (a shrinkage of an uncertain "
            "guess; on a simulated lamella the filler's wedge lowered the denoiser's), 1 "
            "on even/odd halves and for models trained before the share existed."
        ),
    )
    ei_weight: float = Field(
        1.0,
        ge=0.0,
        le=1000.0,
        description="Weight of the equivariance term relative to the data term.",
    )
    wedge_weight: float = Field(
        1.0,
        ge=0.0,
        le=1000.0,
        description=(
            "Weight, inside the equivariance term, of the frequencies in the input's missing "
            "wedge (the ones the network must fill) relative to the measured ones."
        ),
    )
    data_term: Literal["auto", "n2v", "n2n"] = Field(
        "auto",
        description=(
            "Data term on the measured region (the denoiser of 'denoise_first'): 'n2n' "
            "(Noise2Noise: the even/odd halves, or the even and odd rows along the tilt "
            "axis of one tomogram in 'denoise_first'), 'n2v' (blind-spot, one tomogram), "
            "'auto' (n2n on halves; on one tomogram in 'denoise_first', n2n when its "
            "neighbouring rows along the tilt axis have independent noise, else n2v; "
            "'joint' on one tomogram: n2v)."
        ),
    )
    rotations: Literal["cube", "y90"] = Field(
        "cube",
        description=(
            "Transformations of the equivariance term (exact index operations): 'cube' — "
            "the 90-degree rotations of the cube that move the wedge (20 of 24); 'y90' — "
            "quarter turns about the tilt axis only."
        ),
    )
    renoise: bool = Field(
        False,
        description=(
            "Robust-EI style: add a noise estimate (half difference, or the residual "
            "y - f(y) for one tomogram) to the wedged, rotated estimate. Off by default: "
            "on simulated data it made the wedge filling anti-correlated with the truth."
        ),
    )
    wedge_filter_input: bool = Field(
        True,
        description=(
            "Apply the wedge mask to every network input (training and restore), so the "
            "network never sees the back-projection artefacts inside the missing wedge and "
            "must fill the wedge itself."
        ),
    )
    blind_spot: N2VParams = Field(
        default_factory=N2VParams,
        description=(
            "Blind-spot masking used by the 'n2v' data term and by the denoiser of "
            "'denoise_first' on one tomogram: n2v's own defaults (the mask measured from "
            "the data). The cross mask ei had before (struct_shape 'cross', threshold "
            "0.05) denoised the benchmark's sparse tomogram less well."
        ),
    )
    filling: DewedgeParams = Field(
        default_factory=lambda: DewedgeParams(wedge_filter_input=False),
        description=(
            "'denoise_first': the wedge-filling stage, trained like dewedge with the "
            "denoised volume as both halves (its input not wedge-filtered at restore time: "
            "the denoised volume is the input)."
        ),
    )
