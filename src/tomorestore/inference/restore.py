"""Restore a whole volume with a trained network (tiled, no gradients).

:func:`restore_volume` is the one prediction path: whole-tomogram restoration, the training
preview, the even/odd disagreement map and dewedge's wedge refill all call it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..models.blocks import has_tile_statistics
from ..models.performance import autocast_context, prepare_for_speed, to_channels_last_3d
from .tiled import predict_tiled
from .tiling import BORDER_MARGIN_FRACTION, DEFAULT_OVERLAP


def restore_volume(
    model: nn.Module,
    volume: Any,
    *,
    device: torch.device | str | None = None,
    fast: bool = False,
    input_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    tile: int | Sequence[int] = 64,
    overlap: float = DEFAULT_OVERLAP,
    blend: str = "gaussian",
    batch_size: int = 1,
    stitch_device: torch.device | str = "cpu",
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    min_size: int | Sequence[int] | None = None,
    out: Any = None,
) -> np.ndarray:
    """Apply ``model`` to a (Z, Y, X) volume tile by tile (see :func:`predict_tiled`).

    A model with per-tile statistics (instance or group norm) gets border margins of at
    least :data:`~tomorestore.inference.tiling.BORDER_MARGIN_FRACTION` of a tile.

    Parameters
    ----------
    model : torch.nn.Module
        Maps (B, 1, Z, Y, X) to the same shape. Put in eval mode for the call (its training
        flag is restored afterwards); moved to ``device`` in place.
    volume : array-like (Z, Y, X)
        Array or memmap, already normalised as the model expects.
    device : torch.device or str, optional
        Where the network runs; default: where its parameters are.
    fast : bool
        bf16 autocast and the ``channels_last_3d`` memory format (several times faster
        on CPUs with bf16 support and on GPUs; output stays float32).
    input_transform : callable, optional
        Applied to each batch of tiles before the network (e.g. a wedge filter).
    tile, overlap, blend, batch_size, stitch_device, progress, should_stop, out
        As in :func:`predict_tiled` (``out``: a zero-filled float32 array, e.g. a
        memory-mapped file, that receives the result).
    min_size : int or (int, int, int), optional
        As in :func:`predict_tiled`; default: the model's ``min_input_shape``, else twice
        its ``divisor`` (if it has one). Tile edges are rounded to multiples of the
        ``divisor``.

    Returns
    -------
    numpy.ndarray
        float32 (Z, Y, X) (``out`` itself when given).
    """
    if device is None:
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
    device = torch.device(device)
    prepare_for_speed(model, device, channels_last=fast)
    divisor = int(getattr(model, "divisor", 1))
    if min_size is None and hasattr(model, "divisor"):
        min_size = getattr(model, "min_input_shape", 2 * divisor)

    def predict(x: torch.Tensor) -> torch.Tensor:
        if input_transform is not None:
            x = input_transform(x)
        if fast:
            x = to_channels_last_3d(x)
        with autocast_context(device, fast):
            y = model(x)
        return y.float()

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return predict_tiled(
                volume,
                predict,
                tile=tile,
                overlap=overlap,
                blend=blend,
                batch_size=batch_size,
                compute_device=device,
                stitch_device=stitch_device,
                progress=progress,
                should_stop=should_stop,
                min_size=min_size,
                out=out,
                multiple=divisor,
                border_margin=BORDER_MARGIN_FRACTION if has_tile_statistics(model) else 0.0,
            )
    finally:
        model.train(was_training)
