"""A synthetic cellular phantom: a FIB-milled lamella at about 10 Å per voxel.

The phantom is a density map (values roughly in ``[0, 1]``, ``>= 0``) of a slab of
vitreous cytoplasm, confined in Z to the central 60–75 % of the volume with soft
surfaces and vacuum above and below. Inside it:

- **vesicles** — spherical shells with two leaflets (two thin Gaussian shells ~4 nm apart,
  the lipid head groups of a bilayer), varied radii, not overlapping each other;
- one **large membrane** (a gently curved bilayer sheet, part of a big organelle) in most
  volumes;
- **microtubules** — hollow tubes of 25 nm outer diameter whose wall carries the 13
  protofilaments, gently curved, mostly in-plane (roughly perpendicular to Z);
- **actin-like filaments** — 7 nm solid rods, gently curved, mostly in-plane;
- **macromolecules** — lumpy clusters of Gaussian-edged spheres, 10–25 nm across
  (ribosome-like), crowded through the cytoplasm;
- a faint, fine-grained texture of small proteins in the cytoplasm background.

Sizes are physical (nm) and converted with the voxel size, and object counts scale with the
volume, so a 32³ or 48³ volume still holds structure. The map is smoothed with a Gaussian of
0.7 voxel so that it is band-limited.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["make_phantom"]

# Relative densities (vacuum 0, cytoplasm/ice background ~0.2, protein and lipid higher).
_BACKGROUND = 0.2
_TEXTURE_AMPLITUDE = 0.04
_LEAFLET = 0.55
_MICROTUBULE = 0.55
_ACTIN = 0.45
_MACROMOLECULE = (0.35, 0.7)

_SMOOTHING_VOXELS = 0.7


def make_phantom(
    shape: tuple[int, int, int],
    *,
    voxel_size: float = 10.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Draw a random cellular lamella phantom.

    Parameters
    ----------
    shape : tuple of int
        ``(Z, Y, X)`` size in voxels.
    voxel_size : float
        Isotropic voxel size in Å; object sizes are physical, so they shrink in voxels as
        the voxel size grows.
    rng : numpy.random.Generator, optional
        Source of randomness (``np.random.default_rng(0)`` when omitted).

    Returns
    -------
    numpy.ndarray
        float32 ``(Z, Y, X)`` density, ``>= 0`` and roughly in ``[0, 1]``.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    shape = tuple(int(n) for n in shape)
    nm = 10.0 / float(voxel_size)  # voxels per nanometre
    grid = _centred_grid(shape)

    slab, (z_low, z_high) = _slab_envelope(shape, rng)
    density = np.zeros(shape, np.float32)
    inside_vesicles = np.zeros(shape, np.float32)
    vesicles = _add_vesicles(density, inside_vesicles, grid, (z_low, z_high), nm, rng)
    _add_large_membrane(density, grid, nm, rng)
    fibres = np.zeros(shape, np.float32)
    _add_filaments(fibres, grid, (z_low, z_high), nm, rng, microtubule=True)
    _add_filaments(fibres, grid, (z_low, z_high), nm, rng, microtubule=False)
    density += fibres * (1.0 - np.minimum(inside_vesicles, 1.0))  # filaments stop at vesicles
    _add_macromolecules(density, (z_low, z_high), vesicles, nm, rng)

    texture = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), 1.5 * nm)
    texture *= _TEXTURE_AMPLITUDE / max(float(texture.std()), 1e-12)

    np.clip(density, 0.0, 1.0 - _BACKGROUND, out=density)
    density += _BACKGROUND + texture
    density *= slab
    np.clip(density, 0.0, 1.0, out=density)
    return ndimage.gaussian_filter(density, _SMOOTHING_VOXELS).astype(np.float32)


def _centred_grid(shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcastable voxel coordinates measured from the volume centre."""
    return tuple(
        (np.arange(n, dtype=np.float32) - (n - 1) / 2).reshape(
            [-1 if i == a else 1 for i in range(3)]
        )
        for a, n in enumerate(shape)
    )


def _slab_envelope(
    shape: tuple[int, int, int], rng: np.random.Generator
) -> tuple[np.ndarray, tuple[float, float]]:
    """A soft-edged slab in Z (the lamella), as a (Z, 1, 1) weight, and its Z limits."""
    n_z = shape[0]
    thickness = rng.uniform(0.60, 0.75) * n_z
    centre = (n_z - 1) / 2 + rng.uniform(-0.04, 0.04) * n_z
    z_low, z_high = centre - thickness / 2, centre + thickness / 2
    z = np.arange(n_z, dtype=np.float32)
    edge = max(1.0, 0.02 * n_z)
    weight = _logistic((z - z_low) / edge) * _logistic((z_high - z) / edge)
    # Back to centred coordinates for the objects.
    offset = (n_z - 1) / 2
    return weight.astype(np.float32).reshape(-1, 1, 1), (z_low - offset, z_high - offset)


