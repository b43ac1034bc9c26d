"""Restoring tomograms with a trained network: in memory, or straight into a file.

:func:`plan_restore` checks the inputs once and settles everything a restoration needs
(normalisation, the method with its wedge, the tilt-axis frame, device, tile);
:func:`restore_in_memory` returns arrays (the API, napari), :func:`restore_into_file`
accumulates the restoration in the data block of the output MRC file (memory-mapped) and
the second half, if any, in a hidden scratch file beside it, then combines the halves and
undoes the normalisation slab by slab: memory use stays bounded whatever the tomogram's
size. Both go through :func:`~tomorestore.training.restoration_model.restore_halves`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..data.normalization import Normalization
from ..errors import InputError
from ..inference.tiling import DEFAULT_OVERLAP
from .config import WedgeConfig
from .tilt_frame import from_method_frame, to_method_frame

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class RestorePlan:
    """A checked restoration: what :func:`restore_in_memory` and :func:`restore_into_file`
    need.

    Parameters
    ----------
    arrays : list of array-like
        ``[tomogram]`` or ``[even, odd]`` in the data's orientation (memory maps stay).
    normalization : Normalization
        Standardises the tiles; undone on the output.
    method : Method
        Supplies the tile transform (the wedge filter of dewedge/ei) and the combination.
    wedge : WedgeConfig or None
        The tilt range and axis in use (the override or the model's): sets the frame.
    device : torch.device
        Where the network runs.
    tile, overlap, batch_size, fast, min_size
        Tiling and speed settings.
    """

    arrays: list[Any]
    normalization: Normalization
    method: Any
    wedge: WedgeConfig | None
    device: Any
    tile: int
    overlap: float
    batch_size: int
    fast: bool
    min_size: tuple[int, int, int] | None

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(Z, Y, X)`` of the inputs and the output."""
        return tuple(int(n) for n in self.arrays[0].shape)  # type: ignore[return-value]

    def to_method_frame(self, array: Any) -> Any:
        """A view of ``array`` with the tilt axis along Y (see ``training.tilt_frame``)."""
        return to_method_frame(array, self.wedge)


def plan_restore(
    model: Any,
    halves: Any,
    *,
    tile: int | None,
    overlap: float,
    device: Any,
    batch_size: int,
    normalization: Literal["input", "model"],
    wedge: WedgeConfig | None,
) -> RestorePlan:
    """Check the inputs and settings of a restoration with ``model`` (a RestorationModel).

    Parameters
    ----------
    wedge : WedgeConfig, optional
        The tilt range and axis of these tomograms when they differ from the training
        data's (dewedge and ei wedge-filter each tile with it); None: the model's.

    Other parameters are those of :meth:`RestorationModel.restore`.

    Raises
    ------
    InputError
        Bad volumes, overlap, batch size, normalisation choice or device.
    """
    from ..io import check_halves
    from .device import resolve_device

    arrays = check_halves(halves)
    if not 0.0 <= overlap < 1.0:
        raise InputError(f"overlap must be in [0, 1), got {overlap}; try {DEFAULT_OVERLAP:g}.")
    if int(batch_size) < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}.")
    if wedge is not None and not isinstance(wedge, WedgeConfig):
        raise InputError(f"wedge must be a WedgeConfig or None, got {type(wedge).__name__}.")
    torch_device = resolve_device(device)
    if normalization == "input":
        norm = Normalization.from_volumes(arrays)
    elif normalization == "model":
        norm = model.normalization
    else:
        raise InputError(f"normalization must be 'input' or 'model', got {normalization!r}.")
    if wedge is None or wedge == model.config.wedge:
        method, frame = model.method, model.config.wedge
    else:
        from ..methods import get_method

        method = get_method(model.config.method)(model.config.params, wedge.method_wedge())
        frame = wedge
    network_config = model.config.network
    if tile is None:
        tile = default_restore_tile(model, torch_device, int(batch_size))
    return RestorePlan(
        arrays=arrays,
        normalization=norm,
        method=method,
        wedge=frame,
        device=torch_device,
        tile=int(tile),
        overlap=float(overlap),
        batch_size=int(batch_size),
        fast=bool(model.config.fast),
        min_size=network_config.min_input_shape if network_config is not None else None,
    )


def default_restore_tile(model: Any, device: Any, batch_size: int = 1) -> int:
    """The tile edge a restore on ``device`` uses when none is given (what was chosen).

    ``default_tile`` of the device type (128 on a CPU), lowered on a GPU to fit its free
    memory (:func:`~tomorestore.inference.tile_memory.automatic_tile`). ``device`` is a
    resolved :class:`torch.device` (:func:`~tomorestore.training.device.resolve_device`).
    """
    from ..inference.tile_memory import automatic_tile
    from .restoration_model import default_tile

    preferred = default_tile(device.type)
    network = model.config.network
    if network is None:
        return preferred
    return automatic_tile(
        preferred,
        device,
        base_channels=network.base_channels,
        divisor=network.divisor,
        batch_size=int(batch_size),
        fast=bool(model.config.fast),
    )


