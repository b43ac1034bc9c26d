"""Parallel-beam projection and weighted back-projection about the Y (tilt) axis.

Geometry and handedness (the convention of ``docs/architecture.md``, the one of IMOD and
AreTomo ``.tlt`` files): a tilt angle θ projects along the ray direction
``(z, x) = (cos θ, −sin θ)``; the detector coordinate is ``s = z·sin θ + x·cos θ`` with
``z`` and ``x`` measured from the volume centre, and ``y`` is unchanged. By the
central-slice theorem the 1D Fourier transform of a projection along ``s`` is the volume's
Fourier transform on the line ``(k_z, k_x) = ν·(sin θ, cos θ)``, at the angle
``φ = atan2(k_z, k_x) = θ``: a tilt range ``[θmin, θmax]`` measures ``φ ∈ [θmin, θmax]``.

Note: scikit-image's ``radon(image, theta)`` (rows = Z, columns = X) uses the opposite sign;
its angle ``t`` measures ``φ = −t``. Do not mix the two without flipping the angles.

Detector: ``S`` pixels of the volume's voxel size, ``S >= X`` and ``S ≡ X (mod 2)``, just
wide enough that every voxel of the volume lands on the detector at every angle (see
:func:`detector_width`), so nothing is truncated. Detector pixel ``j`` sits at
``s = j − (S − 1)/2``; at θ = 0 the central ``X`` pixels line up with the volume's columns.

All functions work one Y slice at a time in a single vectorised call (the Y slices are the
channels of a ``torch.nn.functional.grid_sample`` call on the CPU); torch is imported inside
the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import InputError

__all__ = [
    "FILTER_WINDOWS",
    "backproject",
    "detector_width",
    "project",
    "ramp_filter",
    "tilt_weights",
    "weighted_backprojection",
]

#: Windows for the ramp filter of the weighted back-projection.
FILTER_WINDOWS = ("ramp", "shepp-logan", "cosine", "hann")


def _angles_radians(angles: Sequence[float] | np.ndarray) -> np.ndarray:
    theta = np.asarray(angles, dtype=np.float64).reshape(-1)
    if theta.size == 0 or not np.all(np.isfinite(theta)):
        raise InputError("tilt angles must be a non-empty list of finite numbers (degrees)")
    return np.deg2rad(theta)


def detector_width(shape: Sequence[int], angles: Sequence[float] | np.ndarray) -> int:
    """Smallest detector width ``S >= X`` (same parity as ``X``) that sees the whole volume.

    Parameters
    ----------
    shape : sequence of int
        ``(Z, Y, X)`` volume shape.
    angles : array_like
        Tilt angles in degrees.

    Returns
    -------
    int
        The number of detector pixels along ``s``.
    """
    n_z, _, n_x = (int(n) for n in shape)
    theta = _angles_radians(angles)
    reach = np.max((n_z - 1) / 2 * np.abs(np.sin(theta)) + (n_x - 1) / 2 * np.abs(np.cos(theta)))
    # Pixel centres span ±(S − 1)/2, which must reach every voxel centre.
    width = max(n_x, math.ceil(2 * reach + 1 - 1e-6))
    return width + (width - n_x) % 2


def project(volume: np.ndarray, angles: Sequence[float] | np.ndarray) -> np.ndarray:
    """Line integrals of ``volume`` along the rays of each tilt angle.

    Parameters
    ----------
    volume : numpy.ndarray
        ``(Z, Y, X)`` volume.
    angles : array_like
        Tilt angles in degrees (convention in the module docstring).

    Returns
    -------
    numpy.ndarray
        float32 projections ``(n_tilts, Y, S)`` with ``S = detector_width(volume.shape,
        angles)``; each ray integral is sampled every voxel along the stretch that crosses
        the volume, with bilinear interpolation in the ray's (Z, X) plane.
    """
    import torch
    import torch.nn.functional as F

    volume = np.asarray(volume, dtype=np.float32)
    if volume.ndim != 3:
        raise InputError(f"project needs a 3D (Z, Y, X) volume, got shape {volume.shape}")
    theta = _angles_radians(angles)
    n_z, n_y, n_x = volume.shape
    n_s = detector_width(volume.shape, angles)
    s = torch.arange(n_s, dtype=torch.float64) - (n_s - 1) / 2
    # Y slices as channels: (1, Y, Z, X).
    image = torch.from_numpy(np.ascontiguousarray(volume.transpose(1, 0, 2)))[None]
    out = torch.empty((theta.size, n_y, n_s), dtype=torch.float32)
    with torch.no_grad():
        for i, angle in enumerate(theta):
            sin, cos = math.sin(angle), math.cos(angle)
            t = _ray_samples(s, sin, cos, n_z, n_x)  # (T, S), unit steps along each ray
            z = s[None, :] * sin + t * cos
            x = s[None, :] * cos - t * sin
            grid = torch.stack((_normalise(x, n_x), _normalise(z, n_z)), dim=-1).float()[
                None
            ]  # (1, T, S, 2): (x, z) as grid_sample's (width, height)
            samples = F.grid_sample(
                image, grid, mode="bilinear", padding_mode="zeros", align_corners=True
            )
            out[i] = samples[0].sum(dim=1)
    return out.numpy()


def _ray_samples(s, sin: float, cos: float, n_z: int, n_x: int):
    """Positions ``t`` (unit spacing) along the ray of each detector pixel ``s``, (T, S).

    Only the stretch of each ray that crosses the volume (plus the one voxel of bilinear
    support around it) is sampled: between the two Z faces, or between the two X faces,
    whichever is shorter, so that a wide or a thin volume costs no empty samples.
    """
    import torch

    half_z, half_x = (n_z - 1) / 2 + 1, (n_x - 1) / 2 + 1
    through_z = 2 * half_z / abs(cos) if abs(cos) > 1e-9 else math.inf
    through_x = 2 * half_x / abs(sin) if abs(sin) > 1e-9 else math.inf
    if through_z <= through_x:
        length, centre = through_z, -s * (sin / cos)  # the ray's t where z = 0
    else:
        length, centre = through_x, s * (cos / sin)  # the ray's t where x = 0
    n_t = 2 * math.ceil(length / 2) + 1
    steps = torch.arange(n_t, dtype=torch.float64) - (n_t - 1) / 2
    return centre[None, :] + steps[:, None]


def _normalise(centred, size: int):
    """Centred voxel coordinates to grid_sample's ``[-1, 1]`` (``align_corners=True``)."""
    return centred * (2.0 / max(size - 1, 1))


