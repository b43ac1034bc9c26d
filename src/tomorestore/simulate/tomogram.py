"""Simulated tilt-series reconstructions: ground truth, wedge-only, even/odd halves, full.

A phantom (:mod:`tomorestore.simulate.phantom`) is projected over the tilt series
(:func:`tomorestore.simulate.projector.project`, convention of ``docs/architecture.md``),
then reconstructed by weighted back-projection:

- ``wedge_only`` — the noise-free projections: the ground truth with its missing wedge;
- ``even`` / ``odd`` — the projections plus independent Gaussian noise of variance
  ``2·σ²`` each (half the dose each), with ``σ² = var(noise-free projections) / snr``;
- ``full`` — ``(even + odd) / 2``: noise variance ``σ²``, projection-space SNR ``snr``.

Because the back-projection's ramp filter whitens only along the detector and the rays
spread each detector pixel along Z, the reconstruction noise is correlated along Z
(positive lag-1 autocorrelation), but not along Y — as in real tomograms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .phantom import make_phantom
from .projector import project, weighted_backprojection
from .sparse import make_sparse_phantom

__all__ = [
    "MIN_SIZE",
    "SAMPLES",
    "SimulatedTomogram",
    "simulate_tomogram",
    "tilt_series",
    "write_simulation",
]

#: Smallest size (voxels) per axis that :func:`simulate_tomogram` accepts.
MIN_SIZE = 16

#: Sample types of :func:`simulate_tomogram`: a dense cellular lamella (slab of cytoplasm
#: between vacuum) or sparse objects in vitreous ice (no slab, no Z profile).
SAMPLES = ("lamella", "sparse")


@dataclass(frozen=True)
class SimulatedTomogram:
    """A simulated tomogram with everything that is never available for real data.

    Attributes
    ----------
    ground_truth : numpy.ndarray
        The phantom, float32 ``(Z, Y, X)``, density ``>= 0``.
    wedge_only : numpy.ndarray
        Weighted back-projection of the noise-free projections (missing wedge, no noise).
    even, odd : numpy.ndarray
        Reconstructions of the two half-dose noisy tilt series.
    full : numpy.ndarray
        ``(even + odd) / 2``, the full-dose tomogram.
    tilt_angles : numpy.ndarray
        Tilt angles in degrees (float64).
    tilt_range : tuple of float
        ``(tilt_min, tilt_max)`` in degrees.
    voxel_size : tuple of float
        ``(Z, Y, X)`` voxel size in Å.
    snr : float
        Signal-to-noise ratio of the full-dose projections (signal variance / noise variance).
    seed : int
        Seed of ``numpy.random.default_rng`` that made this simulation.
    sample : str
        ``"lamella"`` or ``"sparse"`` (see :func:`simulate_tomogram`).
    """

    ground_truth: np.ndarray
    wedge_only: np.ndarray
    even: np.ndarray
    odd: np.ndarray
    full: np.ndarray
    tilt_angles: np.ndarray
    tilt_range: tuple[float, float]
    voxel_size: tuple[float, float, float]
    snr: float
    seed: int
    sample: str = "lamella"

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(Z, Y, X)`` shape of every volume."""
        return tuple(self.ground_truth.shape)


def tilt_series(tilt_range: tuple[float, float], tilt_step: float) -> np.ndarray:
    """Angles from ``tilt_min`` to ``tilt_max`` (both included when the step divides the range)."""
    tilt_min, tilt_max = (float(a) for a in tilt_range)
    count = int(math.floor((tilt_max - tilt_min) / tilt_step + 1e-6)) + 1
    return tilt_min + tilt_step * np.arange(count, dtype=np.float64)


def lateral_margin(shape: tuple[int, int, int], angles: np.ndarray) -> int:
    """Voxels of sample to simulate beyond each X edge of the volume.

    A real lamella continues sideways beyond the reconstructed field, and tilted rays
    through the field cross it: ``(Z/2)·tan(max |θ|)`` voxels on each side (at most ``X``).
    Without it the phantom would end in the field of view and its corners would throw
    limited-angle streaks across the reconstruction.
    """
    n_z, _, n_x = shape
    steepest = math.radians(min(float(np.max(np.abs(angles))), 89.0))
    return int(min(n_x, math.ceil((n_z - 1) / 2 * math.tan(steepest))))