def _predict(
    network: Any,
    plan: RestorePlan,
    *,
    progress: ProgressCallback | None,
    should_stop: Callable[[], bool] | None,
    outs: list[Any] | None,
) -> list[np.ndarray]:
    from .restoration_model import restore_halves

    return restore_halves(
        network,
        plan.method,
        [plan.to_method_frame(array) for array in plan.arrays],
        device=plan.device,
        fast=plan.fast,
        normalization=plan.normalization,
        tile=plan.tile,
        overlap=plan.overlap,
        batch_size=plan.batch_size,
        progress=progress,
        should_stop=should_stop,
        min_size=plan.min_size,
        outs=None if outs is None else [plan.to_method_frame(out) for out in outs],
    )


def restore_in_memory(
    network: Any,
    plan: RestorePlan,
    *,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The restoration and the restoration of each half, as arrays.

    Returns
    -------
    combined : numpy.ndarray
        The method's combination of the parts.
    parts : list of numpy.ndarray
        One per half (``[combined]`` for one tomogram); float32 ``(Z, Y, X)`` in the
        input's units and orientation.
    """
    parts = _predict(network, plan, progress=progress, should_stop=should_stop, outs=None)
    norm = plan.normalization
    combined = norm.invert_inplace(np.array(plan.method.combine(parts), dtype=np.float32))
    parts = [combined] if len(parts) == 1 else [norm.invert_inplace(p) for p in parts]
    return (
        from_method_frame(combined, plan.wedge),
        [from_method_frame(part, plan.wedge) for part in parts],
    )


def restore_into_file(
    network: Any,
    plan: RestorePlan,
    path: str | os.PathLike[str],
    *,
    voxel_size: tuple[float, float, float],
    origin: tuple[float, float, float],
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """Restore into a float32 MRC file without holding the volume in memory.

    Each half is accumulated in a memory-mapped file (the output's data block, then a
    hidden scratch file in the output's folder, deleted afterwards); the halves are
    combined and the normalisation undone slab by slab. The file appears complete or not
    at all (on an error or a cancellation nothing is left).

    Parameters
    ----------
    network : torch.nn.Module
        The U-Net.
    plan : RestorePlan
        From :func:`plan_restore`.
    path : str or os.PathLike
        Output file (``.mrc``, ``.rec``, ``.map``) in an existing folder; replaced if it
        exists.
    voxel_size, origin : tuple of 3 floats
        Written to the header (Å, ``(Z, Y, X)``).
    progress, should_stop
        As in :meth:`RestorationModel.restore`.

    Returns
    -------
    pathlib.Path
        The written file.

    Notes
    -----
    The halves are combined slab by slab when the method keeps the default, voxel-wise
    combination (the mean); a method that overrides ``combine`` gets the whole halves
    (read into memory) instead.
    """
    from ..inference.mrc_output import mrc_output, scratch_array
    from ..inference.slabs import slab_slices
    from ..io import WRITE_SUFFIXES

    target = Path(path).expanduser()
    if target.suffix.lower() not in WRITE_SUFFIXES:
        raise InputError(
            f"cannot write {target.name}: use one of the suffixes {' '.join(WRITE_SUFFIXES)} "
            "(e.g. restored.mrc)."
        )
    if not target.parent.is_dir():
        raise InputError(f"{target}: the folder {target.parent} does not exist; create it first.")
    shape = plan.shape
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(mrc_output(target, shape, voxel_size=voxel_size, origin=origin))
        extra = [stack.enter_context(scratch_array(target.parent, shape)) for _ in plan.arrays[1:]]
        targets = [out, *extra]
        _predict(network, plan, progress=progress, should_stop=should_stop, outs=targets)
        _combine_into(plan, targets)
        for index in slab_slices(shape):
            plan.normalization.invert_inplace(out[index])
    return target


def _combine_into(plan: RestorePlan, targets: list[Any]) -> None:
    """Write the method's combination of ``targets`` (one per half) into ``targets[0]``."""
    from ..inference.slabs import slab_slices
    from ..methods.base import Method

    if len(targets) == 1 and type(plan.method).combine is Method.combine:
        return
    out = targets[0]
    if type(plan.method).combine is Method.combine:  # the mean: voxel-wise, slab by slab
        for index in slab_slices(tuple(out.shape)):
            out[index] = plan.method.combine([np.asarray(t[index]) for t in targets])
        return
    combined = plan.method.combine([np.asarray(plan.to_method_frame(t)) for t in targets])
    plan.to_method_frame(out)[...] = np.asarray(combined, dtype=np.float32)
