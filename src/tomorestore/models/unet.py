"""Residual 3D U-Net for tomogram restoration."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .blocks import NORMS, ConvBlock, MaxBlurPool3d, UpConv
from .tilt_axis_split import blend_rows, merge_rows, split_rows


class UNet3D(nn.Module):
    """A residual 3D U-Net that accepts any spatial size.

    Each level holds two 3x3x3 convolutions with normalisation and LeakyReLU (a residual
    block); features double at every downsampling. ``forward`` reflect-pads the input to a
    multiple of :attr:`divisor` and crops the output back, so the output has the shape of
    the input for any (also odd) size.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of input and output.
    depth : int
        Number of 2x downsamplings; :attr:`divisor` is ``2 ** depth``.
    base_channels : int
        Feature maps at the top level (``base_channels * 2**depth`` at the bottom).
    norm : {"instance", "group", "batch", "none"}
        Normalisation after each convolution (InstanceNorm with affine parameters by default;
        GroupNorm uses ``min(8, channels)`` groups).
    residual : bool
        Add the input to the output (needs ``in_channels == out_channels``); blocks are
        residual too. The last convolution is then zero-initialised so that the untrained
        network is exactly the identity.
    n2v2 : bool
        N2V2 variant: anti-aliased max-blur-pool downsampling and no skip connection at the
        top level (against checkerboard artefacts of blind-spot training).
    tilt_axis_split : bool
        Run the network on the even and on the odd Y rows separately, interleave the two
        outputs and blend neighbouring rows (:mod:`~tomorestore.models.tilt_axis_split`):
        Noise2Noise on one tomogram. :attr:`divisor` doubles (each half has half the rows).

    Examples
    --------
    >>> import torch
    >>> net = UNet3D(depth=2, base_channels=8)
    >>> net(torch.zeros(1, 1, 17, 23, 31)).shape
    torch.Size([1, 1, 17, 23, 31])
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        out_channels: int = 1,
        depth: int = 3,
        base_channels: int = 32,
        norm: str = "instance",
        residual: bool = True,
        n2v2: bool = False,
        tilt_axis_split: bool = False,
    ):
        super().__init__()
        if norm not in NORMS:
            raise InputError(f"unknown norm {norm!r}: choose one of {', '.join(NORMS)}")
        if depth < 1 or base_channels < 1 or in_channels < 1 or out_channels < 1:
            raise InputError(
                "depth, base_channels, in_channels and out_channels must be at least 1"
            )
        if residual and in_channels != out_channels:
            raise InputError(
                f"a residual U-Net needs in_channels == out_channels (got {in_channels} and "
                f"{out_channels}): set residual=False or use equal channel counts"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.depth = depth
        self.base_channels = base_channels
        self.norm = norm
        self.residual = residual
        self.n2v2 = n2v2
        self.tilt_axis_split = tilt_axis_split
        #: With ``tilt_axis_split``: blend neighbouring rows of the output (off in losses,
        #: see :func:`~tomorestore.models.tilt_axis_split.unblended`).
        self.blend = True

        widths = [base_channels * 2**level for level in range(depth + 1)]
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        previous = in_channels
        for level, width in enumerate(widths):
            self.encoders.append(ConvBlock(previous, width, norm=norm, residual=True))
            if level < depth:
                self.downs.append(MaxBlurPool3d(width) if n2v2 else nn.MaxPool3d(2))
            previous = width

        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level in reversed(range(depth)):
            width = widths[level]
            self.ups.append(UpConv(widths[level + 1], width))
            skip = not (n2v2 and level == 0)
            in_width = 2 * width if skip else width
            self.decoders.append(ConvBlock(in_width, width, norm=norm, residual=True))
        self.head = nn.Conv3d(widths[0], out_channels, 1)
        if residual:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    @property
    def divisor(self) -> int:
        """Inputs whose sizes are multiples of this need no internal padding."""
        return 2 ** (self.depth + int(self.tilt_axis_split))

    @property
    def min_input_shape(self) -> tuple[int, int, int]:
        """The smallest ``(Z, Y, X)`` a whole volume may have (:func:`min_input_shape`)."""
        return min_input_shape(self.depth, self.tilt_axis_split)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, in_channels, Z, Y, X)`` to ``(N, out_channels, Z, Y, X)``.

        The output has the input's dtype (float32 also under bf16 autocast).
        """
        if x.ndim != 5:
            raise InputError(f"UNet3D expects a (N, C, Z, Y, X) tensor, got shape {tuple(x.shape)}")
        if self.tilt_axis_split:
            parities, rows = split_rows(x)
            merged = merge_rows(self._forward(parities), rows)
            return blend_rows(merged) if self.blend else merged
        return self._forward(x)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-3:]
        padded, crop = _pad_to_multiple(x, 2**self.depth)

        skips = []
        y = padded
        for level, encoder in enumerate(self.encoders):
            y = encoder(y)
            if level < self.depth:
                skips.append(y)
                y = _downsample(self.downs[level], y)
        levels = reversed(range(self.depth))
        for up, decoder, level in zip(self.ups, self.decoders, levels, strict=True):
            y = up(y)
            skip = skips.pop()  # level's skip: dropped once used (less peak memory)
            if not (self.n2v2 and level == 0):
                y = torch.cat([y, skip], dim=1)
            del skip
            y = decoder(y)
        y = self.head(y)

        y = y[(slice(None), slice(None), *crop)]
        assert tuple(y.shape[-3:]) == tuple(size)
        if self.residual:
            y = y + x
        return y.to(x.dtype)


def min_input_shape(depth: int, tilt_axis_split: bool) -> tuple[int, int, int]:
    """The smallest ``(Z, Y, X)`` volume a U-Net of ``depth`` restores: twice its
    downsampling along each axis, along Y twice that again when its rows are split."""
    edge = 2 ** (int(depth) + 1)
    return (edge, edge * (1 + int(tilt_axis_split)), edge)


def _downsample(down: nn.Module, y: torch.Tensor) -> torch.Tensor:
    """``down(y)``; without gradients, in ``y``'s dtype even under autocast.

    CPU autocast runs ``max_pool3d`` in float32: a bf16 feature map is widened, pooled
    and narrowed again by the next convolution (twice: its first convolution and its skip).
    Max pooling is exact in any dtype, so at inference it runs in bf16 (same values;
    measured on the 2-core CPU: the whole network about 10% faster). Training keeps
    autocast's choice (the gradients then stay float32 there).
    """
    if torch.is_grad_enabled() or not torch.is_autocast_enabled(y.device.type):
        return down(y)
    with torch.autocast(device_type=y.device.type, enabled=False):
        return down(y)


def _pad_to_multiple(x: torch.Tensor, divisor: int) -> tuple[torch.Tensor, list[slice]]:
    """Pad the last three dims of ``x`` to multiples of ``divisor`` (reflect where possible).

    Returns the padded tensor and the slices that crop the original region back out.
    """
    pads: list[tuple[int, int]] = []
    crop: list[slice] = []
    reflectable = True
    for size in x.shape[-3:]:
        total = (-size) % divisor
        before = total // 2
        after = total - before
        pads.append((before, after))
        crop.append(slice(before, before + size))
        reflectable = reflectable and max(before, after) < size
    if not any(p for pair in pads for p in pair):
        return x, crop
    flat = [p for pair in reversed(pads) for p in pair]  # F.pad order: last dim first
    mode = "reflect" if reflectable else "replicate"
    return F.pad(x, flat, mode=mode), crop
