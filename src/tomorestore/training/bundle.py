"""A trained model that restores tomograms: :class:`RestorationModel`.

It bundles the network with everything needed to use it on new data: the resolved
training configuration, the method (with its wedge), the intensity normalisation and the
voxel size it was trained at. It is saved as (and loaded from) a checkpoint file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..data.normalization import Normalization
from ..errors import CheckpointError, InputError
from .config import TrainConfig
from .history import TrainingHistory


def default_tile(device_type: str) -> int:
    """The restore tile edge used when none is given: 96 on CPU, 128 on a GPU.

    Larger tiles restore better with the instance-norm networks (statistics over more
    context, fewer tile borders): on the 64x128x128 benchmark tomogram dewedge gave Pearson
    0.257 / 0.299 / 0.319 with 48 / 64 / 96 tiles, n2n with instance norm 0.321 / 0.323 /
    0.349.
    """
    return 96 if device_type == "cpu" else 128


ProgressCallback = Callable[[int, int], None]


def as_halves(halves: Any) -> list[Any]:
    """One array/:class:`~tomorestore.io.Volume`, or a list of 1–2 of them, as a list."""
    if isinstance(halves, (list, tuple)):
        items = list(halves)
    else:
        items = [halves]
    if not 1 <= len(items) <= 2:
        raise InputError(f"give one tomogram or two halves (even, odd), got {len(items)} volumes.")
    return [getattr(item, "data", item) for item in items]


def make_predictor(
    network: Any,
    method: Any,
    *,
    device: Any,
    fast: bool,
    normalization: Normalization | None = None,
) -> Callable[[Any], Any]:
    """A function mapping a ``(B, 1, z, y, x)`` tile batch to the network's restoration.

    ``normalization`` (if given) standardises each tile first; the result stays in
    normalised units. The method's ``predict_input`` transform (e.g. dewedge's wedge
    filter) is applied before the network; the network runs under bf16 autocast when
    ``fast`` and returns float32.
    """
    import torch

    from ..models import autocast_context, to_channels_last_3d

    def predict(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            x = x.to(device=device, dtype=torch.float32)
            if normalization is not None:
                x = normalization.apply(x)
            x = method.predict_input(x)
            if fast:
                x = to_channels_last_3d(x)
            with autocast_context(device, fast):
                y = network(x)
            return y.float().contiguous()

    return predict


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
        Optimiser steps trained.
    history : TrainingHistory
        Training and validation losses.

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
    _method: Any = field(default=None, repr=False, compare=False)

    # -- what it is -------------------------------------------------------------------------
    @property
    def method_name(self) -> str:
        """Name of the self-supervised method (``n2v``, ``n2n``, ``dewedge``, ``ei``)."""
        return self.config.method

    @property
    def wedge(self) -> Any:
        """The :class:`~tomorestore.physics.MissingWedge` trained with, or None."""
        return self.config.wedge.missing_wedge() if self.config.wedge is not None else None

    @property
    def method(self) -> Any:
        """The :class:`~tomorestore.methods.base.Method` instance (built once)."""
        if self._method is None:
            from ..methods import get_method

            cls = get_method(self.config.method)
            self._method = cls(self.config.method_params(), self.wedge)
        return self._method

    # -- persistence ------------------------------------------------------------------------
    def to_payload(self) -> dict[str, Any]:
        """Checkpoint content without the format fields (see :mod:`.checkpoint`)."""
        return {
            "method": self.config.method,
            "config": self.config.model_dump(mode="json"),
            "normalization": {"mean": self.normalization.mean, "std": self.normalization.std},
            "wedge": None if self.config.wedge is None else self.config.wedge.model_dump(),
            "voxel_size": None if self.voxel_size is None else [float(v) for v in self.voxel_size],
            "state_dict": {k: v.detach().cpu() for k, v in self.network.state_dict().items()},
            "step": int(self.step),
            "history": self.history.to_dict(),
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
        return cls(
            network=network,
            config=config,
            normalization=normalization,
            voxel_size=None if voxel is None else tuple(float(v) for v in voxel),  # type: ignore[arg-type]
            step=int(payload["step"]),
            history=TrainingHistory.from_dict(payload.get("history")),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model as a checkpoint file (atomic); returns the path."""
        from .checkpoint import save_checkpoint

        return save_checkpoint(path, self, step=self.step)

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
        overlap: float = 0.25,
        device: Any = "auto",
        progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
        batch_size: int = 1,
        normalization: Literal["input", "model"] = "input",
    ) -> np.ndarray:
        """Restore a tomogram (or its even/odd halves) tile by tile.

        Parameters
        ----------
        halves : array-like, Volume, or list of 1–2 of them
            One tomogram or ``[even, odd]`` (same shape), any numeric dtype; memory maps are
            read tile by tile.
        tile : int, optional
            Tile edge in voxels (default 96 on CPU, 128 on a GPU; lowered automatically on
            out-of-memory).
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

        Returns
        -------
        numpy.ndarray
            float32 ``(Z, Y, X)`` in the input's intensity units.
        """
        from ..inference import predict_tiled
        from ..io import check_volume_array
        from .device import resolve_device

        arrays = as_halves(halves)
        names = ["tomogram"] if len(arrays) == 1 else ["even half", "odd half"]
        arrays = [check_volume_array(a, name=n) for a, n in zip(arrays, names, strict=True)]
        if len(arrays) == 2 and arrays[0].shape != arrays[1].shape:
            raise InputError(
                f"even and odd halves differ in shape: {arrays[0].shape} vs {arrays[1].shape}. "
                "Give halves reconstructed with the same size."
            )
        if not 0.0 <= overlap < 1.0:
            raise InputError(f"overlap must be in [0, 1), got {overlap}; try 0.25.")
        torch_device = resolve_device(device)
        if tile is None:
            tile = default_tile(torch_device.type)
        if normalization == "input":
            norm = Normalization.from_volumes(arrays)
        elif normalization == "model":
            norm = self.normalization
        else:
            raise InputError(f"normalization must be 'input' or 'model', got {normalization!r}.")

        self.network.to(torch_device)
        self.network.eval()
        fast = bool(self.config.fast)
        if fast:
            from ..models import prepare_for_speed

            prepare_for_speed(self.network, torch_device)
        predict = make_predictor(
            self.network, self.method, device=torch_device, fast=fast, normalization=norm
        )
        restored = []
        for index, array in enumerate(arrays):
            restored.append(
                predict_tiled(
                    array,
                    predict,
                    tile=tile,
                    overlap=overlap,
                    batch_size=batch_size,
                    compute_device=str(torch_device),
                    progress=_offset_progress(progress, index, len(arrays)),
                    should_stop=should_stop,
                    min_size=2 * self.config.network.divisor if self.config.network else None,
                )
            )
        combined = np.asarray(self.method.combine(restored), dtype=np.float32)
        return norm.invert_inplace(combined)


def _offset_progress(
    progress: ProgressCallback | None, index: int, count: int
) -> ProgressCallback | None:
    """Report the tiles of half ``index`` of ``count`` as part of one overall total."""
    if progress is None:
        return None

    def report(done: int, total: int) -> None:
        progress(index * total + done, count * total)

    return report


def history_summary(history: TrainingHistory) -> str:
    """``"final loss 0.123, val 0.130"`` for messages."""
    text = f"final loss {history.recent_loss():.4g}"
    if history.val_losses:
        text += f", val {history.last_val_loss:.4g}"
    return text
