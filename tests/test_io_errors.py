"""Bad files and bad arrays raise InputError with a useful message; writes are atomic."""

from __future__ import annotations

import mrcfile
import mrcfile.mrcobject
import numpy as np
import pytest

import tomorestore.io.validation as validation
from tomorestore.errors import InputError
from tomorestore.io import Volume, check_volume_array, read_volume, write_volume


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_volume(tmp_path / "absent.mrc")


def test_unknown_extension_lists_supported_ones(tmp_path):
    path = tmp_path / "volume.npy"
    path.write_bytes(b"x")
    with pytest.raises(InputError, match=r"unsupported file type '\.npy'.*\.mrc .*\.tiff"):
        read_volume(path)


def test_truncated_mrc_is_reported(mrc_path):
    raw = mrc_path.read_bytes()
    mrc_path.write_bytes(raw[:-1000])
    with pytest.raises(InputError, match="truncated") as info:
        read_volume(mrc_path)
    assert f"{len(raw) - 1000} bytes" in str(info.value)
    with pytest.raises(InputError, match="truncated"):
        read_volume(mrc_path, mmap=False)


def test_extra_bytes_after_data_warn_but_read(mrc_path, tiny_volume):
    with open(mrc_path, "ab") as handle:
        handle.write(b"\0" * 16)
    with pytest.warns(UserWarning, match="16 bytes after the data block"):
        volume = read_volume(mrc_path)
    np.testing.assert_array_equal(volume.data, tiny_volume)


def test_garbage_file(tmp_path, rng):
    path = tmp_path / "garbage.mrc"
    path.write_bytes(rng.integers(0, 256, size=5000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="not an MRC file"):
        read_volume(path)


def test_file_shorter_than_a_header(tmp_path):
    path = tmp_path / "short.rec"
    path.write_bytes(b"not an mrc file")
    with pytest.raises(InputError, match="cannot read an MRC header"):
        read_volume(path)


def test_complex_mode_is_rejected(tmp_path):
    path = tmp_path / "fourier.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.ones((4, 4, 4), dtype=np.complex64))
    with pytest.raises(InputError, match="complex"):
        read_volume(path)


def test_two_dimensional_mrc_is_rejected(tmp_path):
    path = tmp_path / "image.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.ones((8, 9), dtype=np.float32))
    with pytest.raises(InputError, match=r"expected a 3D volume \(Z, Y, X\), got shape \(8, 9\)"):
        read_volume(path)


def test_volume_stack_mrc_is_rejected(tmp_path):
    path = tmp_path / "stack.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.ones((2, 3, 4, 5), dtype=np.float32))
    with pytest.raises(InputError, match=r"got shape \(2, 3, 4, 5\)"):
        read_volume(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_writing_non_finite_data_is_rejected_and_writes_nothing(tmp_path, tiny_volume, bad):
    tiny_volume[1, 2, 3] = bad
    with pytest.raises(InputError, match="NaN"):
        write_volume(tmp_path / "bad.mrc", tiny_volume)
    assert list(tmp_path.iterdir()) == []


def test_writing_two_dimensional_data_is_rejected(tmp_path):
    with pytest.raises(InputError, match="expected a 3D volume"):
        write_volume(tmp_path / "flat.mrc", np.zeros((4, 4), dtype=np.float32))


@pytest.mark.parametrize("name", ["out.tif", "out.st", "out"])
def test_writing_other_formats_is_rejected_with_the_allowed_ones(tmp_path, tiny_volume, name):
    with pytest.raises(InputError, match=r"\.mrc \.rec \.map"):
        write_volume(tmp_path / name, tiny_volume)


def test_writing_into_a_missing_folder(tmp_path, tiny_volume):
    with pytest.raises(InputError, match="does not exist"):
        write_volume(tmp_path / "nope" / "out.mrc", tiny_volume)


@pytest.mark.parametrize("voxel_size", [0.0, (1.0, -2.0, 1.0), (1.0, 2.0), (1.0, np.nan, 1.0)])
def test_writing_with_a_bad_voxel_size(tmp_path, tiny_volume, voxel_size):
    with pytest.raises(InputError, match="voxel_size"):
        write_volume(tmp_path / "out.mrc", tiny_volume, voxel_size=voxel_size)


def test_failed_write_leaves_existing_file_untouched_and_no_temporary(
    tmp_path, tiny_volume, monkeypatch
):
    target = tmp_path / "result.mrc"
    write_volume(target, tiny_volume, voxel_size=5.0)
    before = target.read_bytes()

    def fail(self, label):  # called after the data is in the temporary file
        raise OSError("disk full")

    monkeypatch.setattr(mrcfile.mrcobject.MrcObject, "add_label", fail)
    with pytest.raises(OSError, match="disk full"):
        write_volume(target, tiny_volume * 3, voxel_size=9.0)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["result.mrc"]


def test_failed_first_write_creates_nothing(tmp_path, tiny_volume, monkeypatch):
    def fail(self, data):
        raise OSError("disk full")

    monkeypatch.setattr(mrcfile.mrcobject.MrcObject, "set_data", fail)
    with pytest.raises(OSError, match="disk full"):
        write_volume(tmp_path / "new.mrc", tiny_volume)
    assert list(tmp_path.iterdir()) == []


def test_check_volume_array_accepts_and_returns_good_volumes(tiny_volume):
    assert check_volume_array(tiny_volume) is tiny_volume
    ints = np.zeros((2, 3, 4), dtype=np.uint8)
    assert check_volume_array(ints) is ints
    assert check_volume_array([[[1.0]]]).shape == (1, 1, 1)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((4, 4)), r"even half: expected a 3D volume \(Z, Y, X\), got shape \(4, 4\)"),
        (np.zeros((2, 4, 4, 4)), "expected a 3D volume"),
        (np.zeros((4, 4, 4), dtype=np.complex64), "complex"),
        (np.zeros((4, 0, 4)), "empty"),
        (np.array([[["a"]]]), "numeric"),
    ],
)
def test_check_volume_array_rejects(array, message):
    with pytest.raises(InputError, match=message):
        check_volume_array(array, name="even half")


