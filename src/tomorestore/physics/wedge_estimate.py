"""Estimate the tilt range of a tomogram from its own power spectrum.

The missing wedge is visible in the data: with tilt axis Y, the power of the tomogram in
the (k_z, k_x) plane, averaged over k_y, is high where ``φ = atan2(k_z, k_x)`` (folded into
(−90°, 90°]) lies in the measured range and low outside it — the noise of a
reconstruction is back-projected from the tilt images too, so even pure noise shows it.
The estimate takes the whitened angular power profile
(:func:`~tomorestore.physics.angular_power.angular_power`), clips its peaks at twice the
typical measured level (streaks of dense objects at the steepest tilts must not pass for
the measured range) and fits a two-level step — high on ``[tilt_min, tilt_max]``, low
outside — by an exhaustive least-squares search of both edges, weighted by the number of
frequencies per bin.

It measures the edge of the measured power, which lies about half a tilt step beyond the
outermost tilts (a ±60° series at 3° steps reads about ±61.5°). The sign follows the
convention of ``docs/architecture.md`` (the numbers of an IMOD ``.tlt`` file).

Confidence combines two checks. The *contrast* is ``1 − outside/inside`` of the profile's
mean levels, and also just either side of each edge (the smallest of the three counts): a
missing wedge holds little power and ends sharply, while a volume without one (white
noise, a restored tomogram) or seen about the wrong tilt axis (a smooth bump of power) has
little. The *spread* is the RMS difference of the edges fitted separately to interleaved
groups of planes (independent noise). ``confidence = min(1, contrast / 0.8) ·
exp(−(spread / 4°)²)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .angular_power import angular_power

__all__ = ["WedgeEstimate", "describe_estimate", "estimate_tilt_range"]

#: Contrast (1 − outside/inside power) that counts as a fully convincing missing wedge.
FULL_CONTRAST = 0.8
#: Edge spread (degrees, RMS between subsets) at which confidence drops to 1/e.
SPREAD_SCALE = 4.0
#: Below this confidence the estimate is described as a guess.
LOW_CONFIDENCE = 0.5
_MIN_INSIDE_DEG = 10.0  # narrowest measured range the fit considers
_MIN_OUTSIDE_DEG = 4.0  # narrowest missing wedge the fit considers
_EDGE_GAP_DEG = 1.5  # the edge contrast skips this much either side of an edge (blur)
_EDGE_WINDOW_DEG = 8.0  # and averages this much beyond the gap
_PEAK_CLIP = 2.0  # the fit sees the profile clipped at this many times its measured level
_MEASURED_FRACTION = 0.25  # bins above this fraction of the mean count as measured there


@dataclass(frozen=True)
class WedgeEstimate:
    """A tilt range estimated from a tomogram's power spectrum.

    Attributes
    ----------
    tilt_min, tilt_max : float
        Estimated tilt range in degrees (convention of ``docs/architecture.md``).
    confidence : float
        In [0, 1]: ``min(1, contrast / 0.8) · exp(−(spread / 4°)²)``; above about 0.8 the
        wedge is clear and the edges agree between subsets of the data, below 0.5 the
        data show no clear missing wedge and the range is a guess.
    tilt_axis : {"Y", "X"}
        The tilt axis the estimate assumed.
    contrast : float
        ``1 − (mean power outside) / (mean power inside)`` of the whitened angular
        profile, in [0, 1].
    spread : float
        RMS difference (degrees) between the edges fitted to each subset of planes and
        the edges fitted to all of them.
    n_slices : int
        Number of planes normal to the tilt axis that were read.
    band : tuple of float
        The band of ``|k|`` (cycles/voxel) that was used: the one asked for, cut where
        the power falls below ``DYNAMIC_RANGE`` of its peak (low-pass filtered data).
    angles : numpy.ndarray
        Bin centres of φ in degrees, from −90 to 90.
    profile : numpy.ndarray
        Whitened power per bin (mean 1 over the band; NaN where a bin holds no
        frequency): plot it against ``angles`` to see the wedge.
    """

    tilt_min: float
    tilt_max: float
    confidence: float
    tilt_axis: str = "Y"
    contrast: float = 0.0
    spread: float = 0.0
    n_slices: int = 0
    band: tuple[float, float] = (0.0, 0.0)
    angles: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False, repr=False)
    profile: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False, repr=False)

    @property
    def tilt_range(self) -> tuple[float, float]:
        """``(tilt_min, tilt_max)`` in degrees."""
        return (self.tilt_min, self.tilt_max)

    def as_dict(self) -> dict[str, float]:
        """``{"tilt_min", "tilt_max", "confidence"}`` rounded for printing (JSON)."""
        return {
            "tilt_min": round(self.tilt_min, 2),
            "tilt_max": round(self.tilt_max, 2),
            "confidence": round(self.confidence, 3),
        }


def describe_estimate(estimate: WedgeEstimate, name: str) -> str:
    """The sentence that reports an automatic estimate to the user.

    Parameters
    ----------
    estimate : WedgeEstimate
        From :func:`estimate_tilt_range`.
    name : str
        What was estimated, e.g. the file name ``"T.mrc"``.

    Returns
    -------
    str
        E.g. ``"estimated the tilt range of T.mrc from its power spectrum: -48.5 to 61.0
        degrees (confidence 0.93); give --tilt-range or --tilt-angles to set it"``; a low
        confidence adds that the data show no clear missing wedge.
    """
    text = (
        f"estimated the tilt range of {name} from its power spectrum: "
        f"{estimate.tilt_min:.1f} to {estimate.tilt_max:.1f} degrees "
        f"(confidence {estimate.confidence:.2f})"
    )
    if estimate.confidence < LOW_CONFIDENCE:
        text += "; the data show no clear missing wedge, so this range is a guess"
    return text + "; give --tilt-range or --tilt-angles to set it"


def _peak_cap(profile: np.ndarray, weights: np.ndarray) -> float:
    """Twice the typical measured level: peaks above it are clipped before the fit."""
    mean = float(np.average(profile, weights=weights))
    measured = (weights > 0) & (profile > _MEASURED_FRACTION * mean)
    return _PEAK_CLIP * float(np.median(profile[measured])) if measured.any() else np.inf


def _middle(edge: int, weights: np.ndarray, low: int, high: int) -> float:
    """Centre of the run of equivalent edge positions around ``edge`` (empty bins)."""
    left = edge
    while left > low and weights[left - 1] == 0:
        left -= 1
    right = edge
    while right < high and weights[right] == 0:
        right += 1
    return (left + right) / 2.0


def _fit_step(profile: np.ndarray, weights: np.ndarray, bin_width: float) -> tuple[float, float]:
    """Edges ``(tilt_min, tilt_max)`` of the best two-level step (least squares)."""
    n = profile.size
    w_cum = np.concatenate([[0.0], np.cumsum(weights)])
    s_cum = np.concatenate([[0.0], np.cumsum(weights * profile)])
    lo = np.arange(n + 1)[:, None]
    hi = np.arange(n + 1)[None, :]
    n_in = w_cum[hi] - w_cum[lo]
    s_in = s_cum[hi] - s_cum[lo]
    n_out = w_cum[-1] - n_in
    s_out = s_cum[-1] - s_in
    min_in = math.ceil(_MIN_INSIDE_DEG / bin_width)
    min_out = math.ceil(_MIN_OUTSIDE_DEG / bin_width)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = s_in**2 / n_in + s_out**2 / n_out  # = const − residual sum of squares
        valid = (hi - lo >= min_in) & (n - (hi - lo) >= min_out) & (lo >= 1) & (hi <= n - 1)
        valid &= (n_in > 0) & (n_out > 0) & (s_in * n_out > s_out * n_in)
    score = np.where(valid, score, -np.inf)
    if not np.isfinite(score.max()):
        return -89.0, 89.0
    i, j = np.unravel_index(int(np.argmax(score)), score.shape)
    a = _middle(int(i), weights, 1, int(j) - min_in)
    b = _middle(int(j), weights, int(i) + min_in, n - 1)
    return -90.0 + a * bin_width, -90.0 + b * bin_width


def _edge_contrast(
    profile: np.ndarray, weights: np.ndarray, edge: float, inward: int, bin_width: float
) -> float:
    """``1 − outside/inside`` of the profile in two windows just either side of an edge.

    ``inward`` is +1 when the measured range lies above ``edge`` (``tilt_min``), −1 when it
    lies below (``tilt_max``). φ wraps around at ±90°. A sharp wedge edge keeps the global
    contrast; a smooth bump of power (e.g. the wrong tilt axis) has little.
    """
    n = profile.size
    gap, width = _EDGE_GAP_DEG / bin_width, _EDGE_WINDOW_DEG / bin_width
    position = (edge + 90.0) / bin_width  # edge in bin-edge units

    def mean(start: float, stop: float) -> float:
        index = np.arange(math.floor(start), math.ceil(stop)) % n
        total = weights[index].sum()
        return float((weights[index] * profile[index]).sum() / total) if total > 0 else 0.0

    if inward > 0:
        inside = mean(position + gap, position + gap + width)
        outside = mean(position - gap - width, position - gap)
    else:
        inside = mean(position - gap - width, position - gap)
        outside = mean(position + gap, position + gap + width)
    return float(np.clip(1.0 - outside / inside, 0.0, 1.0)) if inside > 0 else 0.0


def _contrast(
    profile: np.ndarray,
    weights: np.ndarray,
    angles: np.ndarray,
    edges: tuple[float, float],
    bin_width: float,
) -> float:
    """The smallest of the global contrast and the contrast at each edge, in [0, 1]."""
    within = (angles > edges[0]) & (angles < edges[1])
    inside = float(np.average(profile[within], weights=weights[within] + 1e-12))
    outside = float(np.average(profile[~within], weights=weights[~within] + 1e-12))
    contrast = float(np.clip(1.0 - outside / inside, 0.0, 1.0)) if inside > 0 else 0.0
    for edge, inward in ((edges[0], 1), (edges[1], -1)):
        contrast = min(contrast, _edge_contrast(profile, weights, edge, inward, bin_width))
    return contrast


def estimate_tilt_range(
    volume: Any,
    *,
    tilt_axis: str = "Y",
    band: tuple[float, float] = (0.06, 0.33),
    bin_width: float = 0.5,
    max_slices: int = 64,
    max_size: int = 512,
    groups: int = 4,
) -> WedgeEstimate:
    """Estimate the tilt range of a tomogram from the missing wedge in its power spectrum.

    Parameters
    ----------
    volume : array-like
        ``(Z, Y, X)`` tomogram: a numpy array, a read-only memory map (only the planes
        used are read: at most ``max_slices · max_size²`` voxels) or a dask array.
    tilt_axis : {"Y", "X"}
        The tilt axis; with "X" the wedge is sought in the (k_z, k_y) plane.
    band : tuple of float
        Range of ``|k|`` (cycles/voxel, 0 < low < high ≤ 0.5) whose power is used.
    bin_width : float
        Width of the φ bins in degrees (the resolution of the edges); 180 must be a
        multiple of it.
    max_slices : int
        At most this many planes normal to the tilt axis are read, evenly spread.
    max_size : int
        Each plane is cropped to at most this many voxels per axis around its centre.
    groups : int
        Number of interleaved subsets of planes whose separate fits give the spread.

    Returns
    -------
    WedgeEstimate
        The range, its confidence and diagnostics (contrast, spread, angular profile).

    Raises
    ------
    InputError
        For a volume that is not 3D and real, smaller than 16 voxels on an axis, holds
        NaN/inf, or has no power in ``band``; or for bad parameters.

    Examples
    --------
    >>> from tomorestore.simulate import simulate_tomogram
    >>> sim = simulate_tomogram((64, 64, 64), tilt_range=(-48, 62), seed=1)
    >>> est = estimate_tilt_range(sim.full)
    >>> round(est.tilt_min), round(est.tilt_max), est.confidence > 0.8  # doctest: +SKIP
    (-50, 62, True)
    """
    power = angular_power(
        volume,
        tilt_axis=tilt_axis,
        band=band,
        bin_width=bin_width,
        max_slices=max_slices,
        max_size=max_size,
        groups=groups,
    )
    width = float(bin_width)
    profile, counts = power.profile, power.counts
    cap = _peak_cap(profile, counts)
    tilt_min, tilt_max = _fit_step(np.minimum(profile, cap), counts, width)
    edges = np.array([_fit_step(np.minimum(p, cap), counts, width) for p in power.profiles])
    spread = float(np.sqrt(np.mean((edges - [tilt_min, tilt_max]) ** 2)))
    contrast = _contrast(profile, counts, power.angles, (tilt_min, tilt_max), width)
    confidence = min(1.0, contrast / FULL_CONTRAST) * math.exp(-((spread / SPREAD_SCALE) ** 2))
    return WedgeEstimate(
        tilt_min=float(tilt_min),
        tilt_max=float(tilt_max),
        confidence=float(np.clip(confidence, 0.0, 1.0)),
        tilt_axis=power.tilt_axis,
        contrast=contrast,
        spread=spread,
        n_slices=power.n_slices,
        band=power.band,
        angles=power.angles,
        profile=np.where(counts > 0, profile, np.nan),
    )
