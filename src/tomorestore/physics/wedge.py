"""The missing-wedge operator of single-axis tilt tomography.

Convention (docs/architecture.md): a frequency ``k = (k_z, k_y, k_x)`` is *measured* when
``φ = atan2(k_z, k_x)`` folded into (−90°, 90°] lies in ``[tilt_min, tilt_max]``
(independent of ``k_y``); the ``k_y`` axis (``k_x = k_z = 0``) and the DC term are
measured. With ``tilt_axis="X"`` the roles of Y and X swap (``φ = atan2(k_z, k_y)``).

The test is evaluated without ``atan2``: the measured set is the double cone between the
two boundary directions ``(cos t, sin t)``, so with ``a`` the in-plane coordinate
(``k_x``) and ``b = k_z``::

    c_min = b cos(tilt_min) − a sin(tilt_min)     (∝ sin(φ − tilt_min))
    c_max = a sin(tilt_max) − b cos(tilt_max)     (∝ sin(tilt_max − φ))
    measured  ⇔  (c_min ≥ 0 and c_max ≥ 0) or (c_min ≤ 0 and c_max ≤ 0)

with a tolerance of ``1e-6·|k|`` so that points on a boundary plane are measured. Rotated
masks ``M(A k)`` evaluate the same test on the rotated coordinates ``A k``: binary and
exact, never interpolated.

On even-sized axes the Nyquist frequency −0.5 is also +0.5; a point is measured only if
it is measured for every sign of its Nyquist coordinates. This keeps the mask
Hermitian-symmetric on the discrete grid (and the ``rfft`` mask equal to half the full
one), so that ``apply`` is exactly real, self-adjoint and idempotent.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from .fourier import check_shape, frequency_grid

_BOUNDARY_TOLERANCE = (
    1e-6  # relative to |k|: points this close to a boundary plane count as measured
)
_MASK_CACHE_SIZE = 8

Predicate = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""``predicate(a, b, |k|)``: in-plane coordinate, ``k_z`` and frequency norm -> bool."""


def _normalise_device(device: torch.device | str | None) -> torch.device:
    dev = torch.device("cpu") if device is None else torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return dev


def _geometry_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


def _cone(a: torch.Tensor, b: torch.Tensor, norm: torch.Tensor, lo: float, hi: float):
    """Boolean: the in-plane direction ``(a, b)`` lies in the double cone [lo, hi] (deg)."""
    if hi - lo >= 180.0:
        full = torch.broadcast_shapes(a.shape, b.shape, norm.shape)
        return torch.ones(full, dtype=torch.bool, device=norm.device)
    lo_r, hi_r = math.radians(lo), math.radians(hi)
    c_min = b * math.cos(lo_r) - a * math.sin(lo_r)
    c_max = a * math.sin(hi_r) - b * math.cos(hi_r)
    tol = _BOUNDARY_TOLERANCE * norm
    return ((c_min >= -tol) & (c_max >= -tol)) | ((c_min <= tol) & (c_max <= tol))


