"""Rotations of volumes: uniform SO(3) samples, rotations about Z, the cube group, resampling.

Convention (docs/architecture.md): a matrix ``A`` acting on ``(z, y, x)`` coordinates turns
a volume ``v`` into ``v'(r) = v(A r)``, ``r`` measured from the volume centre, which is the
array centre ``(n - 1) / 2`` on each axis (a flip reverses the index order). The Fourier
transform obeys ``V'(k) = V(A k)``, so a wedge mask becomes ``M(A k)``
(:meth:`tomorestore.physics.MissingWedge.mask` with ``rotation=A``).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias

from ..errors import InputError


@functools.lru_cache(maxsize=1)
def _cube_rotations_numpy() -> np.ndarray:
    """The 24 signed permutation matrices with determinant +1, identity first."""
    mats = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            m = np.zeros((3, 3), dtype=np.int64)
            for row, (col, sign) in enumerate(zip(perm, signs, strict=True)):
                m[row, col] = sign
            if round(np.linalg.det(m)) == 1:
                mats.append(m)
    out = np.stack(mats)
    out.setflags(write=False)
    return out


def cube_rotations(*, device: torch.device | str | None = None) -> torch.Tensor:
    """The 24 proper rotations of the cube as float32 matrices, in a fixed order.

    Index 0 is the identity. Every matrix is a signed permutation (entries 0, ±1) with
    determinant +1, acting on ``(z, y, x)`` coordinates.

    Parameters
    ----------
    device : torch.device or str, optional
        Where to create the tensor (default CPU).

    Returns
    -------
    torch.Tensor
        ``(24, 3, 3)`` float32.
    """
    return torch.tensor(_cube_rotations_numpy(), dtype=torch.float32, device=device)


def _draw_device(
    n: int, generator: torch.Generator | None, device: torch.device | str | None
) -> torch.device | str | None:
    """Check a number of rotations to draw; the device to draw them on."""
    if int(n) != n or n < 0:
        raise InputError(f"n must be a non-negative integer, got {n!r}.")
    return generator.device if generator is not None else device


def random_rotations(
    n: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Rotation matrices drawn uniformly (Haar measure) from SO(3).

    Unit quaternions from normalised 4D Gaussians are uniform on S³, hence their rotations
    are uniform on SO(3).

    Parameters
    ----------
    n : int
        Number of rotations (≥ 0).
    generator : torch.Generator, optional
        Source of randomness (drawn on the generator's device).
    device : torch.device or str, optional
        Where to put the result (default: the generator's device, else CPU).

    Returns
    -------
    torch.Tensor
        ``(n, 3, 3)`` float32 orthogonal matrices with determinant +1.
    """
    draw_device = _draw_device(n, generator, device)
    q = torch.randn(int(n), 4, generator=generator, device=draw_device, dtype=torch.float64)
    q = q / q.norm(dim=1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(1)
    mats = torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=1,
    ).reshape(int(n), 3, 3)  # fmt: skip
    target = device if device is not None else draw_device
    return mats.to(device=target, dtype=torch.float32)


