"""A trained model that restores tomograms: :class:`RestorationModel`.

It bundles the network with everything needed to use it on new data: the resolved
training configuration, the method (with its wedge), the intensity normalisation and the
voxel size it was trained at. It is saved as (and loaded from) a checkpoint file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..data.normalization import Normalization
from ..errors import CheckpointError
from ..inference.tiling import DEFAULT_OVERLAP
from .config import TrainConfig, WedgeConfig
from .history import TrainingHistory


def default_tile(device_type: str) -> int:
    """The largest restore tile edge used when none is given: 128 on CPU and on a GPU.

    Tiles are fitted to each axis (:func:`~tomorestore.inference.tiling.plan_axis`), so
    this is an upper bound. Larger tiles restore better with the instance-norm networks
    (statistics over more context, fewer tile borders): on the 64x128x128 benchmark
    tomogram dewedge gave Pearson 0.257 / 0.299 / 0.319 with 48 / 64 / 96 tiles, n2n with
    instance norm 0.321 / 0.323 / 0.349. They are also faster: a 128x256x256 tomogram
    takes 9 tiles of 160x120x120 (2.5 network voxels per output voxel) instead of 32 of
    96^3 (3.4); end to end 1.7x faster with the same restoration (docs/speed.md). A 128^3
    tile needs about 280 MB on the CPU in bf16.
    """
    return 128


ProgressCallback = Callable[[int, int], None]


def restore_halves(
    network: Any,
    method: Any,
    arrays: Sequence[Any],
    *,
    device: Any,
    fast: bool,
    normalization: Normalization | None = None,
    tile: int | Sequence[int] = 128,
    overlap: float = DEFAULT_OVERLAP,
    blend: str = "gaussian",
    batch_size: int = 1,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    min_size: int | Sequence[int] | None = None,
    outs: Sequence[Any] | None = None,
) -> list[np.ndarray]:
    """The one prediction path: restore each half with ``network``, tile by tile.

    Restoration, the training preview and the even/odd disagreement map all come through
    here (dewedge's wedge refill calls the same :func:`~tomorestore.inference.restore_volume`
    on the normalised halves).

    Parameters
    ----------
    network : torch.nn.Module
        The U-Net.
    method : Method
        Supplies the per-tile input transform (``predict_input``: dewedge's and ei's wedge
        filter).
    arrays : sequence of array-like
        ``(Z, Y, X)`` volumes in the methods' frame (tilt axis along Y).
    device : torch.device or str
        Where the network runs.
    fast : bool
        bf16 autocast and channels_last_3d.
    normalization : Normalization, optional
        Standardises each tile first (the result stays in normalised units); None when the
        arrays are already normalised.
    tile, overlap, blend, batch_size, should_stop, min_size
        As in :func:`~tomorestore.inference.predict_tiled`.
    progress : callable, optional
        ``progress(done, total)`` over the tiles of all halves.
    outs : sequence of array-like, optional
        One zero-filled, writable float32 array per half (e.g. memory-mapped files) that
        receives its restoration; default: new arrays in memory.

    Returns
    -------
    list of numpy.ndarray
        One float32 restoration per half, in normalised units (the ``outs`` when given).
    """
    from ..inference import restore_volume

    if outs is not None and len(outs) != len(arrays):
        raise ValueError(f"{len(outs)} output arrays for {len(arrays)} halves")

    if normalization is None:
        transform = method.predict_input
    else:

        def transform(x: Any) -> Any:
            return method.predict_input(normalization.apply(x))

    network = method.restoring_network(network)
    return [
        restore_volume(
            network,
            array,
            device=device,
            fast=fast,
            input_transform=transform,
            tile=tile,
            overlap=overlap,
            blend=blend,
            batch_size=batch_size,
            progress=_offset_progress(progress, index, len(arrays)),
            should_stop=should_stop,
            min_size=min_size,
            out=None if outs is None else outs[index],
        )
        for index, array in enumerate(arrays)
    ]


@dataclass
class RestorationModel:
    """A trained network plus what it needs to restore tomograms.

    Parameters
    ----------
    network : torch.nn.Module
        The U-Net (any device; :meth:`restore` moves it).
    config : TrainConfig
        The resolved training configuration (no ``None`` fields).
    normalization : Normalization
        Intensity statistics of the training data.
    voxel_size : tuple of 3 floats, optional
        Voxel size (Å, Z, Y, X) of the training data.
    step : int
        The optimiser step these weights come from.
    history : TrainingHistory
        Training and validation losses.
    best_step : int, optional
        Set when these are the weights of the lowest validation loss (``keep_best``).
    processes : int
        Number of processes that trained it (torch DDP; 1 for a plain run).
    backend : str
        Their process-group backend (``"nccl"``, ``"gloo"``; ``""`` for one process).

    Examples
    --------
    >>> model = RestorationModel.load("model.ckpt")  # doctest: +SKIP
    >>> restored = model.restore([even, odd], tile=64)  # doctest: +SKIP
    """

    network: Any = field(repr=False)
    config: TrainConfig
    normalization: Normalization
    voxel_size: tuple[float, float, float] | None = None
    step: int = 0
    history: TrainingHistory = field(default_factory=TrainingHistory, repr=False)
    best_step: int | None = None
    processes: int = 1
    backend: str = ""
    _method: Any = field(default=None, repr=False, compare=False)

    # -- what it is -------------------------------------------------------------------------
    @property
    def method_name(self) -> str:
        """Name of the self-supervised method (``n2v``, ``n2n``, ``dewedge``, ``ei``)."""
        return self.config.method

    @property
    def wedge(self) -> Any:
        """The :class:`~tomorestore.physics.MissingWedge` of the data, or None."""
        return self.config.wedge.missing_wedge() if self.config.wedge is not None else None

    @property
    def method(self) -> Any:
        """The :class:`~tomorestore.methods.base.Method` instance (built once).

        It works in the methods' frame (tilt axis along Y; see
        :mod:`~tomorestore.training.tilt_frame`).
        """
        if self._method is None:
            from ..methods import get_method

            cls = get_method(self.config.method)
            wedge = self.config.wedge.method_wedge() if self.config.wedge is not None else None
            self._method = cls(self.config.params, wedge)
        return self._method

    # -- persistence ------------------------------------------------------------------------
    def to_payload(self, *, optimizer_state: dict[str, Any] | None = None) -> dict[str, Any]:
        """Checkpoint content without the format fields (see :mod:`.checkpoint`).

        Parameters
        ----------
        optimizer_state : dict, optional
            ``optimizer.state_dict()`` of the run at :attr:`step` (last-state files only).
        """
        return {
            "method": self.config.method,
            "config": self.config.model_dump(mode="json"),
            "normalization": {"mean": self.normalization.mean, "std": self.normalization.std},
            "voxel_size": None if self.voxel_size is None else [float(v) for v in self.voxel_size],
            "state_dict": {k: v.detach().cpu() for k, v in self.network.state_dict().items()},
            "step": int(self.step),
            "best_step": None if self.best_step is None else int(self.best_step),
            "optimizer_state": optimizer_state,
            "history": self.history.to_dict(),
            "processes": int(self.processes),
            "backend": self.backend,
        }

    @classmethod
    def from_payload(
        cls, payload: dict[str, Any], *, source: str = "checkpoint"
    ) -> RestorationModel:
        """Rebuild a model from :func:`~tomorestore.training.checkpoint.load_checkpoint`."""
        from pydantic import ValidationError

        from ..models import build_network

        try:
            config = TrainConfig.model_validate(payload["config"])
            normalization = Normalization(**payload["normalization"])
            if config.network is None:
                raise ValueError("the stored configuration has no network shape")
            network = build_network(config.network)
            network.load_state_dict(payload["state_dict"])
        except (ValidationError, ValueError, TypeError, KeyError, RuntimeError) as exc:
            raise CheckpointError(
                f"{source} does not match this version's model layout ({exc}); retrain the "
                "model with this version of tomorestore."
            ) from exc
        network.eval()
        voxel = payload.get("voxel_size")
        best = payload.get("best_step")
        return cls(
            network=network,
            config=config,
            normalization=normalization,
            voxel_size=None if voxel is None else tuple(float(v) for v in voxel),  # type: ignore[arg-type]
            step=int(payload["step"]),
            history=TrainingHistory.from_dict(payload.get("history")),
            best_step=None if best is None else int(best),
            processes=int(payload.get("processes", 1)),
            backend=str(payload.get("backend", "")),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model as a checkpoint file (atomic, no optimiser state); returns the path."""
        from .checkpoint import save_checkpoint

        return save_checkpoint(path, self.to_payload())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RestorationModel:
        """Read a checkpoint written by training or :meth:`save`.

        Raises
        ------
        CheckpointError
            If the file is missing, corrupt, foreign or from an incompatible version.
        """
        from .checkpoint import load_checkpoint

        return cls.from_payload(load_checkpoint(path), source=str(path))

    # -- use --------------------------------------------------------------------------------
    def restore(
        self,
        halves: Any,
        *,
        tile: int | None = None,
        overlap: float = DEFAULT_OVERLAP,
        device: Any = "auto",
        progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
        batch_size: int = 1,
        normalization: Literal["input", "model"] = "input",
        wedge: WedgeConfig | None = None,
    ) -> np.ndarray:
        """Restore a tomogram (or its even/odd halves) tile by tile, in memory.

        For tomograms too large for memory use :meth:`restore_to_file`.

        Parameters
        ----------
        halves : array-like, Volume, or list of 1–2 of them
            One tomogram or ``[even, odd]`` (same shape), any numeric dtype; memory maps are
            read tile by tile.
        tile : int, optional
            Largest tile edge in voxels (default 128, see :func:`default_tile`; lowered
            automatically on out-of-memory).
        overlap : float
            Fraction of a tile shared with its neighbours (Gaussian blending), in [0, 1).
        device : str or torch.device
            Compute device, ``"auto"`` by default.
        progress : callable, optional
            ``progress(done, total)`` over the tiles of all halves.
        should_stop : callable, optional
            Returns True to cancel (raises :class:`~tomorestore.errors.Cancelled`).
        batch_size : int
            Tiles per forward pass.
        normalization : {"input", "model"}
            ``"input"`` standardises with the robust statistics of the given tomogram (right
            for new tomograms with other intensity scales); ``"model"`` with the training
            statistics.
        wedge : WedgeConfig, optional
            Tilt range and axis of this tomogram when they differ from the training data's:
            dewedge and ei wedge-filter each tile with it, and its tilt axis sets the
            orientation. None: the model's (:attr:`config` ``.wedge``).

        Returns
        -------
        numpy.ndarray
            float32 ``(Z, Y, X)`` in the input's intensity units and orientation.
        """
        combined, _ = self.restore_parts(
            halves,
            tile=tile,
            overlap=overlap,
            device=device,
            progress=progress,
            should_stop=should_stop,
            batch_size=batch_size,
            normalization=normalization,
            wedge=wedge,
        )
        return combined

    def restore_parts(
        self,
        halves: Any,
        *,
        tile: int | None = None,
        overlap: float = DEFAULT_OVERLAP,
        device: Any = "auto",
        progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
        batch_size: int = 1,
        normalization: Literal["input", "model"] = "input",
        wedge: WedgeConfig | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Like :meth:`restore`, also returning the restoration of each half.

        The halves share one normalisation, so ``|parts[0] - parts[1]|`` is the even/odd
        disagreement of the restoration (a reliability map).

        Returns
        -------
        combined : numpy.ndarray
            The restoration (the method's combination of the parts).
        parts : list of numpy.ndarray
            One restoration per given half; all float32 ``(Z, Y, X)`` in the input's
            intensity units and orientation.
        """
        from .restoring import plan_restore, restore_in_memory

        plan = plan_restore(
            self,
            halves,
            tile=tile,
            overlap=overlap,
            device=device,
            batch_size=batch_size,
            normalization=normalization,
            wedge=wedge,
        )
        return restore_in_memory(self.network, plan, progress=progress, should_stop=should_stop)

    def restore_to_file(
        self,
        halves: Any,
        path: str | os.PathLike[str],
        *,
        voxel_size: Any = None,
        origin: Any = None,
        tile: int | None = None,
        overlap: float = DEFAULT_OVERLAP,
        device: Any = "auto",
        progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
        batch_size: int = 1,
        normalization: Literal["input", "model"] = "input",
        wedge: WedgeConfig | None = None,
    ) -> Path:
        """Restore straight into a float32 MRC file, with bounded memory.

        The same restoration as :meth:`restore`, but accumulated in the memory-mapped data
        block of the output file (and a hidden scratch file beside it for the second
        half), then combined and converted back to the input's units slab by slab: the
        tomogram is never held in memory, so any size that fits on disk can be restored.
        The file is written atomically (complete or not at all, also on cancellation).

        Parameters
        ----------
        halves : array-like, Volume, or list of 1–2 of them
            As in :meth:`restore`; memory-mapped inputs keep the memory bounded.
        path : str or os.PathLike
            ``.mrc``, ``.rec`` or ``.map`` in an existing folder (replaced if it exists).
        voxel_size : float or 3 floats, optional
            Å per voxel ``(Z, Y, X)``; default the model's training voxel size, else 1 Å.
        origin : 3 floats, optional
            Origin in Å ``(Z, Y, X)``; default 0.
        tile, overlap, device, progress, should_stop, batch_size, normalization, wedge
            As in :meth:`restore`.

        Returns
        -------
        pathlib.Path
            The written file.

        Examples
        --------
        >>> model = RestorationModel.load("model.ckpt")  # doctest: +SKIP
        >>> tomo = read_volume("tomo.mrc")  # memory-mapped  # doctest: +SKIP
        >>> model.restore_to_file(  # doctest: +SKIP
        ...     tomo, "tomo_restored.mrc", voxel_size=tomo.voxel_size, origin=tomo.origin
        ... )
        """
        from ..io.volume import as_triple
        from .restoring import plan_restore, restore_into_file

        if voxel_size is None:
            voxel_size = self.voxel_size if self.voxel_size is not None else 1.0
        plan = plan_restore(
            self,
            halves,
            tile=tile,
            overlap=overlap,
            device=device,
            batch_size=batch_size,
            normalization=normalization,
            wedge=wedge,
        )
        return restore_into_file(
            self.network,
            plan,
            path,
            voxel_size=as_triple(voxel_size, name="voxel_size", positive=True),
            origin=as_triple(0.0 if origin is None else origin, name="origin", positive=False),
            progress=progress,
            should_stop=should_stop,
        )


def _offset_progress(
    progress: ProgressCallback | None, index: int, count: int
) -> ProgressCallback | None:
    """Report the tiles of half ``index`` of ``count`` as part of one overall total."""
    if progress is None:
        return None

    def report(done: int, total: int) -> None:
        progress(index * total + done, count * total)

    return report
