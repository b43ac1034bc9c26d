"""A plain Noise2Noise reference, written apart from tomorestore's engine.

A minimal 3-level 3D U-Net (two 3x3x3 convolutions per level with normalisation and
LeakyReLU, max-pooling, transposed-convolution upsampling, concatenated skips, a 1x1x1
head, optionally the input added to the output) trained with Adam on random crops of two
even/odd halves: ``L = ‖f(v⁰) − v¹‖²`` with a random swap of input and target per crop.
The restoration is ``½[f(v⁰) + f(v¹)]``, each half in one untiled pass.

Only tomorestore's exact index augmentations are borrowed (so an ablation changes one
thing at a time); the network, sampling, normalisation, loop and restore are this file's.
``benchmarks/n2n_reference.py`` runs it and scores it beside tomorestore's ``n2n``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class PlainSettings:
    """One variant of the reference (the defaults are the issue's reference).

    Attributes
    ----------
    steps, batch, patch : int
        Adam steps, crops per step, crop edge (voxels).
    lr : float
        Adam learning rate (peak, when ``schedule`` is ``"cosine"``).
    schedule : {"constant", "cosine"}
        Constant, or tomorestore's shape: linear warm-up over ``min(100, steps // 20)``
        steps, then cosine decay to 5 % of the peak.
    norm : {"instance", "batch", "none"}
        Normalisation after each convolution.
    residual : bool
        Add the input to the network's output.
    base : int
        Feature maps of the top level (doubled per level).
    augment : {"none", "flips", "rotations"}
        ``none``: the swap only; ``flips``: tomorestore's wedge-preserving flips (flip of Y,
        half-turn about Y); ``rotations``: tomorestore's n2n default (quarter turns about
        Y and flips of Y and X).
    holdout : float
        Fraction of the Y axis (at its end) never trained on (tomorestore holds out
        ``max(crop, validation_fraction * Y)`` for validation).
    bf16 : bool
        Train under bf16 autocast (tomorestore's ``fast``); the restore is float32.
    seed : int
        Seed of the weights, the crops and the augmentations.
    """

    steps: int = 600
    batch: int = 4
    patch: int = 32
    lr: float = 1e-3
    schedule: str = "constant"
    norm: str = "instance"
    residual: bool = True
    base: int = 16
    augment: str = "none"
    holdout: float = 0.0
    bf16: bool = False
    seed: int = 0


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm3d(channels, affine=True)
    if kind == "batch":
        return nn.BatchNorm3d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}")


def _block(cin: int, cout: int, norm: str) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, padding=1),
        _norm(norm, cout),
        nn.LeakyReLU(0.01, inplace=True),
        nn.Conv3d(cout, cout, 3, padding=1),
        _norm(norm, cout),
        nn.LeakyReLU(0.01, inplace=True),
    )


class PlainUNet(nn.Module):
    """A minimal 3D U-Net: ``depth`` max-pool levels, concatenated skips, 1x1x1 head.

    Parameters
    ----------
    depth : int
        Number of 2x downsamplings; inputs are reflect-padded to multiples of ``2**depth``.
    base : int
        Feature maps of the top level.
    norm : {"instance", "batch", "none"}
        Normalisation after each convolution.
    residual : bool
        Add the input to the output.
    """

    def __init__(self, depth: int = 3, base: int = 16, norm: str = "instance",
                 residual: bool = True) -> None:  # fmt: skip
        super().__init__()
        widths = [base * 2**level for level in range(depth + 1)]
        self.depth, self.residual = depth, residual
        self.encoders = nn.ModuleList(
            _block(1 if i == 0 else widths[i - 1], w, norm) for i, w in enumerate(widths)
        )
        self.ups = nn.ModuleList(
            nn.ConvTranspose3d(widths[i + 1], widths[i], 2, stride=2)
            for i in reversed(range(depth))
        )
        self.decoders = nn.ModuleList(
            _block(2 * widths[i], widths[i], norm) for i in reversed(range(depth))
        )
        self.head = nn.Conv3d(base, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 1, Z, Y, X)`` to the same shape."""
        size = x.shape[-3:]
        div = 2**self.depth
        pads = [(0, (-n) % div) for n in size]
        y = F.pad(x, [p for pair in reversed(pads) for p in pair], mode="reflect")
        skips = []
        for level, encoder in enumerate(self.encoders):
            y = encoder(y)
            if level < self.depth:
                skips.append(y)
                y = F.max_pool3d(y, 2)
        for up, decoder in zip(self.ups, self.decoders, strict=True):
            y = decoder(torch.cat([up(y), skips.pop()], dim=1))
        y = self.head(y)[..., : size[0], : size[1], : size[2]].float()
        return y + x if self.residual else y


def _lr(step: int, settings: PlainSettings) -> float:
    if settings.schedule == "constant":
        return settings.lr
    warmup = max(1, min(100, settings.steps // 20))
    if step <= warmup:
        return settings.lr * step / warmup
    progress = min(1.0, (step - warmup) / max(1, settings.steps - warmup))
    return settings.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _augment(pairs: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    from tomorestore.methods.augment import (
        random_swap,
        random_wedge_preserving_flips,
        random_y_rotations_and_flips,
    )

    pairs = random_swap(pairs, generator=generator)
    if kind == "flips":
        return random_wedge_preserving_flips(pairs, generator=generator)
    if kind == "rotations":
        return random_y_rotations_and_flips(pairs, generator=generator)
    if kind != "none":
        raise ValueError(f"unknown augmentation {kind!r}")
    return pairs


def train_plain(
    even: np.ndarray, odd: np.ndarray, settings: PlainSettings
) -> Iterator[tuple[int, float, nn.Module]]:
    """Train on the standardised halves; yield ``(step, loss, network)`` after every step.

    Both halves are standardised with the mean and standard deviation of the two together.
    """
    stack = np.stack([even, odd]).astype(np.float32)
    stack = (stack - stack.mean()) / stack.std()
    torch.manual_seed(settings.seed)
    network = PlainUNet(base=settings.base, norm=settings.norm, residual=settings.residual)
    optimiser = torch.optim.Adam(network.parameters(), lr=settings.lr)
    rng = np.random.default_rng(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    c = settings.patch
    trained_y = stack.shape[2] - int(round(settings.holdout * stack.shape[2]))
    highs = np.array([stack.shape[1], trained_y, stack.shape[3]]) - c + 1
    network.train()
    for step in range(1, settings.steps + 1):
        for group in optimiser.param_groups:
            group["lr"] = _lr(step, settings)
        corners = rng.integers(0, highs, size=(settings.batch, 3))
        crops = [stack[:, z : z + c, y : y + c, x : x + c] for z, y, x in corners]
        pairs = _augment(torch.from_numpy(np.stack(crops)), settings.augment, generator)
        autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if settings.bf16
                    else contextlib.nullcontext())  # fmt: skip
        with autocast:
            prediction = network(pairs[:, :1])
        loss = torch.mean((prediction.float() - pairs[:, 1:]) ** 2)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        yield step, float(loss.detach()), network


def restore_plain(
    network: nn.Module, even: np.ndarray, odd: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray]]:
    """``½[f(v⁰) + f(v¹)]`` and the two restored halves, in the halves' units.

    Each half passes through the network whole (no tiles) in float32, standardised as in
    training and converted back.
    """
    both = np.stack([even, odd]).astype(np.float32)
    mean, std = float(both.mean()), float(both.std())
    was_training = network.training
    network.eval()
    parts = []
    with torch.no_grad():
        for half in (even, odd):
            x = torch.from_numpy(((half - mean) / std).astype(np.float32))[None, None]
            parts.append(network(x)[0, 0].numpy() * std + mean)
    network.train(was_training)
    return 0.5 * (parts[0] + parts[1]), parts


def run_plain(
    even: np.ndarray,
    odd: np.ndarray,
    settings: PlainSettings,
    *,
    score_at: set[int],
    score: Callable[[np.ndarray, list[np.ndarray]], dict],
) -> tuple[np.ndarray, list[np.ndarray], list[dict]]:
    """Train, scoring the restoration at the steps in ``score_at`` (and the last).

    Returns the final restoration, its halves and one ``{"step", "loss", **score}`` per
    scored step.
    """
    curve: list[dict] = []
    losses: list[float] = []
    restored, parts = even, [even, odd]
    for step, loss, network in train_plain(even, odd, settings):
        losses.append(loss)
        if step in score_at or step == settings.steps:
            restored, parts = restore_plain(network, even, odd)
            recent = float(np.mean(losses[-50:]))
            curve.append({"step": step, "loss": recent, **score(restored, parts)})
    return restored, parts, curve