def _count(rng: np.random.Generator, expected: float, minimum: int) -> int:
    """A Poisson count with a floor, so that small volumes still hold structure."""
    return max(minimum, int(rng.poisson(expected)))


def _logistic(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` without overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _gaussian_shell(distance: np.ndarray, radius: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((distance - radius) / sigma) ** 2)


def _bilayer(distance: np.ndarray, radius: float, nm: float) -> np.ndarray:
    """Two head-group leaflets 4 nm apart around ``radius`` (voxels)."""
    half = 2.0 * nm
    sigma = max(0.6, 0.9 * nm)
    return _gaussian_shell(distance, radius + half, sigma) + _gaussian_shell(
        distance, radius - half, sigma
    )


def _add_vesicles(
    density, inside, grid, z_limits, nm, rng, *, density_scale: float = 1.0
) -> list[tuple[np.ndarray, float]]:
    """Non-overlapping bilayer vesicles inside the slab; returns (centre, outer radius).

    ``inside`` accumulates a soft indicator of the vesicles (lumen and membrane);
    ``density_scale`` multiplies the expected number per area.
    """
    zz, yy, xx = grid
    n_z, n_y, n_x = density.shape
    z_low, z_high = z_limits
    slab_half = (z_high - z_low) / 2
    r_min = 8.0 * nm
    r_max = max(r_min, min(40.0 * nm, 0.3 * min(n_y, n_x), 1.2 * slab_half))
    lateral_area = (n_y / nm) * (n_x / nm)  # nm²
    wanted = _count(
        rng, density_scale * lateral_area / 3500.0, 2 if min(n_y, n_x) >= 64 * nm else 1
    )
    placed: list[tuple[np.ndarray, float]] = []
    for _ in range(30 * wanted):
        if len(placed) == wanted:
            break
        radius = float(rng.uniform(r_min, r_max))
        centre = np.array(
            [
                rng.uniform(z_low + 0.6 * radius, z_high - 0.6 * radius)
                if z_high - z_low > 1.2 * radius
                else (z_low + z_high) / 2,
                rng.uniform(-n_y / 2, n_y / 2),
                rng.uniform(-n_x / 2, n_x / 2),
            ],
            np.float32,
        )
        if any(np.linalg.norm(centre - c) < radius + r + 3 * nm for c, r in placed):
            continue
        distance = np.sqrt((zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2)
        density += _LEAFLET * _bilayer(distance, radius - 2.0 * nm, nm)
        inside += _logistic((radius + 1.5 * nm - distance) / max(0.5, 0.7 * nm))
        placed.append((centre, radius))
    return placed


def _add_large_membrane(density, grid, nm, rng) -> None:
    """A gently curved bilayer sheet crossing the volume (an organelle seen close up)."""
    if rng.uniform() < 0.2:
        return
    zz, yy, xx = grid
    size = max(density.shape)
    normal = _random_direction(rng, in_plane_bias=False)
    normal[0] *= 0.5  # membranes seen edge-on (normal roughly in-plane) are the common case
    normal /= np.linalg.norm(normal)
    radius = rng.uniform(2.0, 4.0) * size
    offset = rng.uniform(0.15, 0.4) * size * rng.choice([-1.0, 1.0])
    centre = (-normal * (radius + offset)).astype(np.float32)
    distance = np.sqrt((zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2)
    density += _LEAFLET * _bilayer(distance, radius, nm)


def _random_direction(rng: np.random.Generator, *, in_plane_bias: bool) -> np.ndarray:
    """A unit (z, y, x) vector; with ``in_plane_bias`` within ~15° of the XY plane."""
    if in_plane_bias:
        azimuth = rng.uniform(0, np.pi)
        elevation = np.clip(rng.normal(0.0, np.deg2rad(8.0)), -np.pi / 6, np.pi / 6)
        return np.array(
            [
                np.sin(elevation),
                np.cos(elevation) * np.sin(azimuth),
                np.cos(elevation) * np.cos(azimuth),
            ]
        )
    v = rng.standard_normal(3)
    return v / np.linalg.norm(v)


def _add_filaments(
    density,
    grid,
    z_limits,
    nm,
    rng,
    *,
    microtubule: bool,
    count: int | None = None,
    length: float | None = None,
) -> None:
    """Gently curved in-plane filaments crossing the volume.

    Microtubules: a wall at radius 10 nm (25 nm outer diameter) modulated by 13
    protofilaments. Actin-like filaments: solid rods of about 7 nm diameter. ``count``
    (default: drawn from the area) filaments; ``length`` (voxels, default endless) makes
    pieces with softly tapered ends, centred in the volume's middle third.
    """
    zz, yy, xx = grid
    n_z, n_y, n_x = density.shape
    z_low, z_high = z_limits
    lateral_area = (n_y / nm) * (n_x / nm)
    if count is not None:
        pass
    elif microtubule:
        count = _count(rng, lateral_area / 12000.0, 1 if min(n_y, n_x) >= 30 * nm else 0)
    else:
        count = _count(rng, lateral_area / 4000.0, 1)
    for _ in range(count):
        direction = _random_direction(rng, in_plane_bias=True)
        bend = np.cross(direction, rng.standard_normal(3))
        bend /= np.linalg.norm(bend)
        curvature = rng.uniform(0.0, 1.0 / (250.0 * nm))
        centre = np.array(
            [
                rng.uniform(z_low + 12 * nm, z_high - 12 * nm) if z_high - z_low > 24 * nm else 0.0,
                rng.uniform(-n_y / 3, n_y / 3),
                rng.uniform(-n_x / 3, n_x / 3),
            ]
        )
        twist = rng.uniform(0, 2 * np.pi)
        d, b, c = (tuple(float(a) for a in vector) for vector in (direction, bend, centre))
        rel = (zz - np.float32(c[0]), yy - np.float32(c[1]), xx - np.float32(c[2]))
        along = rel[0] * np.float32(d[0]) + rel[1] * np.float32(d[1]) + rel[2] * np.float32(d[2])
        sag = np.float32(0.5 * curvature) * along**2
        radial = [rel[i] - along * np.float32(d[i]) - sag * np.float32(b[i]) for i in range(3)]
        distance = np.sqrt(radial[0] ** 2 + radial[1] ** 2 + radial[2] ** 2)
        # Evaluate the profile only near the axis (beyond 4 sigma it is negligible).
        sigma = max(0.7, (2.0 if microtubule else 2.5) * nm)
        near = distance < (10.0 * nm if microtubule else 0.0) + 4 * sigma
        if length is not None:
            near &= np.abs(along) < length / 2 + 4 * sigma
        r = distance[near]
        if microtubule:
            other = np.cross(direction, bend)
            u = sum(radial[i][near] * np.float32(b[i]) for i in range(3))
            v = sum(radial[i][near] * np.float32(other[i]) for i in range(3))
            protofilaments = 1.0 + 0.35 * np.cos(13 * np.arctan2(v, u) + np.float32(twist))
            profile = _MICROTUBULE * _gaussian_shell(r, 10.0 * nm, sigma) * protofilaments
        else:
            profile = _ACTIN * np.exp(-0.5 * (r / sigma) ** 2)
        if length is not None:
            profile = profile * _logistic((length / 2 - np.abs(along[near])) / sigma)
        density[near] += profile


def _add_macromolecules(density, z_limits, vesicles, nm, rng, *, crowding: float = 1.0) -> None:
    """Crowded lumpy complexes (3–7 Gaussian-edged spheres, 10–25 nm across).

    ``crowding`` multiplies the expected number per volume (1: a crowded cytoplasm).
    """
    n_z, n_y, n_x = density.shape
    z_low, z_high = z_limits
    offset = np.array([(n - 1) / 2 for n in density.shape])
    slab_volume = (z_high - z_low) * n_y * n_x / nm**3  # nm³
    count = _count(rng, crowding * slab_volume / 20000.0, 3)
    for _ in range(count):
        extent = rng.uniform(10.0, 25.0) * nm  # complex diameter, voxels
        centre = np.array(
            [
                rng.uniform(z_low, z_high),
                rng.uniform(-n_y / 2, n_y / 2),
                rng.uniform(-n_x / 2, n_x / 2),
            ]
        )
        if (
            any(np.linalg.norm(centre - c) < r - 0.3 * extent for c, r in vesicles)
            and rng.uniform() < 0.8
        ):
            continue  # keep most complexes out of vesicle lumens
        amplitude = rng.uniform(*_MACROMOLECULE)
        n_lumps = int(rng.integers(3, 8))
        for _ in range(n_lumps):
            lump_radius = rng.uniform(0.22, 0.35) * extent
            position = centre + rng.normal(0.0, 0.2 * extent, 3)
            _add_soft_sphere(density, position + offset, lump_radius, max(0.6, 1.0 * nm), amplitude)


def _add_soft_sphere(density, centre, radius, edge, amplitude) -> None:
    """Merge (maximum) a sphere with a logistic edge into ``density``, in its bounding box."""
    reach = radius + 3 * edge
    lo = [max(0, int(np.floor(c - reach))) for c in centre]
    hi = [min(n, int(np.ceil(c + reach)) + 1) for c, n in zip(centre, density.shape, strict=True)]
    if any(h <= low for low, h in zip(lo, hi, strict=True)):
        return
    axes = [
        np.arange(low, h, dtype=np.float32) - c for low, h, c in zip(lo, hi, centre, strict=True)
    ]
    distance = np.sqrt(
        axes[0][:, None, None] ** 2 + axes[1][None, :, None] ** 2 + axes[2][None, None, :] ** 2
    )
    box = density[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    np.maximum(box, amplitude * _logistic((radius - distance) / edge), out=box)
