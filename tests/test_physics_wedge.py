"""Tests of the missing-wedge operator and the Fourier evaluation helpers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from tomorestore.errors import InputError
from tomorestore.physics import (
    MissingWedge,
    cube_rotations,
    fourier_correlation,
    fourier_shell_correlation,
    frequency_grid,
    random_rotations,
    rotate_cube,
    wedge_region_masks,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
WEDGES = [
    MissingWedge(-60, 60),
    MissingWedge(-30, 60),
    MissingWedge(-48, 62, tilt_axis="X"),
]
SHAPES = [(12, 12, 12), (11, 13, 10), (9, 9, 9)]


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return torch.device(request.param)


def _grid_np(shape, rfft=False):
    kz, ky, kx = (k.double().numpy() for k in frequency_grid(shape, rfft=rfft))
    return np.broadcast_arrays(kz, ky, kx)


def _reference_measured(kz, ky, kx, wedge: MissingWedge, tol_deg=1e-6):
    """The documented test with atan2, folded into (-90, 90], float64."""
    a = kx if wedge.tilt_axis == "Y" else ky
    phi = np.degrees(np.arctan2(kz, a))
    phi = np.where(phi > 90, phi - 180, phi)
    phi = np.where(phi <= -90, phi + 180, phi)
    inside = (phi >= wedge.tilt_min - tol_deg) & (phi <= wedge.tilt_max + tol_deg)
    axis = (np.abs(kz) < 1e-12) & (np.abs(a) < 1e-12)
    return inside | axis


def _reference_mask(shape, wedge, rotation=None, rfft=False):
    """Reference on (rotated) coordinates, for every sign of the Nyquist coordinates."""
    k = _grid_np(shape, rfft=rfft)
    result = np.ones(k[0].shape, dtype=bool)
    for signs in itertools.product((1, -1), repeat=3):
        kz, ky, kx = (np.where(np.abs(c) == 0.5, s * c, c) for s, c in zip(signs, k, strict=True))
        if rotation is not None:
            a = np.asarray(rotation, dtype=np.float64)
            kz, ky, kx = (a[i, 0] * kz + a[i, 1] * ky + a[i, 2] * kx for i in range(3))
        result &= _reference_measured(kz, ky, kx, wedge)
    return result


def _boundary_distance_deg(shape, wedge, rotation):
    """Angular distance (deg) of each rotated frequency from the nearest wedge boundary."""
    kz, ky, kx = _grid_np(shape)
    a = np.asarray(rotation, dtype=np.float64)
    rz, ry, rx = (a[i, 0] * kz + a[i, 1] * ky + a[i, 2] * kx for i in range(3))
    inplane = rx if wedge.tilt_axis == "Y" else ry
    phi = np.degrees(np.arctan2(rz, inplane))
    phi = np.where(phi > 90, phi - 180, phi)
    phi = np.where(phi <= -90, phi + 180, phi)
    return np.minimum(np.abs(phi - wedge.tilt_min), np.abs(phi - wedge.tilt_max))


# -- validation -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [(-90, 60), (-60, 90), (-100, 10), (10, 10), (20, 10), (float("nan"), 10), ("a", 10)],
)
def test_bad_tilt_range_raises(args):
    with pytest.raises(InputError, match="tilt"):
        MissingWedge(*args)


def test_bad_axis_and_shape_raise():
    with pytest.raises(InputError, match="tilt_axis"):
        MissingWedge(-60, 60, tilt_axis="Z")
    with pytest.raises(InputError, match="shape"):
        MissingWedge(-60, 60).mask((4, 4))
    with pytest.raises(InputError, match="shape"):
        MissingWedge(-60, 60).mask((4, 0, 4))
    with pytest.raises(InputError, match="rotation"):
        MissingWedge(-60, 60).mask((4, 4, 4), rotation=torch.eye(4))


def test_from_tilt_angles_and_normalisation():
    wedge = MissingWedge.from_tilt_angles(np.arange(-48, 63, 2.0), tilt_axis="x")
    assert (wedge.tilt_min, wedge.tilt_max, wedge.tilt_axis) == (-48.0, 62.0, "X")
    assert MissingWedge(-60, 60) == MissingWedge(-60.0, 60.0, tilt_axis="y")


# -- geometry -------------------------------------------------------------------------
@pytest.mark.parametrize("theta", [30.0, 45.0, 60.0, 75.0])
@pytest.mark.parametrize("shape", [(16, 12, 20), (15, 9, 17)])
def test_symmetric_mask_is_double_cone(theta, shape, device):
    mask = MissingWedge(-theta, theta).mask(shape, device=device)
    assert mask.device.type == device.type and mask.dtype == torch.float32
    kz, _, kx = _grid_np(shape)
    expected = np.abs(kz) <= math.tan(math.radians(theta)) * np.abs(kx) + 1e-9
    np.testing.assert_array_equal(mask.cpu().numpy(), expected.astype(np.float32))
    assert torch.all(mask[0, :, 0] == 1)  # the k_y axis (and DC) is measured


@pytest.mark.parametrize("wedge", WEDGES, ids=str)
@pytest.mark.parametrize("shape", SHAPES)
def test_mask_matches_atan2_reference(wedge, shape, device):
    mask = wedge.mask(shape, device=device).cpu().numpy()
    np.testing.assert_array_equal(mask, _reference_mask(shape, wedge).astype(np.float32))
    assert set(np.unique(mask)) <= {0.0, 1.0}


def test_handedness_of_asymmetric_range():
    """φ = atan2(k_z, k_x) = +45° is measured for (-30, 60), -45° is not (and vice versa)."""
    n = 9
    mask = MissingWedge(-30, 60).mask((n, n, n))
    mirrored = MissingWedge(-60, 30).mask((n, n, n))
    # k_z = k_x = 2/9: φ = 45°;  k_z = -2/9, k_x = 2/9: φ = -45°
    assert mask[2, 0, 2] == 1 and mask[-2, 0, 2] == 0
    assert mirrored[2, 0, 2] == 0 and mirrored[-2, 0, 2] == 1
    # the central-slice symmetry k -> -k holds
    assert mask[-2, 0, -2] == 1 and mask[2, 0, -2] == 0


def test_tilt_axis_x_swaps_y_and_x():
    shape = (10, 14, 8)
    about_x = MissingWedge(-40, 55, tilt_axis="X").mask(shape)
    about_y = MissingWedge(-40, 55).mask((shape[0], shape[2], shape[1]))
    torch.testing.assert_close(about_x, about_y.transpose(-1, -2), rtol=0, atol=0)
    assert torch.all(about_x[0, 0, :] == 1)  # the k_x axis is measured


@pytest.mark.parametrize("shape", [(12, 10, 16), (11, 9, 13)])
@pytest.mark.parametrize("rotated", [False, True])
def test_rfft_mask_is_first_half_of_full_mask(shape, rotated, device):
    wedge = MissingWedge(-35, 58)
    rotation = random_rotations(3, generator=torch.Generator().manual_seed(1)) if rotated else None
    full = wedge.mask(shape, device=device, rotation=rotation)
    half = wedge.mask(shape, device=device, rfft=True, rotation=rotation)
    assert half.shape[-1] == shape[-1] // 2 + 1
    torch.testing.assert_close(half, full[..., : shape[-1] // 2 + 1], rtol=0, atol=0)


@pytest.mark.parametrize("tilt", [(-60.0, 60.0), (-40.0, 40.0), (-30.0, 60.0), (-48.0, 62.0)])
def test_measured_fraction_in_nyquist_ball(tilt):
    shape = (64, 64, 64)
    wedge = MissingWedge(*tilt, clip_nyquist=True)
    mask = wedge.mask(shape)
    kz, ky, kx = frequency_grid(shape)
    ball = (kz**2 + ky**2 + kx**2) <= 0.25
    assert torch.all(mask[~ball] == 0)
    fraction = float(mask[ball].mean())
    assert fraction == pytest.approx((tilt[1] - tilt[0]) / 180.0, abs=0.01)
    assert wedge.measured_fraction(shape) == pytest.approx(float(mask.mean()))


def test_measured_fraction_on_the_cube_grid():
    # on a square (k_z, k_x) grid the ±45° double cone covers exactly half of the plane
    # (plus its boundary diagonals, which count as measured)
    n = 32
    fraction = MissingWedge(-45, 45).measured_fraction((n, n, n))
    assert 0.5 <= fraction <= 0.5 + 3.0 / n


def test_mask_returns_a_fresh_tensor():
    wedge = MissingWedge(-60, 60)
    first = wedge.mask((8, 8, 8))
    first.zero_()
    assert wedge.mask((8, 8, 8)).sum() > 0


# -- the operator ---------------------------------------------------------------------
@pytest.mark.parametrize("wedge", WEDGES, ids=str)
@pytest.mark.parametrize("shape", SHAPES)
def test_apply_is_idempotent_and_self_adjoint(wedge, shape, device):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, *shape, generator=gen, dtype=torch.float64).to(device)
    y = torch.randn(2, 1, *shape, generator=gen, dtype=torch.float64).to(device)
    ax, ay = wedge.apply(x), wedge.apply(y)
    assert ax.shape == x.shape and ax.dtype == x.dtype and ax.device == x.device
    torch.testing.assert_close(wedge.apply(ax), ax, rtol=0, atol=1e-12)
    lhs, rhs = float((ax * y).sum()), float((x * ay).sum())
    assert abs(lhs - rhs) <= 1e-5 * abs(lhs)
    # equal to the full complex FFT with the full mask: the mask is Hermitian-symmetric
    full = torch.fft.ifftn(
        wedge.mask(shape, device=device) * torch.fft.fftn(x, dim=(-3, -2, -1)), dim=(-3, -2, -1)
    )
    assert float(full.imag.abs().max()) < 1e-12
    torch.testing.assert_close(full.real, ax, rtol=0, atol=1e-12)
    # a projection: it removes power and leaves the measured part
    assert float(ax.square().sum()) < float(x.square().sum())


def test_apply_float32_and_unbatched(device):
    wedge = MissingWedge(-30, 60)
    x = torch.randn(10, 12, 14, generator=torch.Generator().manual_seed(3)).to(device)
    y = wedge.apply(x)
    assert y.dtype == torch.float32 and y.shape == x.shape
    torch.testing.assert_close(wedge.apply(y), y, rtol=0, atol=1e-5)
    with pytest.raises(InputError):
        wedge.apply(x.cpu().numpy())


@pytest.mark.parametrize("wedge", WEDGES, ids=str)
def test_rotated_apply_batched(wedge, device):
    shape = (10, 11, 12)
    gen = torch.Generator().manual_seed(5)
    rot = random_rotations(3, generator=gen).to(device)
    x = torch.randn(3, 2, *shape, generator=gen, dtype=torch.float64).to(device)
    y = torch.randn(3, 2, *shape, generator=gen, dtype=torch.float64).to(device)
    ax, ay = wedge.apply(x, rotation=rot), wedge.apply(y, rotation=rot)
    torch.testing.assert_close(wedge.apply(ax, rotation=rot), ax, rtol=0, atol=1e-12)
    for i in range(3):  # a batch of rotations = one rotation per sample
        torch.testing.assert_close(ax[i], wedge.apply(x[i], rotation=rot[i]), rtol=0, atol=1e-12)
        lhs, rhs = float((ax[i] * y[i]).sum()), float((x[i] * ay[i]).sum())
        assert abs(lhs - rhs) <= 1e-5 * abs(lhs)
    with pytest.raises(InputError, match="rotations"):
        wedge.apply(x[:2], rotation=rot)


# -- rotated masks --------------------------------------------------------------------
@pytest.mark.parametrize("wedge", WEDGES, ids=str)
@pytest.mark.parametrize("shape", [(12, 12, 12), (13, 11, 10)])
def test_rotated_mask_is_the_wedge_test_on_rotated_coordinates(wedge, shape, device):
    rot = random_rotations(4, generator=torch.Generator().manual_seed(7))
    masks = wedge.mask(shape, device=device, rotation=rot.to(device)).cpu().numpy()
    assert masks.shape == (4, *shape) and set(np.unique(masks)) <= {0.0, 1.0}
    for i in range(4):
        expected = _reference_mask(shape, wedge, rotation=rot[i].numpy())
        differ = masks[i] != expected
        # float32 matrices: only frequencies within 1e-4 degree of a boundary may differ
        assert np.all(_boundary_distance_deg(shape, wedge, rot[i].numpy())[differ] < 1e-4)
        assert differ.sum() <= 2


def test_rotation_about_tilt_axis_shifts_the_range():
    """A rotation by α about k_y in the (z, x) plane maps φ to φ + α: M(A k) = M_{[lo-α, hi-α]}."""
    alpha = math.radians(7.0)
    c, s = math.cos(alpha), math.sin(alpha)
    rot = torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=torch.float64)
    shape = (15, 6, 17)
    rotated = MissingWedge(-30, 60).mask(shape, rotation=rot)
    shifted = MissingWedge(-37, 53).mask(shape)
    torch.testing.assert_close(rotated, shifted, rtol=0, atol=0)
    identity = MissingWedge(-30, 60).mask(shape, rotation=torch.eye(3))
    torch.testing.assert_close(identity, MissingWedge(-30, 60).mask(shape), rtol=0, atol=0)


@pytest.mark.parametrize("n", [12, 11])
@pytest.mark.parametrize("wedge", WEDGES, ids=str)
def test_cube_rotated_wedge_has_no_power_outside_rotated_mask(n, wedge, device):
    x = torch.randn(n, n, n, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    filtered = wedge.apply(x.to(device))
    rots = cube_rotations(device=device)
    masks = wedge.mask((n, n, n), device=device, rotation=rots)
    for i in range(24):
        power = torch.fft.fftn(rotate_cube(filtered, i)).abs().square()
        outside = float((power * (1 - masks[i])).sum()) / float(power.sum())
        assert outside < 1e-10, (i, outside)


def test_clip_nyquist_zeroes_corners():
    shape = (10, 10, 10)
    wedge = MissingWedge(-60, 60, clip_nyquist=True)
    mask = wedge.mask(shape)
    kz, ky, kx = frequency_grid(shape)
    radius = torch.sqrt(kz**2 + ky**2 + kx**2).expand(shape)
    assert torch.all(mask[radius > 0.5] == 0)
    torch.testing.assert_close(
        mask[radius <= 0.5], MissingWedge(-60, 60).mask(shape)[radius <= 0.5]
    )


# -- evaluation helpers ---------------------------------------------------------------
def test_wedge_region_masks_and_fourier_correlation(device):
    shape = (16, 16, 16)
    wedge = MissingWedge(-30, 60)
    inside, measured = wedge_region_masks(wedge, shape, margin_deg=10, device=device)
    mask = wedge.mask(shape, device=device).bool()
    assert inside.dtype == torch.bool and inside.any() and measured.any()
    assert not torch.any(inside & mask) and torch.all(mask[measured])
    assert not inside[0, 0, 0] and not measured[0, 0, 0]  # DC excluded
    # margins: the regions of a wider / narrower wedge
    assert not torch.any(inside & MissingWedge(-40, 70).mask(shape, device=device).bool())
    assert torch.all(MissingWedge(-20, 50).mask(shape, device=device).bool()[measured])

    gen = torch.Generator().manual_seed(4)
    x = torch.randn(shape, generator=gen).to(device)
    noise = torch.randn(shape, generator=gen).to(device)
    filtered = wedge.apply(x)
    assert float(fourier_correlation(x, x, inside)) == pytest.approx(1.0)
    assert float(fourier_correlation(x, filtered, measured)) == pytest.approx(1.0)
    # the filtered volume adds nothing inside the missing wedge
    torch.testing.assert_close(
        fourier_correlation(x, filtered + noise, inside), fourier_correlation(x, noise, inside)
    )
    assert abs(float(fourier_correlation(x, noise, measured))) < 0.2
    assert float(fourier_correlation(x, -x)) == pytest.approx(-1.0)

    freqs, fsc = fourier_shell_correlation(x, filtered, region=measured)
    assert freqs.shape == fsc.shape == (8,)
    valid = ~torch.isnan(fsc)
    assert valid.sum() >= 6 and torch.allclose(fsc[valid], torch.ones_like(fsc[valid]))
    _, fsc_missing = fourier_shell_correlation(x, filtered + noise, region=inside)
    _, fsc_noise = fourier_shell_correlation(x, noise, region=inside)
    torch.testing.assert_close(fsc_missing, fsc_noise, equal_nan=True)


def test_wedge_region_masks_bad_margin():
    with pytest.raises(InputError, match="margin"):
        wedge_region_masks(MissingWedge(-80, 80), (8, 8, 8), margin_deg=15)
    with pytest.raises(InputError, match="margin"):
        wedge_region_masks(MissingWedge(-60, 60), (8, 8, 8), margin_deg=-1)
