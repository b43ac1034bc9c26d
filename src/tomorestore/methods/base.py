"""The interface every self-supervised method implements.

The training engine owns the loop (optimiser, autocast, checkpoints, events); a method only
says how to turn a batch of sub-tomograms into a loss, how large the crops must be, what
to do between steps (wedge refill) and how to restore at the end.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel

from ..errors import InputError

if TYPE_CHECKING:
    import torch

    from ..physics import MissingWedge

VALIDATION_SEED = 20240611
"""Seed of the fixed masks, rotations and swaps used by every ``validation_loss``."""


def validation_generator() -> torch.Generator:
    """A CPU generator with the fixed validation seed (validation losses are deterministic)."""
    import torch

    return torch.Generator().manual_seed(VALIDATION_SEED)


class Method(abc.ABC):
    """A self-supervised restoration method.

    Class attributes describe the method's needs and its default budget (tuned so that a
    64 x 128 x 128 tomogram gives a good result within 10 minutes on a 2-core CPU with the
    default CPU network).

    Parameters
    ----------
    params : pydantic.BaseModel, optional
        The method's parameter model (``params_type``); defaults when omitted.
    wedge : MissingWedge, optional
        The missing wedge of the data; required when ``needs_wedge``.
    """

    name: ClassVar[str]
    params_type: ClassVar[type[BaseModel]]
    needs_halves: ClassVar[bool]
    accepts_single: ClassVar[bool]
    needs_wedge: ClassVar[bool]
    default_steps: ClassVar[int]
    default_batch_size: ClassVar[int]
    default_patch_size: ClassVar[int]
    default_learning_rate: ClassVar[float]
    n2v2_network: ClassVar[bool] = False
    #: Normalisation of the method's default network (see ``NetworkConfig.norm``).
    network_norm: ClassVar[str] = "instance"

    def __init__(self, params: Any = None, wedge: MissingWedge | None = None) -> None:
        if params is None:
            params = self.params_type()
        elif isinstance(params, dict):
            params = self.params_type(**params)
        if not isinstance(params, self.params_type):
            raise InputError(
                f"Method {self.name!r} takes {self.params_type.__name__}, got "
                f"{type(params).__name__}; pass {self.params_type.__name__}(...) or a dict."
            )
        if self.needs_wedge and wedge is None:
            raise InputError(
                f"Method {self.name!r} needs the tilt range of the data; give tilt_range="
                "(tilt_min, tilt_max) in degrees (e.g. (-60, 60))."
            )
        self.params = params
        self.wedge = wedge

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r}, wedge={self.wedge!r})"

    def check_halves(self, n_halves: int) -> None:
        """Raise :class:`InputError` when the method cannot use ``n_halves`` inputs."""
        if n_halves not in (1, 2):
            raise InputError(f"Give one tomogram or two halves (even, odd), got {n_halves}.")
        if n_halves == 1 and not self.accepts_single:
            raise InputError(
                f"Method {self.name!r} needs even and odd half tomograms; give even= and "
                "odd=, or use a single-tomogram method ('n2v' or 'ei')."
            )

    def crop_size(self, patch_size: int) -> int:
        """Edge of the crops the sampler must cut for training patches of ``patch_size``."""
        return int(patch_size)

    @abc.abstractmethod
    def training_loss(
        self, model: torch.nn.Module, batch: torch.Tensor, *, generator: torch.Generator
    ) -> torch.Tensor:
        """Loss of one training batch.

        Parameters
        ----------
        model : torch.nn.Module
            Maps ``(B, 1, s, s, s)`` to the same shape.
        batch : torch.Tensor
            ``(B, H, c, c, c)`` normalised float32 crops on the training device; ``H`` is 1
            (one tomogram) or 2 (even, odd); ``c = crop_size(patch_size)``.
        generator : torch.Generator
            Source of all randomness (masks, rotations, swaps).

        Returns
        -------
        torch.Tensor
            Scalar float32 loss with a gradient.
        """

    def validation_loss(self, model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
        """Deterministic loss of a validation batch (fixed seed for every random choice)."""
        import torch

        with torch.no_grad():
            return self.training_loss(model, batch, generator=validation_generator()).detach()

    def refresh(self, model: torch.nn.Module, sampler: Any, *, step: int, device: Any) -> None:
        """Hook called by the engine after each optimiser step (default: nothing)."""
        return None

    def predict_input(self, x: torch.Tensor) -> torch.Tensor:
        """Transform of each ``(B, 1, t, t, t)`` tile before the network at restore time."""
        return x

    def combine(self, restored_halves: list[np.ndarray]) -> np.ndarray:
        """Combine the restored inputs (one per half) into the final volume (mean)."""
        if len(restored_halves) == 1:
            return np.asarray(restored_halves[0], dtype=np.float32)
        return np.mean(np.stack(restored_halves), axis=0).astype(np.float32)
