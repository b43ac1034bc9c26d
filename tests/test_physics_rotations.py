"""Tests of rotations: the cube group, uniform SO(3) samples and volume resampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tomorestore.errors import InputError
from tomorestore.physics import (
    MissingWedge,
    center_crop,
    cube_rotations,
    frequency_grid,
    random_rotations,
    random_z_rotations,
    rotate_cube,
    rotate_volumes,
    rotation_crop_size,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return torch.device(request.param)


def _blob(shape, centre_offset, sigma=1.5, device="cpu"):
    """A Gaussian blob at ``centre_offset`` (z, y, x) voxels from the array centre."""
    axes = [torch.arange(n, dtype=torch.float64, device=device) - (n - 1) / 2 for n in shape]
    zz, yy, xx = torch.meshgrid(*axes, indexing="ij")
    dz, dy, dx = (c for c in centre_offset)
    return torch.exp(-((zz - dz) ** 2 + (yy - dy) ** 2 + (xx - dx) ** 2) / (2 * sigma**2))


def _centre_of_mass(volume):
    shape = volume.shape[-3:]
    axes = [torch.arange(n, dtype=torch.float64, device=volume.device) - (n - 1) / 2 for n in shape]
    zz, yy, xx = torch.meshgrid(*axes, indexing="ij")
    total = volume.sum()
    return torch.stack([(volume * c).sum() / total for c in (zz, yy, xx)]).cpu()


# -- the cube group -------------------------------------------------------------------
def test_cube_rotations_form_the_rotation_group_of_the_cube(device):
    mats = cube_rotations(device=device)
    assert mats.shape == (24, 3, 3) and mats.dtype == torch.float32
    assert mats.device.type == device.type
    mats = mats.cpu().double()
    assert torch.equal(mats, mats.round())
    torch.testing.assert_close(mats[0], torch.eye(3, dtype=torch.float64))
    eye = torch.eye(3, dtype=torch.float64).expand(24, 3, 3)
    torch.testing.assert_close(mats @ mats.transpose(1, 2), eye)
    torch.testing.assert_close(torch.linalg.det(mats), torch.ones(24, dtype=torch.float64))
    keys = {tuple(m.flatten().tolist()) for m in mats}
    assert len(keys) == 24
    for a in mats:
        for b in mats:
            assert tuple((a @ b).flatten().tolist()) in keys
    torch.testing.assert_close(cube_rotations(), cube_rotations())  # a fixed order


# -- random rotations -----------------------------------------------------------------
def test_random_rotations_are_uniform_proper_rotations(device):
    gen = torch.Generator().manual_seed(0)
    rots = random_rotations(4000, generator=gen, device=device)
    assert rots.shape == (4000, 3, 3) and rots.dtype == torch.float32
    assert rots.device.type == device.type
    rots = rots.cpu().double()
    eye = torch.eye(3, dtype=torch.float64).expand(4000, 3, 3)
    torch.testing.assert_close(rots @ rots.transpose(1, 2), eye, atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.linalg.det(rots), torch.ones(4000, dtype=torch.float64))
    # Haar measure: E[R] = 0 and E[trace R] = 0 (the identity is not favoured)
    assert float(rots.mean(0).abs().max()) < 0.05
    assert abs(float(torch.diagonal(rots, dim1=1, dim2=2).sum(-1).mean())) < 0.1
    # E[R_ij^2] = 1/3 for every entry
    torch.testing.assert_close(
        rots.square().mean(0), torch.full((3, 3), 1 / 3).double(), atol=0.03, rtol=0
    )


def test_random_rotations_reproducible_and_validated():
    a = random_rotations(5, generator=torch.Generator().manual_seed(3))
    b = random_rotations(5, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert random_rotations(0).shape == (0, 3, 3)
    with pytest.raises(InputError):
        random_rotations(-1)


def test_random_z_rotations_turn_about_z_by_uniform_angles(device):
    gen = torch.Generator().manual_seed(5)
    rots = random_z_rotations(3000, generator=gen, device=device)
    assert rots.shape == (3000, 3, 3) and rots.device.type == device.type
    rots = rots.cpu().double()
    eye = torch.eye(3, dtype=torch.float64).expand(3000, 3, 3)
    torch.testing.assert_close(rots @ rots.transpose(1, 2), eye, atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.linalg.det(rots), torch.ones(3000, dtype=torch.float64))
    # z is kept: first row and column (1, 0, 0)
    torch.testing.assert_close(rots[:, :, 0], eye[:, :, 0], atol=1e-7, rtol=0)
    torch.testing.assert_close(rots[:, 0, :], eye[:, 0, :], atol=1e-7, rtol=0)
    # uniform angles: cos and sin average to 0, their squares to 1/2
    angles = torch.atan2(rots[:, 2, 1], rots[:, 1, 1])
    assert abs(float(angles.cos().mean())) < 0.05 and abs(float(angles.sin().mean())) < 0.05
    assert abs(float(angles.cos().square().mean()) - 0.5) < 0.03
    again = random_z_rotations(3000, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(again.double(), rots, rtol=0, atol=0)
    with pytest.raises(InputError):
        random_z_rotations(-2)


# -- rotate_cube ----------------------------------------------------------------------
@pytest.mark.parametrize("n", [8, 7])
def test_rotate_cube_fourier_magnitudes_follow_a_k(n, device):
    """|F(rotate_cube(x, i))|(k) == |F(x)|(A k) on the DFT grid, for all 24 rotations."""
    x = torch.randn(n, n, n, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = x.to(device)
    mag = torch.fft.fftn(x).abs()
    idx = torch.stack(
        torch.meshgrid(*[torch.arange(n, device=device)] * 3, indexing="ij"), dim=-1
    )  # (n, n, n, 3) integer frequency indices (z, y, x)
    for i, a in enumerate(cube_rotations(device=device).long()):
        rotated_mag = torch.fft.fftn(rotate_cube(x, i)).abs()
        source = torch.remainder(idx @ a.T, n)  # A k, taken modulo the grid
        expected = mag[source[..., 0], source[..., 1], source[..., 2]]
        torch.testing.assert_close(rotated_mag, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape", [(9, 9, 9), (10, 10, 10)])
def test_rotate_cube_moves_a_blob_to_a_transpose_p(shape, device):
    """v'(r) = v(A r): a blob at p moves to A^T p."""
    blob = _blob(shape, [2.0, -1.0, 3.0], device=device)
    p = _centre_of_mass(blob)  # (2, -1, 3) up to the truncation by the box
    for i, a in enumerate(cube_rotations().double()):
        moved = _centre_of_mass(rotate_cube(blob, i))
        torch.testing.assert_close(moved, a.T @ p, atol=1e-9, rtol=0)