def tilt_weights(angles: Sequence[float] | np.ndarray) -> np.ndarray:
    """Angular width (radians) each tilt stands for: half the gap to each neighbour.

    The first and last tilts get the full gap to their single neighbour, so a uniform
    series gets ``step`` everywhere; a single tilt gets ``π``.
    """
    theta = _angles_radians(angles)
    if theta.size == 1:
        return np.array([np.pi])
    order = np.argsort(theta)
    sorted_theta = theta[order]
    gaps = np.diff(sorted_theta)
    widths = np.empty_like(sorted_theta)
    widths[1:-1] = (gaps[:-1] + gaps[1:]) / 2
    widths[0], widths[-1] = gaps[0], gaps[-1]
    weights = np.empty_like(widths)
    weights[order] = widths
    return weights


def ramp_filter(n_fft: int, window: str = "ramp") -> np.ndarray:
    """Frequency response (length ``n_fft``, ``numpy.fft`` order) of a windowed ramp filter.

    The ramp is the Fourier transform of the band-limited spatial Ram-Lak kernel
    (Kak & Slaney, eq. 3.61), which gets the zero frequency right on a finite detector.
    """
    if window not in FILTER_WINDOWS:
        raise InputError(f"unknown filter window {window!r}; use one of {FILTER_WINDOWS}")
    n = np.concatenate((np.arange(0, n_fft // 2 + 1), np.arange(n_fft // 2 - n_fft + 1, 0)))
    kernel = np.zeros(n_fft)
    kernel[0] = 0.25
    odd = n % 2 == 1
    kernel[odd] = -1.0 / (np.pi * n[odd]) ** 2
    response = np.real(np.fft.fft(kernel))
    f = np.fft.fftfreq(n_fft)  # cycles per pixel, |f| <= 0.5
    if window == "shepp-logan":
        response *= np.sinc(f)
    elif window == "cosine":
        response *= np.cos(np.pi * f)
    elif window == "hann":
        response *= 0.5 * (1 + np.cos(2 * np.pi * f))
    return response


def backproject(
    projections: np.ndarray, angles: Sequence[float] | np.ndarray, shape: Sequence[int]
) -> np.ndarray:
    """Unfiltered back-projection (smear along the rays, summed over tilts).

    The discrete counterpart of the adjoint of :func:`project`: for band-limited inputs
    ``<project(v), p> ≈ <v, backproject(p)>``. Each voxel reads the detector at
    ``s = z·sin θ + x·cos θ`` with linear interpolation.

    Parameters
    ----------
    projections : numpy.ndarray
        ``(n_tilts, Y, S)`` projections (any ``S``, centred as in :func:`project`).
    angles : array_like
        Tilt angles in degrees, one per projection.
    shape : sequence of int
        ``(Z, Y, X)`` output shape.

    Returns
    -------
    numpy.ndarray
        float32 ``(Z, Y, X)`` volume.
    """
    import torch
    import torch.nn.functional as F

    projections = np.asarray(projections, dtype=np.float32)
    theta = _angles_radians(angles)
    n_z, n_y, n_x = (int(n) for n in shape)
    if projections.ndim != 3 or projections.shape[:2] != (theta.size, n_y):
        raise InputError(
            f"projections must have shape (n_tilts={theta.size}, Y={n_y}, S), "
            f"got {projections.shape}"
        )
    n_s = projections.shape[2]
    z = (torch.arange(n_z, dtype=torch.float64) - (n_z - 1) / 2)[:, None]
    x = (torch.arange(n_x, dtype=torch.float64) - (n_x - 1) / 2)[None, :]
    rows = torch.from_numpy(projections)[:, :, None, :]  # (n_tilts, Y, 1, S)
    volume = torch.zeros((1, n_y, n_z, n_x), dtype=torch.float32)
    with torch.no_grad():
        for i, angle in enumerate(theta):
            s = z * math.sin(angle) + x * math.cos(angle)  # (Z, X)
            grid = torch.stack((_normalise(s, n_s), torch.zeros_like(s)), dim=-1).float()[None]
            volume += F.grid_sample(
                rows[i : i + 1], grid, mode="bilinear", padding_mode="zeros", align_corners=True
            )
    return np.ascontiguousarray(volume[0].numpy().transpose(1, 0, 2))


def weighted_backprojection(
    projections: np.ndarray,
    angles: Sequence[float] | np.ndarray,
    shape: Sequence[int],
    *,
    window: str = "ramp",
) -> np.ndarray:
    """Filtered (weighted) back-projection: ramp filter along ``s``, then back-project.

    Each projection is zero-padded to at least twice its width, filtered in Fourier with
    :func:`ramp_filter`, and back-projected with the angular weight of
    :func:`tilt_weights`, so that the reconstruction matches the volume in amplitude on the
    measured Fourier region (and a full 180° series reconstructs the volume itself).

    Parameters
    ----------
    projections : numpy.ndarray
        ``(n_tilts, Y, S)`` projections from :func:`project` (or with noise added).
    angles : array_like
        Tilt angles in degrees, one per projection.
    shape : sequence of int
        ``(Z, Y, X)`` output shape.
    window : {"ramp", "shepp-logan", "cosine", "hann"}
        Apodisation of the ramp (``"ramp"``: none).

    Returns
    -------
    numpy.ndarray
        float32 ``(Z, Y, X)`` reconstruction.
    """
    projections = np.asarray(projections, dtype=np.float32)
    if projections.ndim != 3:
        raise InputError(f"projections must be (n_tilts, Y, S), got shape {projections.shape}")
    n_s = projections.shape[2]
    n_fft = 1 << (2 * n_s - 1).bit_length()
    response = ramp_filter(n_fft, window)[: n_fft // 2 + 1]
    spectrum = np.fft.rfft(projections, n=n_fft, axis=-1)
    filtered = np.fft.irfft(spectrum * response, n=n_fft, axis=-1)[..., :n_s]
    filtered *= tilt_weights(angles)[:, None, None]
    return backproject(filtered.astype(np.float32), angles, shape)
