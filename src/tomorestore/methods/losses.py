"""Loss pieces shared by the methods (all computed in float32).

The Fourier losses use Parseval's theorem: for a real error ``e`` of ``N`` voxels and a
real, point-symmetric weight ``W(k) = W(-k)`` (wedge masks and their rotations are),

    mean_r |F⁻¹[√W · F e](r)|² = (1/N) Σ_k W(k) |F e(k)|² / N,

so a loss "in real space after a Fourier mask" is a weighted sum over the ``rfftn`` half
grid, where every frequency except the ``k_x = 0`` and ``k_x = Nyquist`` planes stands for
itself and its mirror image.
"""

from __future__ import annotations

import torch


def rfft_multiplicity(size_x: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """How many frequencies of the full grid each ``rfftn`` column stands for (1 or 2).

    Parameters
    ----------
    size_x : int
        Real-space size of the last axis.
    device : torch.device or str, optional
        Device of the result.

    Returns
    -------
    torch.Tensor
        ``(size_x // 2 + 1,)`` float32.
    """
    weight = torch.full((size_x // 2 + 1,), 2.0, device=device)
    weight[0] = 1.0
    if size_x % 2 == 0:
        weight[-1] = 1.0
    return weight


def fourier_weighted_mse(error: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``mean |F⁻¹[√W · F e]|²`` averaged over the batch, computed on the rfft grid.

    Parameters
    ----------
    error : torch.Tensor
        ``(..., Z, Y, X)`` real error (cast to float32).
    weight : torch.Tensor
        Non-negative, point-symmetric weight on the ``rfftn`` grid, broadcastable to
        ``(..., Z, Y, X // 2 + 1)``. For a binary mask ``M`` this is the mean squared
        real-space error after the Fourier filter ``M``.

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    error = error.float()
    size_x = error.shape[-1]
    n_voxels = error.shape[-3] * error.shape[-2] * size_x
    power = torch.fft.rfftn(error, dim=(-3, -2, -1), norm="ortho").abs().square()
    weighted = power * weight * rfft_multiplicity(size_x, device=error.device)
    batch = error.numel() // n_voxels
    return weighted.sum() / (n_voxels * batch)


def mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error in float32."""
    return (prediction.float() - target.float()).square().mean()


def fourier_filter(x: torch.Tensor, mask_rfft: torch.Tensor) -> torch.Tensor:
    """``F⁻¹[M · F x]`` over the last three dims with an ``rfftn``-grid mask (float32).

    Parameters
    ----------
    x : torch.Tensor
        ``(..., Z, Y, X)`` real tensor.
    mask_rfft : torch.Tensor
        Mask broadcastable to ``(..., Z, Y, X // 2 + 1)``.

    Returns
    -------
    torch.Tensor
        Real tensor of the shape of ``x``.
    """
    spectrum = torch.fft.rfftn(x.float(), dim=(-3, -2, -1))
    return torch.fft.irfftn(spectrum * mask_rfft, s=x.shape[-3:], dim=(-3, -2, -1))
