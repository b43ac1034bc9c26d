"""Reading TIFF z-stacks: ImageJ spacing, resolution and unit become a voxel size in Å."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile

from tomorestore.errors import InputError
from tomorestore.io import VoxelSizeWarning, read_volume


def write_imagej(path, data, *, z, y, x, unit):
    """An ImageJ hyperstack with voxel size (z, y, x) in ``unit``."""
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(1.0 / x, 1.0 / y),  # pixels per unit
        metadata={"spacing": z, "unit": unit, "axes": "ZYX"},
    )


@pytest.fixture
def stack(rng):
    return rng.integers(0, 255, size=(6, 10, 8)).astype(np.uint8)


@pytest.mark.parametrize(
    ("unit", "angstrom"),
    [
        ("nm", 10.0),
        ("micron", 1e4),
        ("um", 1e4),
        ("\\u00B5m", 1e4),
        ("angstrom", 1.0),
    ],
)
def test_imagej_spacing_resolution_and_unit_give_angstrom(tmp_path, stack, unit, angstrom):
    path = tmp_path / "stack.tif"
    write_imagej(path, stack, z=3.0, y=2.0, x=1.5, unit=unit)
    volume = read_volume(path)
    np.testing.assert_array_equal(volume.data, stack)
    assert volume.voxel_size == pytest.approx((3.0 * angstrom, 2.0 * angstrom, 1.5 * angstrom))
    assert volume.header["format"] == "tiff"


@pytest.mark.parametrize(("unit", "angstrom"), [("µm", 1e4), ("μm", 1e4), ("Å", 1.0), ("NM", 10.0)])
def test_non_ascii_and_upper_case_units_are_understood(unit, angstrom):
    # tifffile cannot write non-ASCII ImageJ metadata, other programs can.
    from tomorestore.io.tiff import _unit_scale

    assert _unit_scale(unit) == angstrom
    assert _unit_scale("pixel") is None


def test_nanometre_voxels_like_a_real_imagej_export(tmp_path, stack):
    # 1.052 nm voxels: the resolution tag stores 1/1.052 pixels per nm as a fraction.
    path = tmp_path / "tomo.tiff"
    write_imagej(path, stack, z=1.052, y=1.052, x=1.052, unit="nm")
    assert read_volume(path).voxel_size == pytest.approx((10.52, 10.52, 10.52), rel=1e-6)


def test_pixel_unit_warns_and_uses_one_angstrom(tmp_path, stack):
    path = tmp_path / "pixels.tif"
    write_imagej(path, stack, z=1.0, y=1.0, x=1.0, unit="pixel")
    with pytest.warns(VoxelSizeWarning, match="1 Å"):
        volume = read_volume(path)
    assert volume.voxel_size == (1.0, 1.0, 1.0)


def test_plain_tiff_without_metadata_warns(tmp_path, stack):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, stack)
    with pytest.warns(UserWarning, match="no physical pixel size"):
        volume = read_volume(path)
    assert volume.voxel_size == (1.0, 1.0, 1.0)
    np.testing.assert_array_equal(volume.data, stack)


def test_centimetre_resolution_unit_without_imagej(tmp_path, stack):
    path = tmp_path / "cm.tif"
    # 1e7 pixels per cm = 10 Å per pixel in X and Y; Z is unknown (warned, 1 Å).
    tifffile.imwrite(path, stack, resolution=(1e7, 1e7), resolutionunit="CENTIMETER")
    with pytest.warns(VoxelSizeWarning, match="axis Z"):
        volume = read_volume(path)
    assert volume.voxel_size == pytest.approx((1.0, 10.0, 10.0))


def test_uncompressed_tiff_is_memory_mapped_compressed_is_read(tmp_path, stack):
    plain, packed = tmp_path / "plain.tif", tmp_path / "packed.tif"
    write_imagej(plain, stack, z=1.0, y=1.0, x=1.0, unit="nm")
    tifffile.imwrite(
        packed, stack, compression="zlib", resolution=(1.0, 1.0), resolutionunit="CENTIMETER"
    )
    mapped = read_volume(plain)
    assert isinstance(mapped.data, np.memmap)
    with pytest.warns(VoxelSizeWarning):
        loaded = read_volume(packed)
    assert not isinstance(loaded.data, np.memmap)
    np.testing.assert_array_equal(mapped.data, stack)
    np.testing.assert_array_equal(loaded.data, stack)
    assert not isinstance(read_volume(plain, mmap=False).data, np.memmap)


def test_multichannel_tiff_is_rejected(tmp_path, rng):
    path = tmp_path / "channels.tif"
    data = rng.integers(0, 255, size=(4, 2, 10, 8)).astype(np.uint8)
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "ZCYX"})
    with pytest.raises(InputError, match="expected a 3D volume"):
        read_volume(path)


def test_single_image_tiff_is_rejected(tmp_path, rng):
    path = tmp_path / "image.tif"
    tifffile.imwrite(path, rng.integers(0, 255, size=(10, 8)).astype(np.uint8))
    with pytest.raises(InputError, match=r"expected a 3D volume \(Z, Y, X\), got shape"):
        read_volume(path)


def test_rgb_tiff_is_rejected(tmp_path, rng):
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, rng.integers(0, 255, size=(10, 8, 3)).astype(np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the shape is checked before the voxel size
        with pytest.raises(InputError, match="single-channel") as info:
            read_volume(path)
    assert "cannot read" not in str(info.value)


def test_garbage_tiff_is_reported(tmp_path):
    path = tmp_path / "broken.tif"
    path.write_bytes(b"this is not a TIFF file at all")
    with pytest.raises(InputError, match="cannot read the TIFF file"):
        read_volume(path)
