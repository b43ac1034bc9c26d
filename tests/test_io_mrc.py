"""Reading and writing MRC-family files: data, voxel size order, origin, modes, memmaps."""

from __future__ import annotations

import warnings

import mrcfile
import numpy as np
import pytest

from tomorestore.io import Volume, VoxelSizeWarning, as_volume, read_volume, write_volume


def test_read_mrc_written_by_mrcfile(mrc_path, tiny_volume):
    volume = read_volume(mrc_path)
    np.testing.assert_array_equal(volume.data, tiny_volume)
    assert volume.voxel_size == (3.0, 2.0, 1.0)
    assert volume.origin == (30.0, 20.0, 10.0)
    assert volume.shape == (32, 32, 32)
    assert volume.header["mode"] == 2
    assert volume.header["map_axes"] == (1, 2, 3)


def test_write_read_round_trip_keeps_data_voxel_size_and_origin(tmp_path, rng):
    data = rng.standard_normal((6, 7, 8)).astype(np.float32)
    path = write_volume(tmp_path / "out.mrc", data, voxel_size=(3.0, 2.0, 1.0), origin=(9, 8, 7))
    assert path == tmp_path / "out.mrc"
    volume = read_volume(path)
    np.testing.assert_array_equal(volume.data, data)
    assert volume.voxel_size == (3.0, 2.0, 1.0)
    assert volume.origin == (9.0, 8.0, 7.0)
    # The file itself stores (x, y, z), as every other MRC program expects.
    with mrcfile.open(path) as mrc:
        assert mrc.data.shape == (6, 7, 8)
        assert (mrc.header.nx, mrc.header.ny, mrc.header.nz) == (8, 7, 6)
        assert mrc.voxel_size.x == 1.0 and mrc.voxel_size.y == 2.0 and mrc.voxel_size.z == 3.0
        assert (mrc.header.origin.x, mrc.header.origin.z) == (7.0, 9.0)


def test_written_file_is_float32_mode_2_with_header_statistics(tmp_path, rng):
    data = rng.integers(0, 200, size=(5, 6, 7)).astype(np.uint8)
    write_volume(tmp_path / "stats.mrc", data)
    with mrcfile.open(tmp_path / "stats.mrc") as mrc:
        assert int(mrc.header.mode) == 2
        assert mrc.data.dtype == np.float32
        assert float(mrc.header.dmin) == data.min()
        assert float(mrc.header.dmax) == data.max()
        assert float(mrc.header.dmean) == pytest.approx(data.mean(), rel=1e-6)
        assert tuple(mrc.voxel_size.tolist()) == (1.0, 1.0, 1.0)


def test_write_volume_uses_volume_geometry_unless_overridden(tmp_path, tiny_volume):
    volume = Volume(tiny_volume, voxel_size=(4.0, 5.0, 6.0), origin=(1.0, 2.0, 3.0))
    kept = read_volume(write_volume(tmp_path / "kept.mrc", volume))
    assert kept.voxel_size == (4.0, 5.0, 6.0)
    assert kept.origin == (1.0, 2.0, 3.0)
    changed = read_volume(write_volume(tmp_path / "changed.rec", volume, voxel_size=7.5))
    assert changed.voxel_size == (7.5, 7.5, 7.5)
    assert changed.origin == (1.0, 2.0, 3.0)


