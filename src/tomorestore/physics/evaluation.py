"""Scores of a restoration: with a ground truth (simulations) and without (even/odd FSC).

- :func:`structure_pearson` — Pearson r after removing each volume's mean over every Z
  plane. A lamella's Z profile (vacuum, cytoplasm, vacuum) lies on the single Fourier line
  ``k_x = k_y = 0`` inside the missing wedge, which no tilt measures; this score ignores it.
- :func:`without_z_line` — a Fourier region minus that line, for
  :func:`tomorestore.physics.fourier_correlation`.
- :func:`even_odd_fsc`, :func:`fsc_resolution` and :func:`mean_fsc` — summaries of the
  :func:`tomorestore.physics.fourier_shell_correlation` of two volumes. On the
  restorations of the even and the odd half
  tomogram it is what a user can measure on real data, with no ground truth: it says how
  reproducible the restoration is at each resolution (not how right: a network that
  invents the same detail from both halves scores high).

Frequencies are in cycles per voxel (Nyquist 0.5).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from .fourier import fourier_shell_correlation

__all__ = [
    "even_odd_fsc",
    "soft_edge_window",
    "fsc_resolution",
    "mean_fsc",
    "structure_pearson",
    "without_z_line",
]


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 3 or a.shape != b.shape:
        raise InputError(f"need two 3D volumes of one shape, got {a.shape} and {b.shape}")
    return a, b


def structure_pearson(volume: np.ndarray, truth: np.ndarray) -> float:
    """Pearson r of two volumes after subtracting each one's mean over every Z plane.

    Parameters
    ----------
    volume, truth : numpy.ndarray
        ``(Z, Y, X)`` volumes of one shape.

    Returns
    -------
    float
        The correlation, 0 when either volume is constant within every Z plane.
    """
    a, b = _pair(volume, truth)
    a = a - a.mean(axis=(1, 2), keepdims=True)
    b = b - b.mean(axis=(1, 2), keepdims=True)
    norm = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / norm) if norm > 0 else 0.0


def without_z_line(region: torch.Tensor) -> torch.Tensor:
    """``region`` (a boolean mask on the full ``fftn`` grid) minus the line ``k_x = k_y = 0``.

    Parameters
    ----------
    region : torch.Tensor
        Boolean ``(Z, Y, X)`` mask, e.g. from :func:`tomorestore.physics.wedge_region_masks`.

    Returns
    -------
    torch.Tensor
        A new mask, False wherever ``k_x = k_y = 0``.
    """
    out = torch.as_tensor(region, dtype=torch.bool).clone()
    out[:, 0, 0] = False
    return out


def fsc_resolution(frequencies: np.ndarray, fsc: np.ndarray, threshold: float = 0.143) -> float:
    """The frequency (cycles/voxel) where the FSC first falls below ``threshold``.

    Linear interpolation between the shells around the crossing; the last shell's
    frequency when the FSC never falls below it, 0 when the first shell is already below.
    Higher is better (the resolution in voxels is its inverse).
    """
    frequencies = np.asarray(frequencies, dtype=np.float64)
    fsc = np.nan_to_num(np.asarray(fsc, dtype=np.float64), nan=1.0)  # empty shells: skip
    below = np.flatnonzero(fsc < threshold)
    if below.size == 0:
        return float(frequencies[-1])
    i = int(below[0])
    if i == 0:
        return 0.0
    f0, f1, c0, c1 = frequencies[i - 1], frequencies[i], fsc[i - 1], fsc[i]
    return float(f0 + (c0 - threshold) / (c0 - c1) * (f1 - f0))


def mean_fsc(
    frequencies: np.ndarray, fsc: np.ndarray, band: tuple[float, float] = (0.05, 0.25)
) -> float:
    """Mean FSC over the shells whose centre lies in ``band`` (cycles/voxel)."""
    frequencies = np.asarray(frequencies)
    inside = (frequencies >= band[0]) & (frequencies <= band[1])
    if not inside.any():
        raise InputError(f"no shell centre lies in the band {band}; use a wider band")
    return float(np.nanmean(np.asarray(fsc, dtype=np.float64)[inside]))


def soft_edge_window(shape: tuple[int, ...], edge: int) -> np.ndarray:
    """A separable window: 1 inside, a raised cosine to 0 over ``edge`` voxels at each face."""
    window = np.ones(shape, dtype=np.float64)
    for axis, n in enumerate(shape):
        width = min(int(edge), n // 2)
        if width <= 0:
            continue
        line = np.ones(n)
        ramp = 0.5 * (1.0 - np.cos(np.pi * (np.arange(width) + 0.5) / width))
        line[:width], line[n - width :] = ramp, ramp[::-1]
        window *= line.reshape([-1 if i == axis else 1 for i in range(len(shape))])
    return window


def even_odd_fsc(
    even: np.ndarray,
    odd: np.ndarray,
    band: tuple[float, float] = (0.05, 0.25),
    *,
    edge: int = 8,
) -> dict[str, float | list[list[float]]]:
    """Summaries of the FSC of two half restorations (or two half tomograms).

    Each volume minus its mean is multiplied by :func:`soft_edge_window` first: the FFT
    treats a volume as periodic, and the jump between opposite faces of two smooth
    volumes is shared signal whose spectrum reaches every shell (without the window a
    Gaussian-filtered pair of noisy halves scores a far higher FSC than the halves).

    Parameters
    ----------
    even, odd : numpy.ndarray
        ``(Z, Y, X)`` volumes of one shape, e.g. ``RestorationModel.restore_parts`` of the
        even and odd halves.
    band : tuple of float
        Frequencies (cycles/voxel) over which ``fsc_mean`` averages.
    edge : int
        Width (voxels) of the soft edge; 0: no window.

    Returns
    -------
    dict
        ``fsc_0143``: the frequency where the FSC falls below 0.143 (cycles/voxel, higher is
        better); ``fsc_mean``: its mean over ``band``; ``fsc_curve``: ``[[frequency, fsc],
        ...]`` per shell (rounded to 4 decimals; NaN for an empty shell).
    """
    a, b = _pair(even, odd)
    window = soft_edge_window(a.shape, edge)
    a, b = (a - a.mean()) * window, (b - b.mean()) * window
    frequencies, fsc = (t.numpy() for t in fourier_shell_correlation(a, b))
    return {
        "fsc_0143": fsc_resolution(frequencies, fsc, 0.143),
        "fsc_mean": mean_fsc(frequencies, fsc, band),
        "fsc_curve": [
            [round(float(f), 4), round(float(c), 4)] for f, c in zip(frequencies, fsc, strict=True)
        ],
    }
