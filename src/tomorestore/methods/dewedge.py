"""Missing-wedge restoration from even/odd halves with rotations (DeepDeWedge-style)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from ..physics import rotation_crop_size
from .augment import random_swap
from .base import Method
from .losses import fourier_filter, fourier_weighted_mse
from .params import DewedgeParams
from .registry import register_method
from .rotation_draws import (
    RESAMPLED_ROTATIONS,
    draw_cube_indices,
    patch_from_crop,
    rotate_by_cube,
    rotate_randomly,
    whole_volume_tile,
)


@register_method
class Dewedge(Method):
    """Fill the missing wedge and denoise by predicting a rotated half from the other.

    For a random rotation ``R`` (matrix ``A``): input ``F⁻¹[M·F(R v⁰)]``, target ``R v¹``
    whose measured region is ``M_R(k) = M(A k)``. The loss, by Parseval on the rfft grid,

        mean|F⁻¹[M_R·M·F e]|² + w · mean|F⁻¹[M_R·(1−M)·F e]|²,   e = R v¹ − f(input),

    trains denoising where the input is measured and wedge filling where the target is
    measured but the input is not. Every ``refill_every`` steps the wedge of each training
    half is replaced (in memory) by the network's prediction, so that rotated inputs look
    like real tomograms. Restores each half and averages.
    """

    name: ClassVar[str] = "dewedge"
    title: ClassVar[str] = "denoises and fills the missing wedge (rotations)"
    params_type: ClassVar[type[DewedgeParams]] = DewedgeParams
    accepts_single: ClassVar[bool] = False
    needs_wedge: ClassVar[bool] = True
    default_steps: ClassVar[int] = 600
    default_batch_size: ClassVar[int] = 4
    default_patch_size: ClassVar[int] = 48
    default_learning_rate: ClassVar[float] = 2e-3

    params: DewedgeParams

    def crop_size(self, patch_size: int) -> int:
        """``ceil(√2·patch)`` for resampled rotations (no empty corners), else ``patch``."""
        if self.resampled:
            return rotation_crop_size(int(patch_size))
        return int(patch_size)

    @property
    def resampled(self) -> bool:
        """Whether the rotations are drawn at random angles (``so3``, ``z``)."""
        return self.params.rotations in RESAMPLED_ROTATIONS

    def _mask(self, size: int, device: torch.device) -> torch.Tensor:
        return self.wedge.mask((size,) * 3, device=device, rfft=True)

    def training_loss(
        self, model: torch.nn.Module, batch: torch.Tensor, *, generator: torch.Generator
    ) -> torch.Tensor:
        """Rotated-wedge loss of ``batch`` ``(B, 2, c, c, c)``."""
        pairs = random_swap(batch.float(), generator=generator)
        if self.resampled:
            patch = patch_from_crop(pairs.shape[-1])
            rotated, matrices = rotate_randomly(
                pairs, patch, generator=generator, group=self.params.rotations
            )
        else:
            patch = pairs.shape[-1]
            indices = draw_cube_indices(pairs.shape[0], generator=generator)
            rotated, matrices = rotate_by_cube(pairs, indices)
        mask = self._mask(patch, pairs.device)
        mask_rotated = self.wedge.mask((patch,) * 3, device=pairs.device, rfft=True,
                                       rotation=matrices)  # fmt: skip
        inputs = fourier_filter(rotated[:, :1], mask)
        prediction = model(inputs)[:, 0]
        weight = mask_rotated * (mask + self.params.wedge_weight * (1.0 - mask))
        return fourier_weighted_mse(rotated[:, 1] - prediction.float(), weight)

    def refresh(self, model: torch.nn.Module, sampler: Any, *, step: int, device: Any) -> bool:
        """Every ``refill_every`` steps, fill the wedge of each half with ``f``.

        ``v ← F⁻¹[M·F v + (1 − M)·F f(v)]`` on each whole half; the measured frequencies
        stay those of the data. The result is written into the sampler's next halves
        (memory-mapped scratch files for large ones), slab by slab: memory stays bounded.
        """
        every = self.params.refill_every
        if every <= 0 or step <= 0 or step % every:
            return False
        tile = whole_volume_tile(sampler.crop_size, so3=self.resampled)
        targets = sampler.next_halves()
        for half, target in zip(sampler.unpadded_halves(), targets, strict=True):
            refill_wedge(model, half, self, device=device, tile=tile, out=target)
        sampler.set_halves(targets)
        return True


#: Voxels per slab of the Fourier combination in :func:`refill_wedge` (64 MiB of float32).
REFILL_SLAB_VOXELS = 16 * 2**20


def refill_wedge(
    model: torch.nn.Module,
    volume: Any,
    method: Method,
    *,
    device: Any,
    tile: int = 64,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``F⁻¹[M·F v + (1 − M)·F f(v)]`` of a whole volume, ``f`` applied tile by tile.

    The wedge mask ``M`` of a tilt about Y does not depend on ``k_y``, so the 3D filter
    equals a 2D one on every XZ plane: ``f(v) + F⁻¹_zx[M·F_zx (v − f(v))]``, computed on Y
    slabs. With ``out`` a memory map, no whole-volume array is held in memory.

    Parameters
    ----------
    model : torch.nn.Module
        The network as the methods see it (the engine's wrapper, which runs bf16 autocast
        when training does); evaluated through
        :func:`~tomorestore.inference.restore_volume`, its mode is restored.
    volume : array-like
        ``(Z, Y, X)`` normalised volume (an array, a memory map or a
        :class:`~tomorestore.data.NormalizedVolume`), read tile by tile and slab by slab.
    method : Method
        Supplies the wedge (tilt axis Y, the methods' frame) and the per-tile input
        transform.
    device : torch.device or str
        Where the network runs.
    tile : int
        Tile edge for :func:`tomorestore.inference.predict_tiled`.
    out : numpy.ndarray, optional
        A zero-filled float32 array of the volume's shape (e.g. a new ``np.memmap``) to
        write the result into (default: a new one).

    Returns
    -------
    numpy.ndarray
        ``out``: float32, the measured frequencies of ``volume`` and the missing ones of
        the prediction.
    """
    from ..inference import restore_volume

    wedge = method.wedge
    if wedge.tilt_axis != "Y" or wedge.clip_nyquist:
        raise ValueError("refill_wedge needs a k_y-independent wedge (tilt axis Y, no clip)")
    z, y, x = (int(n) for n in volume.shape)
    if out is None:
        out = np.zeros((z, y, x), dtype=np.float32)
    restore_volume(
        model,
        volume,
        device=device,
        input_transform=method.predict_input,
        tile=tile,
        overlap=0.25,
        out=out,
    )
    mask = wedge.mask((z, 1, x), rfft=True)  # (Z, 1, X//2+1): the same on every Y plane
    rows = max(1, REFILL_SLAB_VOXELS // (z * x))
    for start in range(0, y, rows):
        part = slice(start, min(y, start + rows))
        predicted = torch.from_numpy(np.array(out[:, part, :], dtype=np.float32))
        measured = torch.from_numpy(np.asarray(volume[:, part, :], dtype=np.float32))
        spectrum = torch.fft.rfftn(measured - predicted, dim=(0, 2)) * mask
        out[:, part, :] = (predicted + torch.fft.irfftn(spectrum, s=(z, x), dim=(0, 2))).numpy()
    if isinstance(out, np.memmap):
        out.flush()
    return out
