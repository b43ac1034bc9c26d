"""A sparse sample: isolated objects in vitreous ice, with no lamella slab.

Where :func:`tomorestore.simulate.phantom.make_phantom` draws a dense cellular lamella
(cytoplasm between vacuum, so half of its variance is a Z profile that no tilt measures),
:func:`make_sparse_phantom` draws what a single-particle-like or purified sample looks
like: vitreous ice of constant density filling the whole volume in Z (no vacuum, no
slab edges, so the mean over each Z plane is nearly constant) with, sparsely placed in
it at any depth,

- a few **vesicles** (bilayer shells) with room around them,
- a few **microtubule pieces** (finite, 25 nm tubes of 13 protofilaments, ends tapered),
- scattered **macromolecules** (lumpy complexes 10–25 nm across), about a tenth of the
  lamella's crowding,
- a very faint fine-grained ice texture.

Sizes are physical (nm) and counts scale with the volume, as in the lamella phantom; the
map is smoothed with the same 0.7-voxel Gaussian.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .phantom import (
    _BACKGROUND,
    _SMOOTHING_VOXELS,
    _add_filaments,
    _add_macromolecules,
    _add_vesicles,
    _centred_grid,
    _count,
)

__all__ = ["make_sparse_phantom"]

_ICE_TEXTURE = 0.01


def make_sparse_phantom(
    shape: tuple[int, int, int],
    *,
    voxel_size: float = 10.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Draw isolated objects in vitreous ice (no lamella slab, no vacuum).

    Parameters
    ----------
    shape : tuple of int
        ``(Z, Y, X)`` size in voxels.
    voxel_size : float
        Isotropic voxel size in Å.
    rng : numpy.random.Generator, optional
        Source of randomness (``np.random.default_rng(0)`` when omitted).

    Returns
    -------
    numpy.ndarray
        float32 ``(Z, Y, X)`` density, ``>= 0`` and roughly in ``[0, 1]``; ice is
        ``0.2`` everywhere outside the objects.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    shape = tuple(int(n) for n in shape)
    nm = 10.0 / float(voxel_size)
    grid = _centred_grid(shape)
    n_z = shape[0]
    # Objects anywhere in depth (cut by the top and bottom faces, as ice is thicker).
    half = (n_z - 1) / 2
    z_limits = (-half, half)

    density = np.zeros(shape, np.float32)
    inside = np.zeros(shape, np.float32)
    vesicles = _add_vesicles(density, inside, grid, z_limits, nm, rng, density_scale=0.5)
    fibres = np.zeros(shape, np.float32)
    n_tubes = _count(rng, (shape[1] / nm) * (shape[2] / nm) / 20000.0, 1)
    for _ in range(n_tubes):
        length = float(rng.uniform(60.0, 150.0)) * nm
        _add_filaments(fibres, grid, z_limits, nm, rng, microtubule=True, length=length)
    density += fibres * (1.0 - np.minimum(inside, 1.0))
    _add_macromolecules(density, z_limits, vesicles, nm, rng, crowding=0.1)

    texture = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), 1.0 * nm)
    texture *= _ICE_TEXTURE / max(float(texture.std()), 1e-12)
    np.clip(density, 0.0, 1.0 - _BACKGROUND, out=density)
    density += _BACKGROUND + texture
    np.clip(density, 0.0, 1.0, out=density)
    return ndimage.gaussian_filter(density, _SMOOTHING_VOXELS).astype(np.float32)