def test_check_volume_array_counts_nans_and_suggests_a_fix(tiny_volume):
    tiny_volume[0, 0, :3] = np.nan
    tiny_volume[5, 5, 5] = -np.inf
    with pytest.raises(InputError, match=r"3 NaN and 1 infinite.*nan_to_num"):
        check_volume_array(tiny_volume)


def test_check_volume_array_min_size_message_says_what_is_needed():
    with pytest.raises(InputError, match=r"at least 32 voxels \(Z=16\)"):
        check_volume_array(np.zeros((16, 64, 64), dtype=np.float32), min_size=32)
    check_volume_array(np.zeros((32, 32, 32), dtype=np.float32), min_size=32)


def test_finiteness_check_reads_a_memmap_in_slabs(tmp_path, monkeypatch):
    path = tmp_path / "big.raw"
    mapped = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(20, 8, 8))
    mapped[19, 7, 7] = np.nan
    mapped[0, 0, 0] = np.inf
    mapped.flush()
    readonly = np.load(path, mmap_mode="r")
    monkeypatch.setattr(validation, "_CHUNK_VOXELS", 3 * 64)  # slabs of 3 planes
    seen = []
    real_asarray = np.asarray

    def spy(chunk, *args, **kwargs):
        seen.append(chunk.shape)
        return real_asarray(chunk, *args, **kwargs)

    monkeypatch.setattr(validation.np, "asarray", spy)
    assert validation.count_non_finite(readonly) == (1, 1)
    assert max(shape[0] for shape in seen) == 3
    assert sum(shape[0] for shape in seen) == 20


def test_volume_rejects_bad_geometry(tiny_volume):
    with pytest.raises(InputError, match="voxel_size must be positive"):
        Volume(tiny_volume, voxel_size=(1.0, 0.0, 1.0))
    with pytest.raises(InputError, match="origin"):
        Volume(tiny_volume, origin=(1.0, 2.0))
