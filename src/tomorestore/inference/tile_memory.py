"""The restore tile edge on a GPU, chosen from its free memory.

Tiled inference keeps a handful of full-resolution activations of the network's first
level alive at once; their size sets the memory a tile needs. Measured on the CPU with the
3-level U-Net, 32 base channels, in inference mode (peak RSS over the model, tiles 48³ and
80³): 30-40 bytes per voxel and base channel in float32, 12 in bf16 autocast with
``channels_last_3d``. The estimate below takes 48 and 24 (the CUDA caching allocator
fragments, cuDNN takes workspaces) and gives a tile at most half the free memory; the
out-of-memory retry of :func:`~tomorestore.inference.predict_tiled` remains the safety
net. On other devices the preferred tile is kept.
"""

from __future__ import annotations

from typing import Any

#: Bytes per voxel of a padded tile and per base channel of the network: float32, fast.
BYTES_PER_VOXEL_CHANNEL = {False: 48, True: 24}
#: Share of the free device memory a batch of tiles may take.
MEMORY_FRACTION = 0.5


def tile_memory_bytes(
    tile: int, *, base_channels: int, divisor: int, batch_size: int = 1, fast: bool = True
) -> int:
    """Estimated device memory for one forward pass over a batch of ``tile``³ tiles.

    Parameters
    ----------
    tile : int
        Tile edge in voxels (padded up to a multiple of ``divisor``, as the U-Net does).
    base_channels : int
        Channels of the network's first level.
    divisor : int
        The network's size divisor (``2 ** depth``).
    batch_size : int
        Tiles per forward pass.
    fast : bool
        bf16 autocast and ``channels_last_3d`` (about half the memory of float32).

    Returns
    -------
    int
        Bytes.

    Examples
    --------
    >>> tile_memory_bytes(128, base_channels=32, divisor=8) / 2**30
    1.5
    """
    padded = -(-int(tile) // int(divisor)) * int(divisor)
    per_voxel = BYTES_PER_VOXEL_CHANNEL[bool(fast)] * int(base_channels)
    return int(batch_size) * padded**3 * per_voxel


def fit_tile(
    preferred: int,
    free_bytes: int,
    *,
    base_channels: int,
    divisor: int,
    batch_size: int = 1,
    fast: bool = True,
    fraction: float = MEMORY_FRACTION,
) -> int:
    """The largest tile edge up to ``preferred`` whose estimate fits ``free_bytes``.

    The edge is a multiple of ``divisor`` and never below ``2 * divisor`` (the smallest
    tile the network takes; if even that does not fit, the out-of-memory retry reports
    it).

    Examples
    --------
    >>> fit_tile(128, 80 * 2**30, base_channels=32, divisor=8)
    128
    >>> fit_tile(128, 3 * 2**30 // 2, base_channels=32, divisor=8)
    96
    """
    budget = float(free_bytes) * float(fraction)
    edge = max(int(preferred) // int(divisor) * int(divisor), 2 * int(divisor))
    while edge > 2 * divisor and (
        tile_memory_bytes(
            edge, base_channels=base_channels, divisor=divisor, batch_size=batch_size, fast=fast
        )
        > budget
    ):
        edge -= divisor
    return edge


def free_memory_bytes(device: Any) -> int | None:
    """Memory a new tile can take on a CUDA ``device``: free on the card plus what torch's
    caching allocator holds unused; None on other devices."""
    import torch

    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    free, _total = torch.cuda.mem_get_info(device)
    cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return int(free) + max(int(cached), 0)


def automatic_tile(
    preferred: int,
    device: Any,
    *,
    base_channels: int,
    divisor: int,
    batch_size: int = 1,
    fast: bool = True,
) -> int:
    """``preferred`` lowered to fit the free memory of a CUDA ``device`` (else unchanged).

    Parameters
    ----------
    preferred : int
        The tile edge to use when memory allows (the default for the device type).
    device : torch.device or str
        Where the network runs.
    base_channels, divisor, batch_size, fast
        As in :func:`tile_memory_bytes`.

    Returns
    -------
    int
        The tile edge.
    """
    free = free_memory_bytes(device)
    if free is None:
        return int(preferred)
    return fit_tile(
        preferred,
        free,
        base_channels=base_channels,
        divisor=divisor,
        batch_size=batch_size,
        fast=fast,
    )
