"""Cases and scores of the restoration-quality benchmark (``benchmarks/quality.py``).

Ground-truth scores (simulations only), for one case's tilt range:

- ``structure`` — Pearson r without the Z profile (both volumes minus their mean over each
  Z plane): the primary score. No tilt measures the line ``k_x = k_y = 0``;
- ``wedge_noline`` — Fourier correlation ≥ 10° inside the missing wedge, without the
  line ``k_x = k_y = 0``: the primary wedge-filling score;
- ``measured`` — Fourier correlation ≥ 10° inside the measured region;
- ``pearson`` and ``wedge`` — whole-volume r and the in-wedge correlation with the line
  (dominated by the lamella's Z profile; kept for comparison with older tables).

Score without ground truth (what a user can compute): the even/odd Fourier shell
correlation of the restorations of the two halves, as the frequency where it falls below
0.143 and as its mean over 0.05–0.25 cycles/voxel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Nominal size of the small cases; the large ones have at least 4× its voxels.
SMALL = (64, 128, 128)
LARGE = (96, 192, 256)
FSC_BAND = (0.05, 0.25)
#: Benchmark names of methods trained on the full tomogram alone, and the method each runs.
SINGLE = {"n2v": "n2v", "ei-single": "ei", "n2n-single": "n2n"}


@dataclass(frozen=True)
class Case:
    """One simulated tomogram of the benchmark."""

    name: str
    sample: str
    shape: tuple[int, int, int]
    tilt_range: tuple[float, float]
    seed: int

    def describe(self) -> str:
        """One line: sample, shape, tilt range, seed."""
        z, y, x = self.shape
        lo, hi = self.tilt_range
        return (
            f"{self.sample} sample, {z} × {y} × {x}, tilt {lo:g}…{hi:g}° step 3°, "
            f"projection SNR 0.1, seed {self.seed}"
        )


#: Each sample type is seen with a symmetric and an asymmetric tilt range; every case is
#: an independent simulation (its own seed).
CASES = {
    "dense": Case("dense", "lamella", SMALL, (-60.0, 60.0), 0),
    "sparse": Case("sparse", "sparse", SMALL, (-50.0, 65.0), 1),
    "dense-large": Case("dense-large", "lamella", LARGE, (-50.0, 65.0), 2),
    "sparse-large": Case("sparse-large", "sparse", LARGE, (-60.0, 60.0), 3),
}


class Scorer:
    """Correlations of a volume with the ground truth, whole and per Fourier region."""

    def __init__(self, ground_truth: np.ndarray, tilt_range: tuple[float, float]) -> None:
        import torch

        from tomorestore.physics import MissingWedge, wedge_region_masks
        from tomorestore.physics.evaluation import without_z_line

        self.truth = torch.as_tensor(ground_truth, dtype=torch.float64)
        wedge = MissingWedge(*tilt_range)
        self.inside, self.measured = wedge_region_masks(wedge, ground_truth.shape, 10.0)
        self.inside_noline = without_z_line(self.inside)

    def __call__(self, volume: np.ndarray) -> dict[str, float]:
        import torch

        from tomorestore.physics import fourier_correlation
        from tomorestore.physics.evaluation import structure_pearson

        v = torch.as_tensor(np.asarray(volume), dtype=torch.float64)
        truth = self.truth.numpy()
        return {
            "structure": structure_pearson(v.numpy(), truth),
            "wedge_noline": float(fourier_correlation(v, self.truth, self.inside_noline)),
            "measured": float(fourier_correlation(v, self.truth, self.measured)),
            "pearson": float(np.corrcoef(v.numpy().ravel(), truth.ravel())[0, 1]),
            "wedge": float(fourier_correlation(v, self.truth, self.inside)),
        }


def best_gaussian(noisy: np.ndarray, score: Scorer) -> tuple[np.ndarray, float]:
    """The Gaussian filter of ``noisy`` with the best Pearson r without the Z profile.

    An oracle: sigma (0.5–5 voxels, step 0.25) is chosen with the ground truth.
    """
    from scipy.ndimage import gaussian_filter

    from tomorestore.physics.evaluation import structure_pearson

    best = (-2.0, 0.0, noisy)
    truth = score.truth.numpy()
    for sigma in np.arange(0.5, 5.01, 0.25):
        smooth = gaussian_filter(noisy, float(sigma))
        r = structure_pearson(smooth, truth)
        if r > best[0]:
            best = (r, float(sigma), smooth)
    return best[2], best[1]


def budget_steps(
    name: str, shape: tuple[int, ...], budget: float, device_type: str, params: Any = None
) -> int:
    """``budget`` times the steps a user gets by default for one tomogram of ``shape``.

    ``name`` is the benchmark's name of the method (``SINGLE`` maps the one-tomogram
    variants to theirs). The product's default
    (``tomorestore.training.engine.default_budget``) grows with the data: the method's
    steps for a 64 x 128 x 128 tomogram, times the voxels over that (at most 8), times 4
    on a GPU (``device_type`` ``"cuda"``). The large cases therefore train about 4.5 times
    longer. ``params``: the method's parameters as resolved for the data (a method whose
    budget depends on them, ``ei``'s own n2n denoiser on one tomogram).
    """
    from tomorestore.methods import get_method
    from tomorestore.training.engine import default_budget

    method_cls = get_method(SINGLE.get(name, name))
    base = method_cls.steps_default(params) if params is not None else method_cls.default_steps
    steps, _ = default_budget(base, [tuple(shape)], device_type)
    return max(1, round(steps * budget))
