"""Fourier-space helpers: frequency grids and correlations restricted to Fourier regions.

Frequencies follow :func:`torch.fft.fftfreq` (cycles/voxel) on each axis of a ``(Z, Y, X)``
volume; with ``rfft=True`` the last axis follows :func:`torch.fft.rfftfreq`, matching the
output of :func:`torch.fft.rfftn`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..errors import InputError


def check_shape(shape: Sequence[int], *, name: str = "shape") -> tuple[int, int, int]:
    """Validate a ``(Z, Y, X)`` volume shape.

    Parameters
    ----------
    shape : sequence of int
        Three positive sizes.
    name : str
        What the shape describes, for the error message.

    Returns
    -------
    tuple of int
        The shape as a tuple of three Python ints.

    Raises
    ------
    InputError
        If the shape does not have three positive integer entries.
    """
    try:
        sizes = tuple(int(s) for s in shape)
    except (TypeError, ValueError) as err:
        raise InputError(
            f"{name} must be three positive integers (Z, Y, X), got {shape!r}."
        ) from err
    if len(sizes) != 3 or min(sizes) < 1:
        raise InputError(
            f"{name} must be three positive integers (Z, Y, X), got {tuple(shape)!r}; "
            "pass the shape of a 3D volume."
        )
    return sizes  # type: ignore[return-value]


def frequency_grid(
    shape: Sequence[int],
    *,
    device: torch.device | str | None = None,
    rfft: bool = False,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frequencies ``(k_z, k_y, k_x)`` in cycles/voxel on the FFT grid of a volume.

    Parameters
    ----------
    shape : sequence of int
        ``(Z, Y, X)`` size of the real-space volume.
    device : torch.device or str, optional
        Where to create the tensors (default CPU).
    rfft : bool
        If True the last axis holds ``rfftfreq(X)`` (``X // 2 + 1`` entries), the grid of
        :func:`torch.fft.rfftn`; otherwise ``fftfreq(X)``.
    dtype : torch.dtype
        Floating dtype of the result.

    Returns
    -------
    tuple of torch.Tensor
        ``k_z`` of shape ``(Z, 1, 1)``, ``k_y`` of shape ``(1, Y, 1)`` and ``k_x`` of shape
        ``(1, 1, X)`` (or ``(1, 1, X // 2 + 1)``): they broadcast to the full grid.
    """
    nz, ny, nx = check_shape(shape)
    kz = torch.fft.fftfreq(nz, device=device, dtype=dtype).reshape(nz, 1, 1)
    ky = torch.fft.fftfreq(ny, device=device, dtype=dtype).reshape(1, ny, 1)
    if rfft:
        kx = torch.fft.rfftfreq(nx, device=device, dtype=dtype).reshape(1, 1, nx // 2 + 1)
    else:
        kx = torch.fft.fftfreq(nx, device=device, dtype=dtype).reshape(1, 1, nx)
    return kz, ky, kx


def _as_real_tensor(x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.is_complex() or t.ndim < 3:
        raise InputError(f"{name} must be a real array with at least 3 dimensions (…, Z, Y, X).")
    if not t.is_floating_point() or t.dtype in (torch.float16, torch.bfloat16):
        t = t.to(torch.float32)
    return t


def _region_on(region: torch.Tensor | np.ndarray, shape: torch.Size, device: torch.device):
    reg = torch.as_tensor(region, device=device).to(torch.bool)
    if tuple(reg.shape[-3:]) != tuple(shape[-3:]):
        raise InputError(
            f"The Fourier region has shape {tuple(reg.shape)} but the volumes have "
            f"{tuple(shape[-3:])}; build the region on the full fftn grid of the volumes."
        )
    return reg


def fourier_correlation(
    a: torch.Tensor | np.ndarray,
    b: torch.Tensor | np.ndarray,
    region: torch.Tensor | np.ndarray | None = None,
) -> torch.Tensor:
    """Normalised correlation of two volumes restricted to a Fourier region.

    ``Re Σ_R A·conj(B) / sqrt(Σ_R |A|² · Σ_R |B|²)`` with ``A = fftn(a)``, ``B = fftn(b)``
    over the last three dims and ``R`` the region (all frequencies when None). For a region
    that excludes the DC term this is the Pearson correlation of the band-limited volumes.

    Parameters
    ----------
    a, b : torch.Tensor or numpy.ndarray
        Real volumes ``(..., Z, Y, X)`` of one shape.
    region : torch.Tensor or numpy.ndarray, optional
        Boolean ``(Z, Y, X)`` mask on the full ``fftn`` grid (see :func:`frequency_grid`),
        e.g. one of :func:`tomorestore.physics.wedge_region_masks`.

    Returns
    -------
    torch.Tensor
        The correlation per leading index (a 0-dim tensor for 3D input; ``float(...)`` it).
        0 where either volume has no power in the region.
    """
    ta = _as_real_tensor(a, "a")
    tb = _as_real_tensor(b, "b").to(ta.device)
    if ta.shape != tb.shape:
        raise InputError(
            f"a and b must have one shape, got {tuple(ta.shape)} and {tuple(tb.shape)}."
        )
    fa = torch.fft.fftn(ta.to(torch.float64), dim=(-3, -2, -1))
    fb = torch.fft.fftn(tb.to(torch.float64), dim=(-3, -2, -1))
    weight = torch.ones(ta.shape[-3:], dtype=torch.float64, device=ta.device)
    if region is not None:
        weight = _region_on(region, ta.shape, ta.device).to(torch.float64)
    dims = (-3, -2, -1)
    cross = (fa * fb.conj()).real.mul(weight).sum(dims)
    pa = fa.abs().square().mul(weight).sum(dims)
    pb = fb.abs().square().mul(weight).sum(dims)
    denom = torch.sqrt(pa * pb)
    return torch.where(denom > 0, cross / denom.clamp_min(1e-300), torch.zeros_like(cross))


def fourier_shell_correlation(
    a: torch.Tensor | np.ndarray,
    b: torch.Tensor | np.ndarray,
    *,
    n_shells: int | None = None,
    region: torch.Tensor | np.ndarray | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fourier shell correlation of two volumes, optionally inside a Fourier region.

    Parameters
    ----------
    a, b : torch.Tensor or numpy.ndarray
        Real ``(Z, Y, X)`` volumes of one shape.
    n_shells : int, optional
        Number of shells between 0 and 0.5 cycles/voxel (default: half the smallest size).
    region : torch.Tensor or numpy.ndarray, optional
        Boolean ``(Z, Y, X)`` mask on the full ``fftn`` grid; only these frequencies count
        (e.g. the inside of the missing wedge).

    Returns
    -------
    frequencies : torch.Tensor
        ``(n_shells,)`` shell centres in cycles/voxel (float64, CPU).
    fsc : torch.Tensor
        ``(n_shells,)`` correlation per shell (float64, CPU); NaN for an empty shell.
    """
    ta = _as_real_tensor(a, "a")
    tb = _as_real_tensor(b, "b").to(ta.device)
    if ta.ndim != 3 or ta.shape != tb.shape:
        raise InputError(
            "fourier_shell_correlation needs two 3D volumes of one shape, got "
            f"{tuple(ta.shape)} and {tuple(tb.shape)}."
        )
    n = int(n_shells) if n_shells is not None else max(1, min(ta.shape) // 2)
    if n < 1:
        raise InputError(f"n_shells must be at least 1, got {n_shells}.")
    fa = torch.fft.fftn(ta.to(torch.float64))
    fb = torch.fft.fftn(tb.to(torch.float64))
    kz, ky, kx = frequency_grid(ta.shape, device=ta.device, dtype=torch.float64)
    radius = torch.sqrt(kz**2 + ky**2 + kx**2)
    shell = torch.floor(radius / 0.5 * n).long()
    keep = shell < n
    if region is not None:
        keep = keep & _region_on(region, ta.shape, ta.device)
    idx = shell[keep]
    cross = torch.zeros(n, dtype=torch.float64, device=ta.device)
    pa = torch.zeros_like(cross)
    pb = torch.zeros_like(cross)
    cross.index_add_(0, idx, (fa * fb.conj()).real[keep])
    pa.index_add_(0, idx, fa.abs().square()[keep])
    pb.index_add_(0, idx, fb.abs().square()[keep])
    denom = torch.sqrt(pa * pb)
    fsc = torch.where(
        denom > 0, cross / denom.clamp_min(1e-300), torch.full_like(cross, float("nan"))
    )
    freqs = (torch.arange(n, dtype=torch.float64) + 0.5) * 0.5 / n
    return freqs, fsc.cpu()
