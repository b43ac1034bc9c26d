"""``ei`` in IsoNet's order: denoise first, then learn the wedge on the denoised volume.

Trained jointly, the equivariance term ``‖T x̂ − f(A T x̂)‖²`` chases the network's own
moving output while the data term, whose target has no content in the wedge, pulls the
fill back towards zero: on one simulated tomogram the wedge filling swung with the
budget and stayed below n2v's. In this order a denoiser (the network's first stage)
trains alone; the data are then denoised once, ``d = f₁(y)``, and a second network learns
to fill the wedge from rotated copies of ``d`` exactly as dewedge learns it from a pair of
halves, with ``d`` as both halves. ``d`` is standardised first (its own robust mean and
standard deviation, kept in the network), and the filler is residual (the identity until
it learns). Restoring keeps the denoiser's measured frequencies and takes the wedge from
``f₂((d − m)/s)·s + m`` (:class:`WedgeFromFiller`).

Measured on the quality benchmark's sparse tomogram (one tomogram; the denoiser is n2v
with its defaults for 200 steps, then the filler for 300): r without the Z profile 0.734,
in-wedge Fourier correlation without the k_x=k_y=0 line 0.425, measured region 0.837,
against n2v's 0.729 / 0.374 / 0.837 (docs/quality.md, session 10).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..data.normalization import Normalization
from ..errors import InputError
from ..models.staged import StagedUNet, routed
from ..physics import MissingWedge
from .losses import fourier_filter
from .rotation_draws import whole_volume_tile

#: Voxels copied at a time when one denoised volume becomes both halves.
COPY_SLAB_VOXELS = 16 * 2**20


def switch_step(total_steps: int, denoise_fraction: float) -> int:
    """The last step of the denoising stage: ``ceil(denoise_fraction · total)``, at least 1."""
    return max(1, math.ceil(float(denoise_fraction) * int(total_steps)))


def stage_position(step: int, total_steps: int, switch: int) -> tuple[int, int]:
    """``(step, total)`` within the stage of ``step``: each stage has its own schedule.

    The denoiser's steps are ``1 … switch``; the filler's ``1 … total − switch`` (a fresh
    network: it warms up again).
    """
    if step <= switch:
        return step, switch
    return step - switch, max(1, total_steps - switch)


def make_denoised_pair(
    model: torch.nn.Module, sampler: Any, *, device: Any, stats: Normalization | None = None
) -> Normalization:
    """Replace the sampler's data by the standardised denoised pair the filler trains on.

    One tomogram ``y``: both halves become ``f(y)``; even/odd halves: ``f(v⁰)`` and
    ``f(v¹)``. ``model`` must run the denoiser (see :func:`~tomorestore.models.routed`).
    The pair is then standardised with its own robust statistics (or ``stats``: those of
    the first tomogram of a data set, or of a run being resumed), so that the filler trains
    at the data's usual scale: denoised ice and sparse objects have a standard deviation
    of a few hundredths. Large volumes go to the sampler's memory-mapped scratch files,
    written tile by tile and copied slab by slab.

    Returns
    -------
    Normalization
        The statistics the pair was standardised with; a constant pair (nothing the
        denoiser kept) is left as it is (mean 0, std 1).
    """
    from ..inference import restore_volume

    halves = sampler.unpadded_halves()
    targets = sampler.next_halves(2)
    tile = whole_volume_tile(sampler.crop_size)
    denoised = targets[: len(halves)]
    for half, target in zip(halves, denoised, strict=True):
        restore_volume(model, half, device=device, tile=tile, overlap=0.25, out=target)
    if stats is None:
        try:
            stats = Normalization.from_volumes(denoised)
        except InputError:  # a constant output: nothing to rescale
            stats = Normalization(mean=0.0, std=1.0)
    for target in denoised:
        stats.apply_inplace(target)
    if len(halves) == 1:  # one tomogram: the standardised volume becomes the second half
        z, y, x = sampler.original_shape
        rows = max(1, COPY_SLAB_VOXELS // (y * x))
        for start in range(0, z, rows):
            part = slice(start, min(z, start + rows))
            targets[1][part] = targets[0][part]
    for target in targets:
        if isinstance(target, np.memmap):
            target.flush()
    sampler.set_halves(targets)
    return stats


class WedgeFromFiller(torch.nn.Module):
    """Both stages per tile, the filler adding only the missing wedge.

    ``d + a·F⁻¹[(1 − M)·F(f₂(d) − d)]`` with ``d = f₁(x)``, ``f₂`` the filler on the
    standardised ``d`` (:class:`~tomorestore.models.StagedUNet`) and ``a`` the share: the
    measured frequencies are the denoiser's, the wedge is the filler's prediction scaled
    by ``a`` (a shrinkage towards the denoiser's own wedge). The filler trains on wedge-filtered
    copies of ``d`` whose measured region equals its target's, so it learns nothing there
    that the denoiser has not; on the benchmark's sparse tomogram its output there scored
    below the denoiser's (measured-region Fourier correlation 0.820 against 0.837).

    Parameters
    ----------
    network : torch.nn.Module
        The two-stage network (or a wrapper around one whose stages :func:`routed` reaches).
    staged : StagedUNet
        The two-stage network inside ``network``.
    wedge : MissingWedge
        The tilt range, in the methods' frame.
    share : float
        ``a`` in [0, 1]: 1 adds all of the filler's wedge, 0 restores with the denoiser
        alone.
    """

    def __init__(
        self,
        network: torch.nn.Module,
        staged: StagedUNet,
        wedge: MissingWedge,
        *,
        share: float = 1.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= float(share) <= 1.0:
            raise ValueError(f"the filler's wedge share must be in [0, 1], got {share}")
        self.network = network
        self.staged = staged
        self.wedge = wedge
        self.share = float(share)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The restored tile (the dtype of the denoiser's output)."""
        with routed(self.staged, "denoiser"):
            denoised = self.network(x)
        with routed(self.staged, "filler"):
            filled = self.staged.filled(denoised, self.network)
        mask = self.wedge.mask(tuple(x.shape[-3:]), device=x.device, rfft=True)
        wedge = fourier_filter(filled.float() - denoised.float(), 1.0 - mask)
        return denoised + (self.share * wedge).to(denoised.dtype)