def test_overwrites_existing_file(tmp_path, tiny_volume):
    target = tmp_path / "again.mrc"
    write_volume(target, tiny_volume)
    write_volume(target, tiny_volume * 2)
    np.testing.assert_array_equal(read_volume(target).data, tiny_volume * 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.mrc"]


@pytest.mark.parametrize(
    ("dtype", "mode"),
    [(np.int8, 0), (np.int16, 1), (np.float32, 2), (np.uint16, 6), (np.float16, 12)],
)
def test_reads_every_supported_mode(tmp_path, rng, dtype, mode):
    data = rng.integers(0, 100, size=(4, 5, 6)).astype(dtype)
    path = tmp_path / f"mode{mode}.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = 10.0
    volume = read_volume(path)
    assert volume.header["mode"] == mode
    assert volume.data.dtype == dtype
    np.testing.assert_array_equal(volume.data, data)
    assert volume.voxel_size == (10.0, 10.0, 10.0)


@pytest.mark.parametrize("suffix", [".rec", ".st", ".map", ".ali", ".MRC"])
def test_reads_mrc_family_extensions(tmp_path, tiny_volume, suffix):
    path = tmp_path / f"tomo{suffix}"
    with mrcfile.new(path) as mrc:
        mrc.set_data(tiny_volume)
        mrc.voxel_size = 12.0
    volume = read_volume(path)
    np.testing.assert_array_equal(volume.data, tiny_volume)
    assert volume.voxel_size == (12.0, 12.0, 12.0)


def test_memory_mapped_read_is_read_only_and_equal_to_full_read(mrc_path, tiny_volume):
    mapped = read_volume(mrc_path)
    loaded = read_volume(mrc_path, mmap=False)
    assert isinstance(mapped.data, np.memmap)
    assert not isinstance(loaded.data, np.memmap)
    assert not mapped.data.flags.writeable
    np.testing.assert_array_equal(mapped.data, loaded.data)
    np.testing.assert_array_equal(loaded.data, tiny_volume)


def test_zero_voxel_size_warns_and_uses_one_angstrom(tmp_path, tiny_volume):
    path = tmp_path / "nosize.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(tiny_volume)  # mrcfile leaves the cell (voxel size) at 0
    with pytest.warns(UserWarning, match="1 Å"):
        volume = read_volume(path)
    assert volume.voxel_size == (1.0, 1.0, 1.0)


def test_zero_voxel_size_on_one_axis_only_replaces_that_axis(tmp_path, tiny_volume):
    path = tmp_path / "partly.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(tiny_volume)
        mrc.voxel_size = (5.0, 0.0, 7.0)  # (x, y, z)
    with pytest.warns(VoxelSizeWarning, match="axis Y"):
        volume = read_volume(path)
    assert volume.voxel_size == (7.0, 1.0, 5.0)


def test_non_standard_axis_order_is_returned_as_zyx(tmp_path, rng):
    zyx = rng.standard_normal((4, 5, 6)).astype(np.float32)
    path = tmp_path / "swapped.mrc"
    with mrcfile.new(path) as mrc:
        # Columns run along Y and rows along X: the stored block is (Z, X, Y).
        mrc.set_data(np.ascontiguousarray(zyx.transpose(0, 2, 1)))
        mrc.header.mapc, mrc.header.mapr, mrc.header.maps = 2, 1, 3
        mrc.voxel_size = 1.0
    volume = read_volume(path)
    assert volume.header["map_axes"] == (2, 1, 3)
    np.testing.assert_array_equal(volume.data, zyx)


def test_as_volume_accepts_array_path_and_volume(mrc_path, tiny_volume):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_array = as_volume(tiny_volume)
    assert from_array.voxel_size == (1.0, 1.0, 1.0)
    assert from_array.data is tiny_volume
    assert as_volume(tiny_volume, voxel_size=(3, 2, 1)).voxel_size == (3.0, 2.0, 1.0)
    from_path = as_volume(str(mrc_path))
    assert from_path.voxel_size == (3.0, 2.0, 1.0)
    assert as_volume(from_path) is from_path
    overridden = as_volume(mrc_path, voxel_size=8.0)
    assert overridden.voxel_size == (8.0, 8.0, 8.0)
    assert overridden.origin == (30.0, 20.0, 10.0)


def test_as_volume_with_voxel_size_silences_missing_size_warning(tmp_path, tiny_volume):
    path = tmp_path / "nosize.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(tiny_volume)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        volume = as_volume(path, voxel_size=(2.0, 2.0, 2.0))
    assert volume.voxel_size == (2.0, 2.0, 2.0)


def test_volume_with_data_keeps_geometry(tiny_volume):
    volume = Volume(tiny_volume, voxel_size=(3, 2, 1), origin=(1, 1, 1), header={"mode": 2})
    restored = volume.with_data(tiny_volume + 1)
    assert restored.voxel_size == (3.0, 2.0, 1.0)
    assert restored.origin == (1.0, 1.0, 1.0)
    assert restored.header == {"mode": 2}
    np.testing.assert_array_equal(restored.data, tiny_volume + 1)
