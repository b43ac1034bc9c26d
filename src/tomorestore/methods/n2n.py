"""Noise2Noise on even/odd half tomograms (cryoCARE-style), or on the even and odd rows
along the tilt axis of one tomogram."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ..errors import InputError
from ..models.tilt_axis_split import swap_rows, unblended
from .augment import random_swap, random_y_rotations_and_flips
from .base import Method
from .losses import mse
from .noise_correlation import noise_autocorrelation
from .params import N2NParams
from .registry import register_method

#: Largest |noise correlation| between neighbouring rows along the tilt axis that n2n on one
#: tomogram accepts. Measured: 0.00 on simulated tomograms and 0.03 on the real microtubule
#: crop along the tilt axis; across it 0.18 (real, diagonal in XZ) and 0.20 to 0.38
#: (simulated), so a wrong tilt axis is caught.
MAX_ROW_CORRELATION = 0.1


def row_noise_correlation(batch: torch.Tensor) -> tuple[float, tuple[int, int, int]]:
    """The largest |noise correlation| between neighbouring rows along Y (the tilt axis).

    Parameters
    ----------
    batch : torch.Tensor
        ``(B, 1, Z, Y, X)`` crops of one tomogram (the noise is their high-pass residual,
        :func:`~.noise_correlation.noise_autocorrelation`).

    Returns
    -------
    worst : float
        The largest absolute correlation at any offset with ``dy = ±1`` (lags up to 1).
    offset : tuple of int
        That offset ``(dz, dy, dx)`` in voxels of the tomogram (rows of one parity are two
        voxels apart along Y).
    """
    correlation = noise_autocorrelation(batch.detach().float().cpu(), radius=1)
    across = correlation[:, [0, 2], :].abs()  # every offset with dy = ±1
    dz, dy, dx = (int(i) for i in torch.unravel_index(across.argmax(), across.shape))
    return float(across.max()), (dz - 1, 2 * dy - 1, dx - 1)


@register_method
class N2N(Method):
    """Noise2Noise: ``L = ‖f(v⁰) − v¹‖²`` on even/odd crops of the same place.

    Input and target are swapped at random and rotated together by random quarter turns
    about the tilt axis and flips. Restores each half and averages (each half has half the
    dose). Cannot fill the missing wedge: the target has none of it.

    On one tomogram the two noisy views are its even and its odd rows along the tilt axis
    (Y), whose noise is independent (:mod:`~tomorestore.models.tilt_axis_split`): the
    engine gives the network ``tilt_axis_split``, so that it maps the even rows to the odd
    ones and back, and the target is the crop with each pair of rows exchanged. Each
    restored row is then an estimate of its two neighbours' mean, and restoring blends
    neighbouring rows (¼ ½ ¼): a slight blur along Y.
    """

    name: ClassVar[str] = "n2n"
    title: ClassVar[str] = "Noise2Noise, denoises"
    params_type: ClassVar[type[N2NParams]] = N2NParams
    accepts_single: ClassVar[bool] = True
    needs_wedge: ClassVar[bool] = False
    # Patch 32, 600 steps at a constant rate (about 45 % of the compute of the earlier
    # 48^3 x 500 cosine default) scored better on both benchmark samples: measured-region
    # Fourier correlation sparse 0.871 vs 0.866, dense 0.793 vs 0.774 (cosine at patch 32:
    # 0.864 and 0.792); docs/quality.md.
    default_steps: ClassVar[int] = 600
    default_batch_size: ClassVar[int] = 4
    default_patch_size: ClassVar[int] = 32
    # Without normalisation 2e-3 diverged after the warm-up (step ~150 of 1000), and 1e-3
    # in the long runs the command line gives large data (sparse-large, 2700 steps: the
    # validation loss 1.017 -> 5.10 after step 675; dense at 2400 steps: 1.023 -> 2.81).
    # 5e-4 stayed stable there and scored r w/o Z profile / measured FC 0.640 / 0.804
    # (1e-3: 0.633 / 0.796, cosine 1e-3: 0.636 / 0.806) and 0.561 / 0.787 (1e-3: 0.554 /
    # 0.785, cosine: 0.550 / 0.784); at 600 steps dense 0.570 / 0.791 (1e-3: 0.554 / 0.774),
    # sparse 0.750 / 0.863 (0.755 / 0.872), one dense tomogram 0.575 / 0.788 (0.579 /
    # 0.793); docs/quality.md, session 12.
    default_learning_rate: ClassVar[float] = 5e-4
    default_schedule: ClassVar[str] = "constant"
    # No per-tile statistics: seamless tiled restores, and on the 64x128x128 benchmark
    # tomogram (162 steps) Pearson 0.371 vs 0.333 with instance norm, 40 % faster steps.
    network_norm: ClassVar[str] = "none"

    params: N2NParams
    rows_checked: bool = False

    @classmethod
    def splits_rows(cls, params: Any, n_halves: int) -> bool:
        """One tomogram: the network runs on the even and odd rows along the tilt axis."""
        return n_halves == 1

    def training_loss(
        self, model: torch.nn.Module, batch: torch.Tensor, *, generator: torch.Generator
    ) -> torch.Tensor:
        """``mean (f(input) - target)²`` of ``batch`` ``(B, 2, c, c, c)``, or of one
        tomogram's crops ``(B, 1, c, c, c)`` against their row-swapped selves."""
        if batch.shape[1] == 1:
            self.check_rows_independent(batch)
            if self.params.rotate:
                batch = random_y_rotations_and_flips(batch, generator=generator)
            with unblended(model):
                return mse(model(batch), swap_rows(batch))
        pairs = random_swap(batch, generator=generator) if self.params.swap else batch
        if self.params.rotate:
            pairs = random_y_rotations_and_flips(pairs, generator=generator)
        prediction = model(pairs[:, :1])
        return mse(prediction, pairs[:, 1:])

    def validation_loss(self, model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
        """Both directions, no augmentation: ``½[‖f(v⁰) − v¹‖² + ‖f(v¹) − v⁰‖²]`` (one
        tomogram: its even and odd rows)."""
        with torch.no_grad():
            if batch.shape[1] == 1:
                with unblended(model):
                    return mse(model(batch), swap_rows(batch))
            inputs = torch.cat([batch[:, :1], batch[:, 1:]])
            targets = torch.cat([batch[:, 1:], batch[:, :1]])
            return mse(model(inputs), targets)

    def check_rows_independent(self, batch: torch.Tensor) -> None:
        """On the first crops of one tomogram: refuse rows along Y that share their noise.

        The even/odd row split needs independent noise between neighbouring rows along the
        tilt axis (:data:`MAX_ROW_CORRELATION`); a tomogram whose tilt axis is X, given
        without it, has the correlated noise of the XZ plane there.
        """
        if self.rows_checked:
            return
        worst, offset = row_noise_correlation(batch)
        if worst > MAX_ROW_CORRELATION:
            raise InputError(
                "n2n on one tomogram trains on its even and odd rows along the tilt axis (Y), "
                "whose noise should be independent, but neighbouring rows here share noise "
                f"(correlation {worst:.2f} at offset (dz, dy, dx) = {offset}). If the tilt "
                "axis is X, give the tilt range with --tilt-axis X (tilt_axis='X' in "
                "Python); otherwise give even/odd half tomograms, or use n2v."
            )
        self.rows_checked = True