def random_z_rotations(
    n: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Rotations about Z (the tomogram's normal) by angles drawn uniformly in [0, 2π).

    They keep the plane of a lamella (XY) and its Z profile in place; on the rfft grid
    they carry the missing wedge's frequencies ``(k_z, k_y, k_x)`` to ones measured
    elsewhere in the XY plane, all except a cone about the ``k_z`` axis.

    Parameters
    ----------
    n, generator, device
        As in :func:`random_rotations`.

    Returns
    -------
    torch.Tensor
        ``(n, 3, 3)`` float32 rotation matrices acting on ``(z, y, x)`` with first row
        and column ``(1, 0, 0)``.
    """
    draw_device = _draw_device(n, generator, device)
    angle = torch.rand(int(n), generator=generator, device=draw_device, dtype=torch.float64)
    angle = angle * (2 * math.pi)
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(c), torch.zeros_like(c)
    mats = torch.stack([one, zero, zero, zero, c, -s, zero, s, c], dim=1).reshape(int(n), 3, 3)
    target = device if device is not None else draw_device
    return mats.to(device=target, dtype=torch.float32)


def rotate_cube(x: torch.Tensor, index: int) -> torch.Tensor:
    """Rotate volumes exactly by ``cube_rotations()[index]`` (a permute and flips).

    Acts on the last three dims ``(Z, Y, X)`` with ``v'(r) = v(A r)`` about the array
    centre. Then ``|F v'|(k) = |F v|(A k)`` on the DFT grid (magnitudes: a flip of an
    even-sized axis adds a half-voxel phase ramp), so a wedge-filtered volume stays inside
    the rotated mask ``M(A k)``. Axes that trade places must have equal sizes for the
    shape to be kept; otherwise the result has the permuted shape.

    Parameters
    ----------
    x : torch.Tensor
        ``(..., Z, Y, X)``.
    index : int
        0 ≤ index < 24.

    Returns
    -------
    torch.Tensor
        The rotated volumes (a new tensor).
    """
    if not 0 <= int(index) < 24 or int(index) != index:
        raise InputError(f"index must be an integer in [0, 24), got {index!r}.")
    if x.ndim < 3:
        raise InputError(f"rotate_cube needs (..., Z, Y, X), got shape {tuple(x.shape)}.")
    a = _cube_rotations_numpy()[int(index)]
    # (A r)_i = s_i r_{p(i)}: input axis i is read along output axis p(i).
    perm = [int(np.flatnonzero(a[i])[0]) for i in range(3)]
    signs = [int(a[i, perm[i]]) for i in range(3)]
    lead = x.ndim - 3
    inverse = [0, 0, 0]
    for i, j in enumerate(perm):
        inverse[j] = i
    out = x.permute(*range(lead), *(lead + inverse[j] for j in range(3)))
    flips = [lead + perm[i] for i in range(3) if signs[i] < 0]
    return out.flip(flips) if flips else out.clone()


def rotate_volumes(
    x: torch.Tensor,
    rotations: torch.Tensor | np.ndarray,
    *,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
) -> torch.Tensor:
    """Resample a batch of volumes, ``v'(r) = v(A r)`` about each volume's centre.

    Uses :func:`torch.nn.functional.affine_grid` / ``grid_sample`` (``align_corners=False``)
    on the tensor's own device; ``r`` is in voxels on every axis, so non-cubic volumes are
    rotated without distortion.

    Parameters
    ----------
    x : torch.Tensor
        ``(N, C, Z, Y, X)`` volumes.
    rotations : array-like
        ``(N, 3, 3)`` matrices acting on ``(z, y, x)``, or one ``(3, 3)`` for all.
    mode : {"bilinear", "nearest"}
        Interpolation ("bilinear" is trilinear on volumes).
    padding_mode : {"zeros", "border", "reflection"}
        Value of samples outside the volume.

    Returns
    -------
    torch.Tensor
        ``(N, C, Z, Y, X)``, same dtype and device.
    """
    if x.ndim != 5:
        raise InputError(f"rotate_volumes needs (N, C, Z, Y, X), got shape {tuple(x.shape)}.")
    work = x if x.dtype in (torch.float32, torch.float64) else x.to(torch.float32)
    rot = torch.as_tensor(rotations).to(device=x.device, dtype=torch.float64)
    if rot.ndim == 2:
        rot = rot.expand(x.shape[0], 3, 3)
    if rot.shape != (x.shape[0], 3, 3):
        raise InputError(
            f"rotations must be (3, 3) or ({x.shape[0]}, 3, 3) for a batch of {x.shape[0]}, "
            f"got {tuple(rot.shape)}."
        )
    half = torch.tensor([s / 2 for s in x.shape[2:]], dtype=torch.float64, device=x.device)
    # normalised coordinates g = r / half; g_in = S^-1 A S g_out, then (z,y,x) -> (x,y,z)
    scaled = rot * half.reshape(1, 1, 3) / half.reshape(1, 3, 1)
    theta3 = scaled.flip(-1).flip(-2)
    theta = torch.cat([theta3, torch.zeros_like(theta3[..., :1])], dim=-1).to(work.dtype)
    grid = F.affine_grid(theta, list(work.shape), align_corners=False)
    out = F.grid_sample(work, grid, mode=mode, padding_mode=padding_mode, align_corners=False)
    return out.to(x.dtype)


def rotation_crop_size(patch: int) -> int:
    """Size to cut before rotating so that the central ``patch`` cube keeps no empty corners.

    ``ceil(patch · √2)``: exact for rotations about one coordinate axis (and for the cube
    group); a general SO(3) rotation can bring the corners up to ``patch · √3 / 2`` from
    the centre, so a few corner voxels may sample padding.
    """
    if int(patch) != patch or patch < 1:
        raise InputError(f"patch must be a positive integer, got {patch!r}.")
    return math.ceil(int(patch) * math.sqrt(2) - 1e-9)


def center_crop(x: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """The central ``size`` region of the last three dims (start ``(n - size) // 2``).

    Parameters
    ----------
    x : torch.Tensor
        ``(..., Z, Y, X)``.
    size : int or sequence of 3 ints
        Output size of the last three dims, at most the input size.

    Returns
    -------
    torch.Tensor
        A view of ``x``.
    """
    sizes = (int(size),) * 3 if np.isscalar(size) else tuple(int(s) for s in size)
    if len(sizes) != 3 or x.ndim < 3:
        raise InputError(f"center_crop needs (..., Z, Y, X) and 3 sizes, got {size!r}.")
    shape = x.shape[-3:]
    if any(s < 1 or s > n for s, n in zip(sizes, shape, strict=True)):
        raise InputError(
            f"Crop size {sizes} does not fit in {tuple(shape)}; use sizes between 1 and the "
            "volume size."
        )
    starts = [(n - s) // 2 for s, n in zip(sizes, shape, strict=True)]
    return x[..., starts[0] : starts[0] + sizes[0], starts[1] : starts[1] + sizes[1],
             starts[2] : starts[2] + sizes[2]]  # fmt: skip
