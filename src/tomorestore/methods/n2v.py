"""Blind-spot denoising of a single tomogram (Noise2Void / N2V2 / StructN2V)."""

from __future__ import annotations

from typing import ClassVar

import torch

from .augment import random_wedge_preserving_flips
from .base import Method
from .masking import blind_spot_inputs, blind_spot_loss
from .noise_correlation import correlated_offsets, noise_autocorrelation
from .params import N2VParams
from .registry import register_method

AUTO_STRUCT_RADIUS = 3  # voxels: the neighbourhood a measured struct mask may cover


@register_method
class N2V(Method):
    """Noise2Void with stratified 3D masking, N2V2 replacement and a Z struct mask.

    The loss is the mean squared error at about ``mask_percent`` % of the voxels, which are
    hidden from the network (replaced by the neighbourhood median or a random neighbour)
    together with ``±struct_z`` voxels along Z, where back-projection noise is correlated.
    Even/odd halves, when given, are used as two independent noisy samples. Cannot fill the
    missing wedge.
    """

    name: ClassVar[str] = "n2v"
    title: ClassVar[str] = "Noise2Void blind spot, denoises"
    params_type: ClassVar[type[N2VParams]] = N2VParams
    accepts_single: ClassVar[bool] = True
    needs_wedge: ClassVar[bool] = False
    # 200 steps restored better than 800 on the benchmark tomogram (see docs/methods.md).
    default_steps: ClassVar[int] = 200
    default_batch_size: ClassVar[int] = 4
    default_patch_size: ClassVar[int] = 48
    default_learning_rate: ClassVar[float] = 2e-3
    n2v2_network: ClassVar[bool] = True

    params: N2VParams
    struct_offsets: list[tuple[int, int, int]] | None = None

    def training_loss(
        self, model: torch.nn.Module, batch: torch.Tensor, *, generator: torch.Generator
    ) -> torch.Tensor:
        """Blind-spot MSE of ``batch`` ``(B, H, c, c, c)`` (halves flattened into the batch)."""
        offsets = self.measured_struct_offsets(batch)
        patches = batch.reshape(-1, 1, *batch.shape[-3:])
        patches = random_wedge_preserving_flips(patches, generator=generator)[:, 0]
        inputs, coords = blind_spot_inputs(
            patches, self.params, generator=generator, struct_offsets=offsets
        )
        prediction = model(inputs.unsqueeze(1))[:, 0]
        return blind_spot_loss(prediction, patches, coords)

    def measured_struct_offsets(self, batch: torch.Tensor) -> list[tuple[int, int, int]] | None:
        """With ``struct_shape="auto"``: the struct mask measured on the first batch seen.

        The offsets are measured once (:func:`~tomorestore.methods.noise_correlation.
        noise_autocorrelation` of that batch, thresholded at ``struct_threshold``) and kept
        for the rest of the run. Other shapes return None (the params describe the mask).
        """
        if self.params.struct_shape != "auto":
            return None
        if self.struct_offsets is None:
            correlation = noise_autocorrelation(batch, radius=AUTO_STRUCT_RADIUS)
            self.struct_offsets = correlated_offsets(correlation, self.params.struct_threshold)
        return self.struct_offsets
