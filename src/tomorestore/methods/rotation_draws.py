"""Random rotations of training batches, with the matrices needed for rotated wedge masks."""

from __future__ import annotations

import math

import torch

from ..physics import (
    center_crop,
    cube_rotations,
    random_rotations,
    random_z_rotations,
    rotate_cube,
    rotate_volumes,
)

#: Random rotation groups drawn with interpolation (crops cut √2 larger), by name.
RESAMPLED_ROTATIONS = {"so3": random_rotations, "z": random_z_rotations}


def patch_from_crop(crop: int) -> int:
    """The patch size ``p`` whose rotation crop ``ceil(p·√2)`` is ``crop``."""
    return math.floor(crop / math.sqrt(2) + 1e-9)


def whole_volume_tile(crop: int, *, so3: bool = False) -> int:
    """The tile a method runs its network with over a whole volume during training
    (dewedge's refill, ei's denoised pair): the patch the network trains on (inside the
    rotation crop for so3 rotations), clipped to 16 … 64."""
    return max(16, min(64, patch_from_crop(crop) if so3 else crop))


def draw_cube_indices(
    n: int, *, generator: torch.Generator | None, choices: list[int] | None = None
) -> list[int]:
    """``n`` random indices into :func:`tomorestore.physics.cube_rotations` (or ``choices``)."""
    pool = list(range(24)) if choices is None else list(choices)
    device = generator.device if generator is not None else torch.device("cpu")
    picks = torch.randint(len(pool), (n,), generator=generator, device=device).tolist()
    return [pool[i] for i in picks]


def rotate_by_cube(x: torch.Tensor, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate each sample of ``x`` ``(B, C, Z, Y, X)`` exactly by a cube rotation.

    Returns
    -------
    rotated : torch.Tensor
        ``(B, C, Z, Y, X)`` (cubic crops keep their shape).
    matrices : torch.Tensor
        ``(B, 3, 3)`` float32 matrices ``A`` (``v'(r) = v(A r)``) on ``x.device``.
    """
    rotated = torch.stack([rotate_cube(sample, i) for sample, i in zip(x, indices, strict=True)])
    return rotated, cube_rotations(device=x.device)[indices]


def rotate_randomly(
    x: torch.Tensor, patch: int, *, generator: torch.Generator | None, group: str = "so3"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate crops ``(B, C, c, c, c)`` by random rotations of ``group``, keep the central
    ``patch`` (trilinear resampling).

    ``group``: ``"so3"`` (any rotation) or ``"z"`` (about Z only,
    :func:`~tomorestore.physics.random_z_rotations`).

    Returns
    -------
    rotated : torch.Tensor
        ``(B, C, patch, patch, patch)`` float32 (trilinear resampling).
    matrices : torch.Tensor
        ``(B, 3, 3)`` float32 on ``x.device``.
    """
    matrices = RESAMPLED_ROTATIONS[group](x.shape[0], generator=generator, device=x.device)
    rotated = rotate_volumes(x.float(), matrices)
    return center_crop(rotated, patch), matrices