def _as_rotations(rotation, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    rot = torch.as_tensor(rotation).to(device=device, dtype=dtype)
    if rot.shape[-2:] != (3, 3) or rot.ndim not in (2, 3):
        raise InputError(
            f"rotation must be a (3, 3) matrix or a batch (N, 3, 3), got shape {tuple(rot.shape)}."
        )
    return rot


def _evaluate_region(
    shape: tuple[int, int, int],
    device: torch.device,
    rfft: bool,
    rotation,
    tilt_axis: str,
    predicate: Predicate,
) -> torch.Tensor:
    """Evaluate ``predicate(a, b, |k|)`` on (rotated) grid coordinates, Nyquist-symmetrised.

    Returns a boolean tensor ``(Z, Y, X')`` or ``(N, Z, Y, X')`` for a batch of rotations.
    """
    dtype = _geometry_dtype(device)
    kz, ky, kx = frequency_grid(shape, device=device, rfft=rfft, dtype=dtype)
    rot = None if rotation is None else _as_rotations(rotation, device, dtype)
    in_plane_row = 2 if tilt_axis == "Y" else 1  # row of A k giving k_x (axis Y) or k_y (axis X)

    def on(kz_: torch.Tensor, ky_: torch.Tensor, kx_: torch.Tensor) -> torch.Tensor:
        norm = torch.sqrt(kz_**2 + ky_**2 + kx_**2)
        if rot is None:
            b = kz_
            a = kx_ if tilt_axis == "Y" else ky_
            return predicate(a, b, norm)
        batched = rot.reshape(-1, 3, 3)
        coords = (kz_, ky_, kx_)

        def row(i: int) -> torch.Tensor:
            total = 0
            for j in range(3):
                total = total + batched[:, i, j].reshape(-1, 1, 1, 1) * coords[j]
            return total

        out = predicate(row(in_plane_row), row(0), norm)  # |A k| = |k|
        return out if rot.ndim == 3 else out[0]

    grid = (kz, ky, kx)
    result = on(*grid)
    # A Nyquist coordinate (-0.5 on an even axis) also stands for +0.5: AND over every sign
    # combination of the Nyquist coordinates of a point, evaluated on those planes only.
    even_axes = [ax for ax in range(3) if shape[ax] % 2 == 0]
    for count in range(1, len(even_axes) + 1):
        for axes in itertools.combinations(even_axes, count):
            coords = list(grid)
            index: list[slice] = [slice(None)] * 3
            for ax in axes:
                nyq = shape[ax] // 2
                index[ax] = slice(nyq, nyq + 1)
                coords[ax] = -coords[ax].narrow(ax, nyq, 1)
            result[(..., *index)] &= on(*coords)
    return result


@functools.lru_cache(maxsize=_MASK_CACHE_SIZE)
def _cached_mask(wedge: MissingWedge, shape, device: torch.device, rfft: bool) -> torch.Tensor:
    return wedge._compute_mask(shape, device, rfft, None)


@dataclass(frozen=True)
class MissingWedge:
    """The missing wedge of a single-axis tilt series as a Fourier mask and operator.

    Parameters
    ----------
    tilt_min, tilt_max : float
        Tilt range in degrees (the numbers of an IMOD/AreTomo ``.tlt`` file), with
        −90 < tilt_min < tilt_max < 90. Asymmetric ranges are supported.
    tilt_axis : {"Y", "X"}
        The tilt axis among the volume axes ``(Z, Y, X)``; "Y" is the convention of
        reconstructed tomograms. With "X" the roles of Y and X swap.
    clip_nyquist : bool
        If True the mask is also zero outside the Nyquist sphere ``|k| > 0.5``.

    Examples
    --------
    >>> wedge = MissingWedge(-60, 60)
    >>> m = wedge.mask((32, 32, 32))          # float32 0/1 on the fftn grid
    >>> y = wedge.apply(torch.randn(2, 1, 32, 32, 32))
    """

    tilt_min: float
    tilt_max: float
    tilt_axis: str = "Y"
    clip_nyquist: bool = False

    def __post_init__(self) -> None:
        values = []
        for name in ("tilt_min", "tilt_max"):
            value = getattr(self, name)
            try:
                value = float(value)
            except (TypeError, ValueError) as err:
                raise InputError(f"{name} must be a number of degrees, got {value!r}.") from err
            if not math.isfinite(value) or not -90.0 < value < 90.0:
                raise InputError(
                    f"{name} = {value} is outside (-90, 90) degrees; give the tilt range of the "
                    "tilt series in degrees, e.g. (-60, 60)."
                )
            values.append(value)
        if values[0] >= values[1]:
            raise InputError(
                f"tilt_min ({values[0]}) must be smaller than tilt_max ({values[1]}); "
                "give the range as (tilt_min, tilt_max), e.g. (-48, 62)."
            )
        axis = str(self.tilt_axis).upper()
        if axis not in ("Y", "X"):
            raise InputError(
                f"tilt_axis must be 'Y' or 'X', got {self.tilt_axis!r}; reconstructed "
                "tomograms (Z, Y, X) are usually tilted about Y."
            )
        object.__setattr__(self, "tilt_min", values[0])
        object.__setattr__(self, "tilt_max", values[1])
        object.__setattr__(self, "tilt_axis", axis)
        object.__setattr__(self, "clip_nyquist", bool(self.clip_nyquist))

    @classmethod
    def from_tilt_angles(
        cls,
        angles: Sequence[float] | np.ndarray,
        *,
        tilt_axis: str = "Y",
        clip_nyquist: bool = False,
    ) -> MissingWedge:
        """The wedge of a tilt series with these tilt angles (degrees): their min and max."""
        arr = np.asarray(angles, dtype=np.float64).ravel()
        if arr.size < 2 or not np.all(np.isfinite(arr)):
            raise InputError(
                "Give at least two finite tilt angles (degrees) to define a tilt range."
            )
        return cls(
            float(arr.min()), float(arr.max()), tilt_axis=tilt_axis, clip_nyquist=clip_nyquist
        )

    # -- masks -------------------------------------------------------------------------
    def _predicate(self, a: torch.Tensor, b: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
        inside = _cone(a, b, norm, self.tilt_min, self.tilt_max)
        if self.clip_nyquist:
            inside = inside & (norm <= 0.5 + 1e-9)
        return inside

    def _compute_mask(self, shape, device: torch.device, rfft: bool, rotation) -> torch.Tensor:
        region = _evaluate_region(shape, device, rfft, rotation, self.tilt_axis, self._predicate)
        return region.to(torch.float32)

    def mask(
        self,
        shape: Sequence[int],
        *,
        device: torch.device | str | None = None,
        rfft: bool = False,
        rotation: torch.Tensor | np.ndarray | None = None,
    ) -> torch.Tensor:
        """Binary float32 mask (1 = measured) on the FFT grid of a ``(Z, Y, X)`` volume.

        Parameters
        ----------
        shape : sequence of int
            ``(Z, Y, X)`` size of the real-space volume.
        device : torch.device or str, optional
            Where to create the mask (default CPU).
        rfft : bool
            If True, the grid of :func:`torch.fft.rfftn` (last axis ``X // 2 + 1``).
        rotation : array-like, optional
            A rotation matrix ``A`` (3, 3) acting on ``(z, y, x)`` or a batch ``(N, 3, 3)``:
            returns ``M(A k)``, the mask of the volume rotated as ``v'(r) = v(A r)``,
            shape ``(N, Z, Y, X')`` for a batch. Computed analytically on the rotated
            frequency coordinates: binary and exact.

        Returns
        -------
        torch.Tensor
            float32 0/1 mask, a new tensor (safe to modify).
        """
        size = check_shape(shape)
        dev = _normalise_device(device)
        if rotation is None:
            return _cached_mask(self, size, dev, bool(rfft)).clone()
        return self._compute_mask(size, dev, bool(rfft), rotation)

    def measured_fraction(self, shape: Sequence[int]) -> float:
        """Fraction of the ``fftn`` grid of a volume of this shape that is measured."""
        size = check_shape(shape)
        return float(_cached_mask(self, size, torch.device("cpu"), False).mean())

    # -- operator ----------------------------------------------------------------------
    def apply(
        self, x: torch.Tensor, *, rotation: torch.Tensor | np.ndarray | None = None
    ) -> torch.Tensor:
        """Wedge-filter volumes: ``F⁻¹[M · F x]`` over the last three dims.

        A real, linear, self-adjoint projection (``apply(apply(x)) == apply(x)``).

        Parameters
        ----------
        x : torch.Tensor
            Real tensor ``(..., Z, Y, X)``, any leading dims, on any device.
        rotation : array-like, optional
            ``(3, 3)``: filter with the rotated mask ``M(A k)``. ``(N, 3, 3)``: one rotation
            per entry of the first dim of ``x`` (``x.shape[0] == N``, ``x.ndim >= 4``).

        Returns
        -------
        torch.Tensor
            Same shape, dtype and device as ``x``.
        """
        if not isinstance(x, torch.Tensor) or x.is_complex() or x.ndim < 3:
            raise InputError(
                "MissingWedge.apply needs a real torch tensor (..., Z, Y, X); convert arrays "
                "with torch.as_tensor."
            )
        shape = tuple(x.shape[-3:])
        dev = _normalise_device(x.device)
        work = x if x.dtype in (torch.float32, torch.float64) else x.to(torch.float32)
        if rotation is None:
            mask = _cached_mask(self, shape, dev, True)
        else:
            mask = self._compute_mask(shape, dev, True, rotation)
            if mask.ndim == 4:
                n = mask.shape[0]
                if x.ndim < 4 or x.shape[0] != n:
                    raise InputError(
                        f"{n} rotations need a batch whose first dim is {n}, got x of shape "
                        f"{tuple(x.shape)}."
                    )
                mask = mask.reshape(n, *([1] * (x.ndim - 4)), *mask.shape[1:])
        spectrum = torch.fft.rfftn(work, dim=(-3, -2, -1))
        spectrum = spectrum * mask.to(work.dtype)
        out = torch.fft.irfftn(spectrum, s=shape, dim=(-3, -2, -1))
        return out.to(x.dtype)


def wedge_region_masks(
    wedge: MissingWedge,
    shape: Sequence[int],
    margin_deg: float = 10.0,
    *,
    device: torch.device | str | None = None,
    clip_nyquist: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fourier regions for evaluation: deep inside the missing wedge, and well measured.

    Parameters
    ----------
    wedge : MissingWedge
        The tilt range (its own ``clip_nyquist`` is ignored here).
    shape : sequence of int
        ``(Z, Y, X)`` size of the volumes.
    margin_deg : float
        Angular distance (degrees, ≥ 0) that a frequency must keep from the wedge boundary.
    device : torch.device or str, optional
        Where to create the masks.
    clip_nyquist : bool
        Keep only ``|k| <= 0.5`` (the Nyquist sphere), so that all directions weigh alike.

    Returns
    -------
    inside_missing, measured : torch.Tensor
        Boolean masks on the full ``fftn`` grid: frequencies at least ``margin_deg`` inside
        the missing wedge, and at least ``margin_deg`` inside the measured range. Both
        exclude the DC term; use them with :func:`tomorestore.physics.fourier_correlation`.
    """
    size = check_shape(shape)
    margin = float(margin_deg)
    if not math.isfinite(margin) or margin < 0:
        raise InputError(f"margin_deg must be a non-negative number of degrees, got {margin_deg}.")
    lo, hi = wedge.tilt_min, wedge.tilt_max
    if hi - lo + 2 * margin >= 180.0 or hi - lo <= 2 * margin:
        raise InputError(
            f"A margin of {margin} degrees leaves no region for the tilt range ({lo}, {hi}); "
            "use a smaller margin_deg."
        )
    dev = _normalise_device(device)

    def keep(norm: torch.Tensor) -> torch.Tensor:
        ok = norm > 0
        return ok & (norm <= 0.5 + 1e-9) if clip_nyquist else ok

    def missing(a, b, norm):
        return ~_cone(a, b, norm, lo - margin, hi + margin) & keep(norm)

    def measured(a, b, norm):
        return _cone(a, b, norm, lo + margin, hi - margin) & keep(norm)

    inside = _evaluate_region(size, dev, False, None, wedge.tilt_axis, missing)
    outside = _evaluate_region(size, dev, False, None, wedge.tilt_axis, measured)
    return inside, outside
