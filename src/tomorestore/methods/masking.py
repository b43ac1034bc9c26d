"""Stratified 3D blind-spot masking (Noise2Void, N2V2, StructN2V).

A blind spot is a voxel whose value is hidden from the network and replaced by another
value; the network is trained to predict the original value there from its surroundings.
Because back-projection noise is correlated along Z, the neighbours of a blind spot along
Z (and optionally X) are blanked too (the *struct mask*), otherwise the network reads the
hidden noise from them.

All functions take patches ``(B, Z, Y, X)`` on any device. Random numbers are drawn from a
:class:`torch.Generator` on the generator's own device and then moved to the patches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..errors import InputError
from .params import N2VParams


def cell_edge(mask_percent: float) -> float:
    """Edge (voxels) of the cubic cell holding one blind spot: ``(100 / p) ** (1/3)``.

    Parameters
    ----------
    mask_percent : float
        Percentage ``p`` of voxels that are blind spots.

    Returns
    -------
    float
        The cell edge; one blind spot per cell gives ``p`` percent of the voxels.
    """
    if not mask_percent > 0:
        raise InputError(f"mask_percent must be positive, got {mask_percent}.")
    return (100.0 / mask_percent) ** (1.0 / 3.0)


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, device) -> torch.Tensor:
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return torch.rand(shape, generator=generator, device=gen_device).to(device)


def _randint(
    high: int, shape: tuple[int, ...], generator: torch.Generator | None, device
) -> torch.Tensor:
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return torch.randint(high, shape, generator=generator, device=gen_device).to(device)


def stratified_coordinates(
    batch: int,
    size: tuple[int, int, int],
    mask_percent: float,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Blind-spot coordinates, one uniformly random voxel per cubic cell of each patch.

    The patch is cut into cells of edge ``(100 / p) ** (1/3)`` voxels (rounded to voxel
    boundaries) and one voxel is drawn uniformly in each cell (a cell cut by the border
    keeps its voxel with the probability of its cut volume), so blind spots are spread
    evenly and number about ``p`` % of the voxels.

    Parameters
    ----------
    batch : int
        Number of patches.
    size : tuple of int
        ``(Z, Y, X)`` size of a patch.
    mask_percent : float
        Percentage of voxels to select; the cell edge is ``(100 / p) ** (1/3)``.
    generator : torch.Generator, optional
        Source of randomness.
    device : torch.device or str
        Device of the result.

    Returns
    -------
    torch.Tensor
        ``(N, 4)`` int64 rows ``(b, z, y, x)``.
    """
    edge = cell_edge(mask_percent)
    # integer cells: cell i of an axis spans the voxels [floor(i·edge), floor((i+1)·edge))
    # the last cell of an axis, cut by the border, keeps its voxel with probability
    # (its size / edge), so the expected count stays p % of the voxels
    axes = []
    for n in size:
        raw = torch.floor(torch.arange(math.ceil(n / edge) + 1, dtype=torch.float64) * edge)
        bounds = raw.clamp(max=n).long().unique()
        keep = torch.ones(bounds.numel() - 1, dtype=torch.float64)
        if raw[-1] > n:
            keep[-1] = (n - bounds[-2]).double() / edge
        axes.append((bounds[:-1], bounds[1:] - bounds[:-1], keep))
    lows, spans, keeps = (
        torch.stack(torch.meshgrid(*[a[i] for a in axes], indexing="ij"), -1).reshape(-1, 3)
        for i in range(3)
    )
    n_cells = lows.shape[0]
    draws = _uniform((batch, n_cells, 4), generator, "cpu").double()
    coords = lows + torch.floor(draws[..., :3] * spans).long().minimum(spans - 1)
    kept = draws[..., 3] < keeps.prod(dim=-1)
    b_index = torch.arange(batch).reshape(batch, 1, 1).expand(batch, n_cells, 1)
    rows = torch.cat([b_index, coords], dim=-1)[kept]
    return rows.to(device)


def _offset_values(radius: int) -> torch.Tensor:
    """The offsets ``-radius..-1, 1..radius`` (0 excluded)."""
    return torch.cat([torch.arange(-radius, 0), torch.arange(1, radius + 1)])


def _shift_inside(centre: torch.Tensor, offset: torch.Tensor, size: int) -> torch.Tensor:
    """``centre + offset``, or ``centre - offset`` where that leaves the patch.

    With ``|offset| <= radius`` and ``size >= 2 * radius + 1`` the result is always inside
    the patch and never equal to the centre.
    """
    shifted = centre + offset
    outside = (shifted < 0) | (shifted >= size)
    return torch.where(outside, centre - offset, shifted)


