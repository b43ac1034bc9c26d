"""Restoring straight into a file with bounded memory, and a per-tomogram wedge at restore.

CPU, tiny volumes and networks. The file path (``RestorationModel.restore_to_file``,
``tomorestore.restore(out=...)``) must give the in-memory result, keep the voxel size and
origin, never hold a full-size array and leave nothing behind on a cancellation.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import torch

import tomorestore
from tomorestore.data import normalization
from tomorestore.errors import Cancelled, InputError
from tomorestore.inference import predict_tiled, slabs
from tomorestore.inference.mrc_output import mrc_output, scratch_array
from tomorestore.inference.slabs import finite_stats, slab_slices
from tomorestore.io import Volume, read_volume, validation, write_volume
from tomorestore.training import make_wedge

TINY = {
    "network": {"depth": 2, "base_channels": 8},
    "fast": False,
    "batch_size": 1,
    "patch_size": 16,
    "validate_every": 2,
    "preview_every": 0,
    "checkpoint_every": 0,
}
SHAPE = (32, 40, 48)  # three different extents: a swapped axis would show


@pytest.fixture(scope="module")
def halves() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    signal = rng.standard_normal(SHAPE).astype(np.float32)
    noisy = [3.0 + 0.5 * (signal + rng.standard_normal(SHAPE)) for _ in range(2)]
    return noisy[0].astype(np.float32), noisy[1].astype(np.float32)


@pytest.fixture(scope="module")
def n2n(halves):
    return tomorestore.train("n2n", even=halves[0], odd=halves[1], steps=2, config=TINY,
                             progress=False)  # fmt: skip


@pytest.fixture(scope="module")
def dewedge_x(halves):
    """A dewedge model of data tilted about X (the core swaps Y and X)."""
    return tomorestore.train("dewedge", even=halves[0], odd=halves[1], steps=2, config=TINY,
                             tilt_range=(-60, 60), tilt_axis="X", progress=False)  # fmt: skip


@pytest.fixture
def files(tmp_path: Path, halves) -> dict[str, Volume]:
    """even.mrc and odd.mrc (voxel 3x2x1 Å, origin 30,20,10 Å), read back memory-mapped."""
    out = {}
    for name, data in zip(("even", "odd"), halves, strict=True):
        path = write_volume(tmp_path / f"{name}.mrc", data, voxel_size=(3, 2, 1),
                            origin=(30, 20, 10))  # fmt: skip
        out[name] = read_volume(path)
    assert isinstance(out["even"].data, np.memmap)
    return out


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --- the file path gives the in-memory result ---------------------------------------------


@pytest.mark.parametrize("model_name", ["n2n", "dewedge_x"])
@pytest.mark.parametrize("pair", [False, True])
def test_restore_to_file_equals_in_memory_restore(request, files, tmp_path, model_name, pair):
    model = request.getfixturevalue(model_name)
    halves = [files["even"], files["odd"]] if pair else [files["even"]]
    expected = model.restore(halves, tile=32, device="cpu")
    path = model.restore_to_file(
        halves, tmp_path / "restored.mrc", tile=32, device="cpu",
        voxel_size=files["even"].voxel_size, origin=files["even"].origin,
    )  # fmt: skip
    written = read_volume(path)
    assert written.shape == SHAPE and written.data.dtype == np.float32
    np.testing.assert_allclose(np.asarray(written.data), expected, rtol=0, atol=1e-5)
    assert written.voxel_size == (3.0, 2.0, 1.0) and written.origin == (30.0, 20.0, 10.0)
    with mrcfile.open(path, permissive=True) as mrc:
        header = mrc.header
        assert header.dmin == pytest.approx(expected.min(), abs=1e-5)
        assert header.dmax == pytest.approx(expected.max(), abs=1e-5)
        assert header.dmean == pytest.approx(expected.mean(dtype=np.float64), abs=1e-5)
        assert header.rms == pytest.approx(expected.std(dtype=np.float64), abs=1e-5)
    assert _leftovers(tmp_path) == []  # the scratch file of the second half is gone


def test_api_restore_with_out_writes_the_in_memory_result(n2n, files, tmp_path):
    expected = tomorestore.restore(n2n, even=files["even"], odd=files["odd"], tile=32,
                                   progress=False)  # fmt: skip
    out = tmp_path / "r.mrc"
    volume = tomorestore.restore(n2n, even=tmp_path / "even.mrc", odd=tmp_path / "odd.mrc",
                                 out=out, tile=32, progress=False)  # fmt: skip
    assert isinstance(volume.data, np.memmap) and not volume.data.flags.writeable
    np.testing.assert_allclose(np.asarray(volume.data), expected.data, rtol=0, atol=1e-5)
    assert volume.voxel_size == expected.voxel_size == (3.0, 2.0, 1.0)
    assert volume.origin == read_volume(out).origin == (30.0, 20.0, 10.0)


def test_restore_to_file_holds_no_full_size_array(n2n, tmp_path, monkeypatch):
    """NumPy allocations (traced) stay far below the volume; the in-memory path copies it.

    The slabs, the chunks of the NaN check and the normalisation's subsample (at most 2 M
    voxels whatever the size) are made small, as they are relative to a large tomogram.
    """
    shape = (48, 128, 128)  # 3 MB of float32
    data = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    source = read_volume(write_volume(tmp_path / "big.mrc", data))
    del data
    monkeypatch.setattr(slabs, "SLAB_VOXELS", 128 * 128)
    monkeypatch.setattr(validation, "_CHUNK_VOXELS", 128 * 128)
    monkeypatch.setattr(normalization, "SUBSAMPLE_VOXELS", 20_000)
    size = int(np.prod(shape)) * 4

    def traced_peak(run) -> int:
        tracemalloc.start()
        try:
            run()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    to_file = traced_peak(lambda: n2n.restore_to_file(source, tmp_path / "r.mrc", tile=32))
    in_memory = traced_peak(lambda: n2n.restore(source, tile=32))
    assert in_memory >= size
    assert to_file < 0.25 * size, (to_file, size)


def test_cancelled_restore_to_file_leaves_nothing(n2n, files, tmp_path):
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) > 2

    target = tmp_path / "restored.mrc"
    with pytest.raises(Cancelled):
        n2n.restore_to_file([files["even"], files["odd"]], target, tile=16,
                            should_stop=should_stop)  # fmt: skip
    assert not target.exists() and _leftovers(tmp_path) == []


def test_restore_to_file_refuses_a_bad_target(n2n, files, tmp_path):
    with pytest.raises(InputError, match="suffixes"):
        n2n.restore_to_file(files["even"], tmp_path / "r.tif", tile=32)
    with pytest.raises(InputError, match="does not exist"):
        n2n.restore_to_file(files["even"], tmp_path / "no" / "r.mrc", tile=32)


# --- the wedge at restore -----------------------------------------------------------------


def test_wedge_override_changes_a_dewedge_restoration(dewedge_x, files):
    halves = [files["even"], files["odd"]]
    own = dewedge_x.restore(halves, tile=32, device="cpu")
    same = dewedge_x.restore(halves, tile=32, device="cpu", wedge=dewedge_x.config.wedge)
    narrow = dewedge_x.restore(halves, tile=32, device="cpu",
                               wedge=make_wedge((-30, 40), tilt_axis="X"))  # fmt: skip
    np.testing.assert_array_equal(same, own)
    assert np.abs(narrow - own).max() > 1e-3


def test_wedge_override_of_another_tilt_axis_restores_the_transposed_data(dewedge_x, halves):
    """Data tilted about Y with the override (Y) = the same data transposed, tilted about X."""
    even, odd = halves
    swapped = [np.ascontiguousarray(h.swapaxes(1, 2)) for h in (even, odd)]
    along_x = dewedge_x.restore([even, odd], tile=32, device="cpu")
    along_y = dewedge_x.restore(swapped, tile=32, device="cpu",
                                wedge=make_wedge((-60, 60), tilt_axis="Y"))  # fmt: skip
    np.testing.assert_allclose(along_y, along_x.swapaxes(1, 2), rtol=0, atol=1e-6)


def test_api_restore_tilt_settings(dewedge_x, n2n, files, tmp_path):
    even, odd = files["even"], files["odd"]
    (tmp_path / "narrow.tlt").write_text("\n".join(str(a) for a in range(-30, 41, 10)))
    by_range = tomorestore.restore(dewedge_x, even=even, odd=odd, tile=32, progress=False,
                                   tilt_range=(-30, 40))  # fmt: skip
    by_angles = tomorestore.restore(dewedge_x, even=even, odd=odd, tile=32, progress=False,
                                    tilt_angles=tmp_path / "narrow.tlt")  # fmt: skip
    np.testing.assert_array_equal(by_range.data, by_angles.data)
    with pytest.raises(InputError, match="not both"):
        tomorestore.restore(dewedge_x, input=even, tilt_range=(-30, 40),
                            tilt_angles=tmp_path / "narrow.tlt", progress=False)  # fmt: skip
    with pytest.raises(InputError, match="without a tilt range"):
        tomorestore.restore(n2n, input=even, tilt_axis="X", progress=False)


# --- building blocks --------------------------------------------------------------------------


def test_predict_tiled_into_a_memmap_survives_an_out_of_memory_restart(tmp_path):
    volume = np.random.default_rng(0).normal(size=(30, 37, 45)).astype(np.float32)
    budget = 16**3

    def predict(x):
        if x.numel() > budget:
            raise RuntimeError("CPU out of memory")
        return torch.tanh(x)

    with scratch_array(tmp_path, volume.shape) as out:
        result = predict_tiled(volume, predict, tile=32, overlap=0.25, min_size=16, out=out)
        assert result is out
        np.testing.assert_allclose(out, np.tanh(volume), atol=1e-5)
    assert list(tmp_path.iterdir()) == []


def test_predict_tiled_checks_out():
    volume = np.zeros((8, 8, 8), np.float32)
    with pytest.raises(InputError, match="shape"):
        predict_tiled(volume, torch.tanh, tile=8, out=np.zeros((8, 8, 9), np.float32))
    with pytest.raises(InputError, match="float32"):
        predict_tiled(volume, torch.tanh, tile=8, out=np.zeros((8, 8, 8), np.float64))
    readonly = np.zeros((8, 8, 8), np.float32)
    readonly.flags.writeable = False
    with pytest.raises(InputError, match="read-only"):
        predict_tiled(volume, torch.tanh, tile=8, out=readonly)


def test_finite_stats_match_numpy_and_refuse_nan(monkeypatch):
    monkeypatch.setattr(slabs, "SLAB_VOXELS", 50)
    array = (1e4 + 1e-3 * np.random.default_rng(0).standard_normal((7, 5, 6))).astype(np.float32)
    lo, hi, mean, std = finite_stats(array)
    values = array.astype(np.float64)
    assert (lo, hi) == (values.min(), values.max())
    assert mean == pytest.approx(values.mean(), rel=1e-12)
    assert std == pytest.approx(values.std(), rel=1e-6)
    assert [(s.start, s.stop) for s in slab_slices(array.shape)] == [(0, 1), (1, 2), (2, 3),
                                                                       (3, 4), (4, 5), (5, 6),
                                                                       (6, 7)]  # fmt: skip
    array[3, 2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        finite_stats(array)


def test_mrc_output_is_atomic(tmp_path):
    target = tmp_path / "out.mrc"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with mrc_output(target, (4, 5, 6), voxel_size=(1.0, 1.0, 1.0), origin=(0, 0, 0)) as data:
            data[:] = 1.0
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []
    with pytest.raises(InputError, match="NaN"):
        with mrc_output(target, (4, 5, 6), voxel_size=(1.0, 1.0, 1.0), origin=(0, 0, 0)) as data:
            data[1] = np.inf
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []
    with mrc_output(target, (4, 5, 6), voxel_size=(3.0, 2.0, 1.0), origin=(6, 5, 4)) as data:
        assert not data.any()  # a new file reads as zeros
        data[:] = 2.0
    written = read_volume(target)
    assert written.voxel_size == (3.0, 2.0, 1.0) and written.origin == (6.0, 5.0, 4.0)
    assert np.all(np.asarray(written.data) == 2.0)
