"""Two U-Nets in sequence: a denoiser, then a network that fills the missing wedge.

The network of ``ei``'s ``denoise_first`` order (IsoNet's order): the denoiser is trained
first (blind-spot or Noise2Noise), the tomogram is denoised once, and the filler is then
trained on the denoised volume (rotated, wedge-filtered input; rotated target, scored
where it was measured). Restoring runs both per tile: ``filler(denoiser(x))``.

The ``stage`` buffer (saved with the weights) says how far training got: a network
saved before the filler trained restores with the denoiser alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch
from torch import nn

Route = Literal["denoiser", "filler"]


class StagedUNet(nn.Module):
    """``filler(denoiser(x))``, or ``denoiser(x)`` until the filler has trained.

    Parameters
    ----------
    denoiser, filler : torch.nn.Module
        The two networks (each maps ``(B, C, Z, Y, X)`` to the same shape).
    """

    def __init__(self, denoiser: nn.Module, filler: nn.Module) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.filler = filler
        # 1: only the denoiser has trained; 2: the filler too (restores with both)
        self.register_buffer("stage", torch.tensor(1, dtype=torch.int64))
        self.route: Route | None = None

    @property
    def divisor(self) -> int:
        """Spatial sizes both networks work on without internal padding."""
        return max(int(getattr(n, "divisor", 1)) for n in (self.denoiser, self.filler))

    @property
    def filler_trained(self) -> bool:
        """Whether the filler has started training (restoring then runs both networks)."""
        return int(self.stage) >= 2

    def start_filler(self) -> None:
        """Mark the filler as trained from now on (saved with the weights)."""
        self.stage.fill_(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The routed network during training (see :func:`routed`), else the sequence."""
        if self.route == "denoiser":
            return self.denoiser(x)
        if self.route == "filler":
            return self.filler(x)
        denoised = self.denoiser(x)
        return self.filler(denoised) if self.filler_trained else denoised


def find_staged(model: nn.Module) -> StagedUNet | None:
    """The :class:`StagedUNet` inside ``model`` (itself or wrapped), or None."""
    return next((m for m in model.modules() if isinstance(m, StagedUNet)), None)


@contextlib.contextmanager
def routed(network: StagedUNet, route: Route) -> Iterator[None]:
    """Within the block, calling ``network`` (or a wrapper around it) runs one stage only."""
    previous = network.route
    network.route = route
    try:
        yield
    finally:
        network.route = previous