def test_rotate_cube_batched_and_validated():
    x = torch.randn(2, 3, 5, 5, 5)
    for i in range(24):
        out = rotate_cube(x, i)
        assert out.shape == x.shape
        torch.testing.assert_close(out[1, 2], rotate_cube(x[1, 2], i), rtol=0, atol=0)
    assert rotate_cube(x, 0).data_ptr() != x.data_ptr()
    with pytest.raises(InputError):
        rotate_cube(x, 24)
    with pytest.raises(InputError):
        rotate_cube(torch.zeros(4, 4), 1)


# -- rotate_volumes -------------------------------------------------------------------
@pytest.mark.parametrize("n", [7, 8])
def test_rotate_volumes_matches_rotate_cube(n, device):
    x = torch.randn(24, 2, n, n, n, generator=torch.Generator().manual_seed(2)).to(device)
    rots = cube_rotations(device=device)
    expected = torch.stack([rotate_cube(x[i], i) for i in range(24)])
    nearest = rotate_volumes(x, rots, mode="nearest")
    torch.testing.assert_close(nearest, expected, rtol=0, atol=0)
    bilinear = rotate_volumes(x, rots)
    torch.testing.assert_close(bilinear, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("shape", [(24, 24, 24), (20, 24, 28)])
def test_rotate_volumes_convention_with_random_rotations(shape, device):
    """A blob at p lands at A^T p, without distortion on non-cubic volumes."""
    blob = _blob(shape, [3.0, -2.0, 4.0], sigma=1.5, device=device)
    p = _centre_of_mass(blob)
    blob = blob.float()[None, None]
    rots = random_rotations(6, generator=torch.Generator().manual_seed(4), device=device)
    out = rotate_volumes(blob.expand(6, 1, *shape), rots)
    for i in range(6):
        moved = _centre_of_mass(out[i, 0].double())
        torch.testing.assert_close(moved, rots[i].cpu().double().T @ p, atol=0.05, rtol=0)
        # the blob keeps its width: same second moment as the original
        assert float(out[i, 0].sum()) == pytest.approx(float(blob.sum()), rel=0.02)


def test_rotate_volumes_keeps_a_wedge_filtered_volume_inside_the_rotated_mask():
    """Interpolated rotation of a compact wedge-filtered object: its power moves to M(A k).

    Resampling is not exact (interpolation, the object's tails in a finite box), so compare
    with the wrong hypotheses M(k) and M(A^T k) at frequencies below 0.3 cycles/voxel.
    """
    n = 32
    wedge = MissingWedge(-30, 60)
    gen = torch.Generator().manual_seed(6)
    window = _blob((n, n, n), (0.0, 0.0, 0.0), sigma=3.0)
    noise = torch.randn(n, n, n, generator=gen, dtype=torch.float64)
    obj = wedge.apply(window * wedge.apply(noise * window))  # compact, nearly wedge-limited
    rots = random_rotations(4, generator=gen).double()
    rotated = rotate_volumes(obj[None, None].expand(4, 1, n, n, n), rots)
    kz, ky, kx = frequency_grid((n, n, n), dtype=torch.float64)
    low = (kz**2 + ky**2 + kx**2) < 0.3**2
    for i in range(4):
        power = torch.fft.fftn(rotated[i, 0]).abs().square() * low

        def fraction(mask, power=power):
            return float((power * mask.double()).sum() / power.sum())

        right = fraction(wedge.mask((n, n, n), rotation=rots[i]))
        assert right > 0.93, right
        assert right > fraction(wedge.mask((n, n, n), rotation=rots[i].T)) + 0.15
        assert right > fraction(wedge.mask((n, n, n))) + 0.05


def test_rotate_volumes_validates_shapes():
    with pytest.raises(InputError):
        rotate_volumes(torch.zeros(1, 4, 4, 4), torch.eye(3))
    with pytest.raises(InputError):
        rotate_volumes(torch.zeros(2, 1, 4, 4, 4), torch.eye(3).expand(3, 3, 3))
    out = rotate_volumes(torch.ones(2, 1, 5, 5, 5), torch.eye(3))
    torch.testing.assert_close(out, torch.ones(2, 1, 5, 5, 5))


# -- crops ----------------------------------------------------------------------------
def test_rotation_crop_size():
    assert rotation_crop_size(32) == 46
    assert rotation_crop_size(64) == 91
    assert rotation_crop_size(1) == 2
    for patch in range(1, 200):
        size = rotation_crop_size(patch)
        assert size >= patch * math.sqrt(2) > size - 1
    with pytest.raises(InputError):
        rotation_crop_size(0)


@pytest.mark.parametrize("patch", [16, 15])
def test_rotation_crop_covers_rotations_about_an_axis(patch):
    """Rotations about a coordinate axis leave no empty corners in the central patch.

    Exactly when the crop is concentric (``size - patch`` even); ``ceil(patch·√2)`` can be
    half a voxel off-centre, which leaves a few corner voxels partly on the padding.
    """
    size = rotation_crop_size(patch)
    concentric = size + (size - patch) % 2
    for angle in np.linspace(0, math.pi / 2, 7):
        c, s = math.cos(angle), math.sin(angle)
        about_y = torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=torch.float64)
        exact = center_crop(rotate_volumes(torch.ones(1, 1, *(concentric,) * 3), about_y), patch)
        torch.testing.assert_close(exact, torch.ones_like(exact))
        crop = center_crop(rotate_volumes(torch.ones(1, 1, *(size,) * 3), about_y), patch)
        assert float(crop.min()) > 0.6 and float(crop.mean()) > 0.995


def test_center_crop():
    x = torch.arange(2 * 9 * 10 * 11).reshape(2, 9, 10, 11)
    out = center_crop(x, 5)
    assert out.shape == (2, 5, 5, 5)
    torch.testing.assert_close(out, x[:, 2:7, 2:7, 3:8])
    out = center_crop(x, (9, 4, 3))
    torch.testing.assert_close(out, x[:, :, 3:7, 4:7])
    with pytest.raises(InputError):
        center_crop(x, 12)
    with pytest.raises(InputError):
        center_crop(x, (1, 2))