def neighbour_coordinates(
    coords: torch.Tensor, size: tuple[int, int, int], offsets: torch.Tensor
) -> torch.Tensor:
    """Coordinates of neighbours of blind spots, kept inside the patch.

    Parameters
    ----------
    coords : torch.Tensor
        ``(N, 4)`` rows ``(b, z, y, x)``.
    size : tuple of int
        Patch size ``(Z, Y, X)``.
    offsets : torch.Tensor
        ``(N, K, 3)`` or ``(K, 3)`` offsets with no zero component.

    Returns
    -------
    torch.Tensor
        ``(N, K, 4)`` neighbour coordinates. An offset that would leave the patch is
        mirrored (``-offset``), so a neighbour never shares a row, column or plane with its
        blind spot.
    """
    if offsets.ndim == 2:
        offsets = offsets.unsqueeze(0).expand(coords.shape[0], -1, -1)
    centre = coords[:, None, 1:]
    parts = [_shift_inside(centre[..., d], offsets[..., d], size[d]) for d in range(3)]
    batch = coords[:, None, 0].expand(-1, offsets.shape[1])
    return torch.stack([batch, *parts], dim=-1)


def _linear_index(coords: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Flat indices of ``(..., 4)`` coordinates ``(b, z, y, x)`` in ``(B, *size)`` patches."""
    nz, ny, nx = size
    return ((coords[..., 0] * nz + coords[..., 1]) * ny + coords[..., 2]) * nx + coords[..., 3]


def _gather(patches: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    return torch.take(patches, _linear_index(coords, tuple(patches.shape[-3:])))


def replacement_values(
    patches: torch.Tensor,
    coords: torch.Tensor,
    *,
    neighbourhood: int = 11,
    mode: str = "random",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Values that replace the blind spots.

    Parameters
    ----------
    patches : torch.Tensor
        ``(B, Z, Y, X)`` original patches.
    coords : torch.Tensor
        ``(N, 4)`` blind spots ``(b, z, y, x)``.
    neighbourhood : int
        Odd edge of the cube around each blind spot that the values come from.
    mode : {"random", "median"}
        ``"random"``: one random voxel of the neighbourhood sharing no row, column or plane
        with the blind spot (Noise2Void). ``"median"``: the median of all such voxels
        (N2V2).
    generator : torch.Generator, optional
        Source of randomness (``"random"`` only).

    Returns
    -------
    torch.Tensor
        ``(N,)`` replacement values.
    """
    size = tuple(patches.shape[-3:])
    radius = neighbourhood // 2
    if neighbourhood % 2 == 0 or radius < 1:
        raise InputError(f"neighbourhood must be odd and >= 3, got {neighbourhood}.")
    if min(size) < neighbourhood:
        raise InputError(
            f"Patches of size {size} are smaller than the blind-spot neighbourhood "
            f"{neighbourhood}; use a larger patch size or a smaller neighbourhood."
        )
    values = _offset_values(radius).to(patches.device)
    if mode == "random":
        pick = _randint(values.numel(), (coords.shape[0], 1, 3), generator, patches.device)
        neighbours = neighbour_coordinates(coords, size, values[pick])
        return _gather(patches, neighbours)[:, 0]
    if mode == "median":
        grid = torch.stack(torch.meshgrid(values, values, values, indexing="ij"), dim=-1)
        neighbours = neighbour_coordinates(coords, size, grid.reshape(-1, 3))
        return _gather(patches, neighbours).median(dim=1).values
    raise InputError(f"Unknown replacement mode {mode!r}; use 'random' or 'median'.")


def struct_coordinates(
    coords: torch.Tensor,
    size: tuple[int, int, int],
    *,
    struct_z: int = 2,
    struct_x: int = 0,
    shape: str = "cross",
) -> torch.Tensor:
    """Voxels of the struct mask around each blind spot (in its XZ plane).

    Parameters
    ----------
    coords : torch.Tensor
        ``(N, 4)`` blind spots ``(b, z, y, x)``.
    size : tuple of int
        Patch size ``(Z, Y, X)``.
    struct_z, struct_x : int
        Half lengths of the struct mask along Z and X (the blind spot itself excluded).
    shape : {"cross", "plane"}
        ``"cross"``: ``±struct_z`` along Z and ``±struct_x`` along X; ``"plane"``: the whole
        ``(2·struct_z + 1) × (2·struct_x + 1)`` rectangle of the XZ plane (back-projection
        noise is also correlated diagonally, along the tilt directions).

    Returns
    -------
    torch.Tensor
        ``(M, 4)`` coordinates inside the patch.
    """
    if shape == "plane":
        offsets = [
            (dz, dx)
            for dz in range(-struct_z, struct_z + 1)
            for dx in range(-struct_x, struct_x + 1)
            if (dz, dx) != (0, 0)
        ]
    elif shape == "cross":
        offsets = [(dz, 0) for dz in range(-struct_z, struct_z + 1) if dz]
        offsets += [(0, dx) for dx in range(-struct_x, struct_x + 1) if dx]
    elif shape == "auto":
        raise InputError(
            "struct_shape 'auto' takes its offsets from the data: pass them as struct_offsets "
            "(tomorestore.methods.noise_correlation.correlated_offsets)"
        )
    else:
        raise InputError(f"unknown struct mask shape {shape!r}; use 'cross' or 'plane'")
    return offset_coordinates(coords, size, [(dz, 0, dx) for dz, dx in offsets])


def offset_coordinates(
    coords: torch.Tensor, size: tuple[int, int, int], offsets: Sequence[tuple[int, int, int]]
) -> torch.Tensor:
    """The voxels at ``offsets`` ``(dz, dy, dx)`` from each blind spot, inside the patch.

    Parameters
    ----------
    coords : torch.Tensor
        ``(N, 4)`` blind spots ``(b, z, y, x)``.
    size : tuple of int
        Patch size ``(Z, Y, X)``.
    offsets : sequence of (int, int, int)
        Offsets from a blind spot (not the zero offset).

    Returns
    -------
    torch.Tensor
        ``(M, 4)`` coordinates; those outside the patch are dropped.
    """
    if not offsets:
        return coords.new_zeros((0, 4))
    steps = torch.tensor([(0, *offset) for offset in offsets], device=coords.device)
    shifted = (coords[:, None, :] + steps[None]).reshape(-1, 4)
    limits = torch.tensor(size, device=coords.device)
    inside = ((shifted[:, 1:] >= 0) & (shifted[:, 1:] < limits)).all(dim=1)
    return shifted[inside]


def blind_spot_inputs(
    patches: torch.Tensor,
    params: N2VParams,
    *,
    generator: torch.Generator | None = None,
    struct_offsets: Sequence[tuple[int, int, int]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask a batch of patches for blind-spot training.

    Parameters
    ----------
    patches : torch.Tensor
        ``(B, Z, Y, X)`` float patches.
    params : N2VParams
        Masking percentage, neighbourhood, replacement rule and struct mask.
    generator : torch.Generator, optional
        Source of randomness.
    struct_offsets : sequence of (int, int, int), optional
        The struct mask as offsets ``(dz, dy, dx)`` from a blind spot (e.g. measured with
        :func:`~tomorestore.methods.noise_correlation.correlated_offsets`); replaces the
        one ``params`` describes (``struct_z``, ``struct_x``, ``struct_shape``).

    Returns
    -------
    inputs : torch.Tensor
        ``(B, Z, Y, X)`` copy of ``patches`` with blind spots replaced and struct-mask
        voxels set to random voxels of the same patch.
    coords : torch.Tensor
        ``(N, 4)`` blind spots ``(b, z, y, x)``: the loss is computed there only.
    """
    size = tuple(patches.shape[-3:])
    coords = stratified_coordinates(
        patches.shape[0], size, params.mask_percent, generator=generator, device=patches.device
    )
    replacement = replacement_values(
        patches,
        coords,
        neighbourhood=params.neighbourhood,
        mode=params.replacement,
        generator=generator,
    )
    inputs = patches.clone(memory_format=torch.contiguous_format)
    if struct_offsets is not None:
        blanked = offset_coordinates(coords, size, struct_offsets)
    else:
        blanked = struct_coordinates(
            coords, size, struct_z=params.struct_z, struct_x=params.struct_x,
            shape=params.struct_shape,
        )  # fmt: skip
    if blanked.shape[0]:
        # neighbouring blind spots share struct voxels: writing to a voxel twice in one
        # index_put is nondeterministic on CPU threads, so each voxel is blanked once
        targets = torch.unique(_linear_index(blanked, size))
        volume = math.prod(size)
        flat = _randint(volume, (targets.numel(),), generator, patches.device)
        donors = patches.reshape(patches.shape[0], -1)[targets // volume, flat]
        inputs.view(-1)[targets] = donors
    inputs[coords[:, 0], coords[:, 1], coords[:, 2], coords[:, 3]] = replacement
    return inputs, coords


def blind_spot_loss(
    prediction: torch.Tensor, target: torch.Tensor, coords: torch.Tensor
) -> torch.Tensor:
    """Mean squared error at the blind spots only (computed in float32).

    Parameters
    ----------
    prediction, target : torch.Tensor
        ``(B, Z, Y, X)`` network output and original patches.
    coords : torch.Tensor
        ``(N, 4)`` blind spots.

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    index = (coords[:, 0], coords[:, 1], coords[:, 2], coords[:, 3])
    diff = prediction[index].float() - target[index].float()
    return diff.square().mean()
