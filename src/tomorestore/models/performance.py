"""Speed settings: bf16 autocast and the ``channels_last_3d`` memory format.

Measured on the 2-core development CPU (3-level U-Net, 16 base channels, batch 4 x 64^3,
Adam): fp32 1.81 s/step, ``channels_last_3d`` 1.20, bf16 autocast 1.14, both 0.78.
Both settings are numerically safe for this network: autocast keeps reductions such as
normalisation in float32, and :class:`~tomorestore.models.UNet3D` returns float32.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import torch

from .cpu_allocator import keep_freed_memory

if TYPE_CHECKING:
    from torch import nn


def _device_type(device: torch.device | str) -> str:
    return torch.device(device).type


def bf16_supported(device: torch.device | str) -> bool:
    """Whether bf16 autocast is available on ``device`` (CPU always; CUDA if the GPU has it)."""
    kind = _device_type(device)
    if kind == "cpu":
        return True
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return False


def autocast_context(
    device: torch.device | str, enabled: bool
) -> contextlib.AbstractContextManager:
    """A bf16 :func:`torch.autocast` context for ``device`` when ``enabled``.

    Returns a no-op context when disabled or when the device has no bf16 support
    (old GPUs, MPS): the code then runs in float32.

    Examples
    --------
    >>> with autocast_context("cpu", enabled=True):
    ...     pass
    """
    if not enabled or not bf16_supported(device):
        return contextlib.nullcontext()
    return torch.autocast(device_type=_device_type(device), dtype=torch.bfloat16)


def to_channels_last_3d(x: torch.Tensor) -> torch.Tensor:
    """``x`` in the ``channels_last_3d`` memory format (a 5D tensor; others unchanged)."""
    if x.ndim != 5:
        return x
    return x.contiguous(memory_format=torch.channels_last_3d)


def prepare_for_speed(
    model: nn.Module,
    device: torch.device | str,
    *,
    channels_last: bool = True,
    training: bool = False,
) -> nn.Module:
    """Move ``model`` to ``device`` (in place) and, if asked, to ``channels_last_3d``.

    On the CPU it also asks ``malloc`` to keep freed memory for reuse
    (:func:`~tomorestore.models.cpu_allocator.keep_freed_memory`, with the training pad
    when ``training``; 1.2x faster restores, 1.03-1.4x faster training steps).

    Feed the model inputs converted with :func:`to_channels_last_3d` to profit.
    Returns the same module.
    """
    model.to(device)
    if _device_type(device) == "cpu":
        keep_freed_memory(training=training)
    if channels_last:
        model.to(memory_format=torch.channels_last_3d)
    return model