def _edge_taper(n_x: int, margin: int) -> np.ndarray:
    """A (1, 1, X + 2·margin) weight: 1 over the volume and half the margin, then a cosine to 0.

    It fades the simulated world out smoothly instead of cutting it, so that its far edges
    throw no streaks into the volume.
    """
    width = n_x + 2 * margin
    distance = np.abs(np.arange(width, dtype=np.float32) - (width - 1) / 2) - (n_x - 1) / 2
    ramp = max(margin / 2, 1.0)
    fade = np.clip((distance - (margin - ramp)) / ramp, 0.0, 1.0)
    return (0.5 * (1 + np.cos(np.pi * fade))).astype(np.float32).reshape(1, 1, -1)


def _validate(shape, tilt_range, tilt_step, snr, voxel_size) -> tuple:
    try:
        shape = tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        raise InputError(
            f"shape must be three integers (Z, Y, X), got {shape!r}; e.g. shape=(64, 128, 128)"
        ) from None
    if len(shape) != 3 or min(shape) < MIN_SIZE:
        raise InputError(
            f"shape must be three integers (Z, Y, X), each at least {MIN_SIZE}, got {shape}; "
            "e.g. shape=(64, 128, 128)"
        )
    try:
        tilt_min, tilt_max = (float(a) for a in tilt_range)
    except (TypeError, ValueError):
        raise InputError(
            f"tilt_range must be two numbers (min, max) in degrees, got {tilt_range!r}"
        ) from None
    if not (-90.0 < tilt_min < tilt_max < 90.0):
        raise InputError(
            f"tilt_range must satisfy -90 < min < max < 90 degrees, got ({tilt_min}, {tilt_max}); "
            "e.g. (-60, 60)"
        )
    for name, value in (("tilt_step", tilt_step), ("snr", snr), ("voxel_size", voxel_size)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise InputError(f"{name} must be a positive number, got {value!r}")
    if tilt_step > tilt_max - tilt_min:
        raise InputError(
            f"tilt_step {tilt_step} is larger than the tilt range {tilt_max - tilt_min}; "
            "use a step of a few degrees (e.g. 3)"
        )
    return shape, (tilt_min, tilt_max), float(tilt_step), float(snr), float(voxel_size)


def simulate_tomogram(
    shape: tuple[int, int, int] = (64, 128, 128),
    *,
    tilt_range: tuple[float, float] = (-60.0, 60.0),
    tilt_step: float = 3.0,
    snr: float = 0.1,
    seed: int = 0,
    voxel_size: float = 10.0,
    sample: str = "lamella",
) -> SimulatedTomogram:
    """Simulate a cryo-electron tomogram of a cellular lamella or of objects in ice.

    Parameters
    ----------
    shape : tuple of int
        ``(Z, Y, X)`` size, each at least 16. Z is the beam axis, Y the tilt axis.
    tilt_range : tuple of float
        ``(tilt_min, tilt_max)`` in degrees, ``-90 < min < max < 90``; asymmetric ranges
        are fine. Handedness as in ``docs/architecture.md`` (IMOD/AreTomo ``.tlt``).
    tilt_step : float
        Angular increment in degrees.
    snr : float
        Projection-space signal-to-noise ratio of the full dose (variance ratio).
    seed : int
        Seed for ``numpy.random.default_rng``: the same seed gives the same tomogram.
    voxel_size : float
        Isotropic voxel size in Å; the phantom's objects have physical sizes.
    sample : {"lamella", "sparse"}
        ``"lamella"`` (default): a dense FIB-milled lamella, cytoplasm between vacuum
        (:func:`~tomorestore.simulate.phantom.make_phantom`; half of its variance is the
        Z profile). ``"sparse"``: vesicles, microtubule pieces and macromolecules sparsely
        placed in vitreous ice that fills the volume
        (:func:`~tomorestore.simulate.sparse.make_sparse_phantom`; no Z profile).

    Returns
    -------
    SimulatedTomogram

    Raises
    ------
    InputError
        On a bad shape, tilt range, step, SNR, voxel size or sample.

    Examples
    --------
    >>> sim = simulate_tomogram((32, 48, 48), tilt_range=(-48, 62), seed=1)
    >>> sim.full.shape, sim.full.dtype
    ((32, 48, 48), dtype('float32'))
    """
    shape, tilt_range, tilt_step, snr, voxel_size = _validate(
        shape, tilt_range, tilt_step, snr, voxel_size
    )
    if sample not in SAMPLES:
        raise InputError(f"sample must be one of {', '.join(SAMPLES)}, got {sample!r}")
    draw = make_phantom if sample == "lamella" else make_sparse_phantom
    rng = np.random.default_rng(seed)
    angles = tilt_series(tilt_range, tilt_step)
    n_z, n_y, n_x = shape
    margin = lateral_margin(shape, angles)
    world = draw((n_z, n_y, n_x + 2 * margin), voxel_size=voxel_size, rng=rng)
    truth = np.ascontiguousarray(world[:, :, margin : margin + n_x])
    world *= _edge_taper(n_x, margin)
    clean = project(world, angles)  # (n_tilts, Y, S), centred on the volume

    # Signal variance over the detector columns that face the volume at zero tilt.
    n_s = clean.shape[2]
    centre = slice((n_s - n_x) // 2, (n_s - n_x) // 2 + n_x)
    sigma = math.sqrt(float(np.var(clean[:, :, centre], dtype=np.float64)) / snr)
    half_sigma = math.sqrt(2.0) * sigma  # half the dose: twice the noise variance
    noise_even = rng.normal(0.0, half_sigma, clean.shape).astype(np.float32)
    noise_odd = rng.normal(0.0, half_sigma, clean.shape).astype(np.float32)

    # One back-projection for all three: the Y slices are independent, so stack along Y.
    stacked = np.concatenate((clean, clean + noise_even, clean + noise_odd), axis=1)
    volumes = weighted_backprojection(stacked, angles, (n_z, 3 * n_y, n_x))
    wedge_only, even, odd = (
        np.ascontiguousarray(volumes[:, i * n_y : (i + 1) * n_y]) for i in range(3)
    )
    full = ((even + odd) * np.float32(0.5)).astype(np.float32)
    return SimulatedTomogram(
        ground_truth=truth,
        wedge_only=wedge_only,
        even=even,
        odd=odd,
        full=full,
        tilt_angles=angles,
        tilt_range=tilt_range,
        voxel_size=(voxel_size, voxel_size, voxel_size),
        snr=snr,
        seed=int(seed),
        sample=sample,
    )


#: File names that :func:`write_simulation` writes, by ``SimulatedTomogram`` field.
SIMULATION_FILES = {
    "full": "full.mrc",
    "even": "even.mrc",
    "odd": "odd.mrc",
    "ground_truth": "ground_truth.mrc",
    "wedge_only": "wedge_only.mrc",
}


def write_simulation(sim: SimulatedTomogram, outdir: str | Path) -> dict[str, Path]:
    """Write a simulation as MRC files (with its voxel size) plus a ``.tlt`` file.

    Parameters
    ----------
    sim : SimulatedTomogram
        The simulation to write.
    outdir : str or Path
        Folder to write into; created when missing.

    Returns
    -------
    dict of str to Path
        ``{"full", "even", "odd", "ground_truth", "wedge_only", "tilt_angles"}`` → path.
        ``tilt_angles.tlt`` holds one angle (degrees) per line, as IMOD and AreTomo write it.
    """
    from ..io import atomic_write, write_volume

    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"{outdir} exists and is not a folder; choose another output folder")
    outdir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for field, name in SIMULATION_FILES.items():
        written[field] = Path(
            write_volume(outdir / name, getattr(sim, field), voxel_size=sim.voxel_size)
        )
    tlt = outdir / "tilt_angles.tlt"
    with atomic_write(tlt) as tmp:
        tmp.write_text("".join(f"{angle:.2f}\n" for angle in sim.tilt_angles))
    written["tilt_angles"] = tlt
    return written
