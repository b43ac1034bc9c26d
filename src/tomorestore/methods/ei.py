"""Equivariant imaging (EI / robust EI) for one tomogram or even/odd halves."""

from __future__ import annotations

import functools
import math
from typing import ClassVar

import torch

from ..errors import InputError
from ..physics import MissingWedge, cube_rotations
from .augment import random_swap, random_wedge_preserving_flips
from .base import Method
from .losses import fourier_filter, fourier_weighted_mse
from .masking import blind_spot_inputs, blind_spot_loss
from .params import EIParams
from .registry import register_method
from .rotation_draws import draw_cube_indices, rotate_by_cube


@functools.lru_cache(maxsize=16)
def wedge_moving_rotations(wedge: MissingWedge, kind: str = "cube") -> tuple[int, ...]:
    """Indices of :func:`tomorestore.physics.cube_rotations` whose rotated mask differs.

    Parameters
    ----------
    wedge : MissingWedge
        The tilt range.
    kind : {"cube", "y90"}
        ``"cube"``: every cube rotation with ``M(A k) ≠ M(k)``; ``"y90"``: only the quarter
        turns about Y.

    Returns
    -------
    tuple of int
        Rotation indices; rotations that keep the wedge (identity, half turns for a
        symmetric range) teach nothing and are left out.
    """
    mats = cube_rotations()
    size = (16, 16, 16)
    base = wedge.mask(size)
    moving = []
    for index, a in enumerate(mats):
        if kind == "y90" and not (a[1, 1] == 1 and a[0, 0] == 0):
            continue
        if not torch.equal(wedge.mask(size, rotation=a), base):
            moving.append(index)
    return tuple(moving)


@register_method
class EI(Method):
    """Equivariant imaging: the restoration must commute with rotations that move the wedge.

    With ``x̂ = f(y)`` (no gradient through ``x̂``) and a cube rotation ``T`` that moves the
    missing wedge, the equivariance term is ``‖T x̂ − f(A T x̂ + n)‖²`` where ``A`` is the
    wedge filter and ``n`` a noise estimate in the data's own orientation (robust EI): the
    half difference ``(v⁰ − v¹)/√2`` for even/odd data, the residual ``y − x̂`` for one
    tomogram. The data term anchors the measured region: Noise2Noise restricted to the
    measured frequencies (halves) or the blind-spot loss (one tomogram). Measurement
    consistency alone would collapse to the wedge-filtered input.
    """

    name: ClassVar[str] = "ei"
    title: ClassVar[str] = "equivariant imaging, denoises and fills the wedge"
    params_type: ClassVar[type[EIParams]] = EIParams
    accepts_single: ClassVar[bool] = True
    needs_wedge: ClassVar[bool] = True
    default_steps: ClassVar[int] = 300
    default_batch_size: ClassVar[int] = 4
    default_patch_size: ClassVar[int] = 48
    default_learning_rate: ClassVar[float] = 2e-3

    params: EIParams

    def data_mode(self, n_halves: int) -> str:
        """The data term used for ``n_halves`` inputs: ``"n2n"`` or ``"n2v"``."""
        mode = self.params.data_term
        if mode == "auto":
            return "n2n" if n_halves == 2 else "n2v"
        if mode == "n2n" and n_halves != 2:
            raise InputError(
                "EI with data_term='n2n' needs even and odd halves; give even= and odd=, "
                "or use data_term='n2v' (or 'auto') for one tomogram."
            )
        return mode

    def training_loss(
        self, model: torch.nn.Module, batch: torch.Tensor, *, generator: torch.Generator
    ) -> torch.Tensor:
        """Data term plus ``ei_weight`` times the equivariance term."""
        batch = batch.float()
        size = batch.shape[-1]
        mask = self.wedge.mask((size,) * 3, device=batch.device, rfft=True)
        filtered = self.params.wedge_filter_input
        if self.data_mode(batch.shape[1]) == "n2n":
            pairs = random_swap(batch, generator=generator)
            pairs = random_wedge_preserving_flips(pairs, generator=generator)
            inputs = fourier_filter(pairs[:, :1], mask) if filtered else pairs[:, :1]
            prediction = model(inputs).float()
            data = fourier_weighted_mse(prediction[:, 0] - pairs[:, 1], mask)
            noise = (pairs[:, :1] - pairs[:, 1:]) / math.sqrt(2.0)
        else:
            patches = random_wedge_preserving_flips(batch[:, :1], generator=generator)[:, 0]
            masked, coords = blind_spot_inputs(patches, self.params.blind_spot, generator=generator)
            inputs = masked.unsqueeze(1)
            prediction = model(fourier_filter(inputs, mask) if filtered else inputs).float()
            # the target keeps the measured frequencies only: back-projection leaves
            # artefacts in the wedge that the network must not learn to reproduce
            target = fourier_filter(patches, mask) if filtered else patches
            data = blind_spot_loss(prediction[:, 0], target, coords)
            noise = patches.unsqueeze(1) - prediction.detach()
        if filtered:
            noise = fourier_filter(noise, mask)
        estimate = prediction.detach()
        indices = draw_cube_indices(
            estimate.shape[0],
            generator=generator,
            choices=list(wedge_moving_rotations(self.wedge, self.params.rotations)),
        )
        target, _ = rotate_by_cube(estimate, indices)
        ei_input = fourier_filter(target, mask)
        if self.params.renoise:
            ei_input = ei_input + noise
        weight = mask + self.params.wedge_weight * (1.0 - mask)
        equivariance = fourier_weighted_mse(target[:, 0] - model(ei_input)[:, 0], weight)
        return data + self.params.ei_weight * equivariance
