"""Two U-Nets in sequence: a denoiser, then a network that fills the missing wedge.

The network of ``ei``'s ``denoise_first`` order (IsoNet's order): the denoiser is trained
first (blind-spot or Noise2Noise), the tomogram is denoised once, and the filler is then
trained on the denoised volume (rotated, wedge-filtered input; rotated target, scored
where it was measured). Restoring runs both per tile: ``filler(denoiser(x))``. The
filler is residual by default (``NetworkConfig.filler_residual``): untrained, it passes
the denoised volume through unchanged, and it only has to learn the missing wedge.
``ei`` restores with the denoiser's measured frequencies and the filler's wedge
(``tomorestore.methods.ei_staged.WedgeFromFiller``, its ``keep_measured`` parameter).

The ``stage`` buffer (saved with the weights) says how far training got: a network
saved before the filler trained restores with the denoiser alone. The ``pair_stats``
buffer holds the robust mean and standard deviation of the denoised volume the filler
trained on: the filler sees it standardised, ``filler((d − m)/s)·s + m``. A denoised
tomogram of sparse objects in ice has a standard deviation of a few hundredths of the
data's; trained on it unscaled, Adam's first steps (sized by the learning rate, not by
the data) moved the filler's output by more than the signal, and on the benchmark's large
sparse tomogram the restoration came out anti-correlated with the truth.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Literal

import torch
from torch import nn

Route = Literal["denoiser", "filler"]
#: ``(mean, std)`` of a pair used as it is.
IDENTITY_STATS = (0.0, 1.0)


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
        # (mean, std) of the denoised pair the filler trains on, standardised
        self.register_buffer("pair_stats", torch.tensor(IDENTITY_STATS))
        self.route: Route | None = None

    @property
    def divisor(self) -> int:
        """Spatial sizes both networks work on without internal padding."""
        return max(int(getattr(n, "divisor", 1)) for n in (self.denoiser, self.filler))

    @property
    def min_input_shape(self) -> tuple[int, int, int]:
        """The smallest ``(Z, Y, X)`` volume both networks restore (per-axis maximum)."""
        shapes = [n.min_input_shape for n in (self.denoiser, self.filler)]
        return tuple(max(sizes) for sizes in zip(*shapes, strict=True))  # type: ignore[return-value]

    @property
    def filler_trained(self) -> bool:
        """Whether the filler has started training (restoring then runs both networks)."""
        return int(self.stage) >= 2

    @property
    def pair_mean_std(self) -> tuple[float, float]:
        """Mean and standard deviation the denoised volume is standardised with for the
        filler."""
        mean, std = (float(v) for v in self.pair_stats)
        return mean, std

    def start_filler(self, mean: float = 0.0, std: float = 1.0) -> None:
        """Mark the filler as trained from now on, on the denoised volume standardised
        with ``mean`` and ``std`` (saved with the weights)."""
        if not std > 0.0:
            raise ValueError(f"the denoised pair's standard deviation must be > 0, got {std}")
        self.stage.fill_(2)
        self.pair_stats.copy_(torch.tensor([float(mean), float(std)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The routed network during training (see :func:`routed`), else the sequence."""
        if self.route == "denoiser":
            return self.denoiser(x)
        if self.route == "filler":
            return self.filler(x)
        denoised = self.denoiser(x)
        if not self.filler_trained:
            return denoised
        return self.filled(denoised)

    def filled(
        self, denoised: torch.Tensor, filler: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> torch.Tensor:
        """``filler((denoised − m)/s)·s + m``: the filler on the standardised denoised volume.

        ``filler`` is the filler as the caller reaches it (a wrapper routed to it, see
        :func:`routed`); default: :attr:`filler` itself.
        """
        mean, std = self.pair_stats[0], self.pair_stats[1]
        return (filler or self.filler)((denoised - mean) / std) * std + mean

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object) -> None:
        # networks saved before the pair was standardised: the filler saw it as it was
        state_dict.setdefault(f"{prefix}pair_stats", torch.tensor(IDENTITY_STATS))
        super()._load_from_state_dict(state_dict, prefix, *args)  # type: ignore[arg-type]


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
