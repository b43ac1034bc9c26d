"""Tests of the Python API: tomorestore.train / restore / load_model (CPU, 32³, tiny nets)."""

from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np
import pytest

import tomorestore
from tomorestore.errors import InputError
from tomorestore.io import Volume, read_volume, write_volume
from tomorestore.training import RestorationModel, Step

TINY = {
    "network": {"depth": 2, "base_channels": 8},
    "fast": False,
    "validate_every": 2,
    "preview_every": 0,
    "checkpoint_every": 0,
}
BUDGET = {"steps": 2, "patch_size": 16, "batch_size": 1}


@pytest.fixture
def halves(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    signal = rng.standard_normal((32, 32, 32)).astype(np.float32)
    even = (5e-3 + 1e-3 * (signal + rng.standard_normal(signal.shape))).astype(np.float32)
    odd = (5e-3 + 1e-3 * (signal + rng.standard_normal(signal.shape))).astype(np.float32)
    return even, odd


def test_train_and_restore_arrays(halves: tuple) -> None:
    even, odd = halves
    events = []
    model = tomorestore.train(
        "n2n", even=even, odd=odd, config=TINY, progress=events.append, **BUDGET
    )
    assert isinstance(model, RestorationModel) and model.step == 2
    assert model.voxel_size is None  # bare arrays carry no voxel size
    assert sum(isinstance(e, Step) for e in events) == 2
    restored = tomorestore.restore(model, even=even, odd=odd, tile=32, progress=False)
    assert isinstance(restored, Volume)
    assert restored.shape == even.shape and restored.data.dtype == np.float32
    assert np.isfinite(restored.data).all()
    # Output in input units (tiny AreTomo3-like intensities), not standardised.
    assert abs(float(restored.data.mean()) - 5e-3) < 1e-3
    assert restored.voxel_size == (1.0, 1.0, 1.0)


def test_train_and_restore_mrc_paths_keep_voxel_size(halves: tuple, tmp_path: Path) -> None:
    even, odd = halves
    geometry = {"voxel_size": (12.0, 11.0, 10.0), "origin": (3.0, 2.0, 1.0)}
    write_volume(tmp_path / "even.mrc", Volume(data=even, **geometry))
    write_volume(tmp_path / "odd.mrc", Volume(data=odd, **geometry))
    tilt = (-50.0, 60.0)
    model = tomorestore.train(
        "dewedge",
        even=tmp_path / "even.mrc",
        odd=str(tmp_path / "odd.mrc"),
        tilt_range=tilt,
        out=tmp_path / "model.ckpt",
        config=TINY,
        progress=False,
        wedge_weight=10.0,
        **BUDGET,
    )
    assert model.voxel_size == (12.0, 11.0, 10.0)
    assert model.config.params.wedge_weight == 10.0
    loaded = tomorestore.load_model(tmp_path / "model.ckpt")
    assert loaded.config == model.config and loaded.wedge.tilt_min == -50.0
    out = tmp_path / "restored.mrc"
    volume = tomorestore.restore(
        tmp_path / "model.ckpt",
        even=tmp_path / "even.mrc",
        odd=tmp_path / "odd.mrc",
        out=out,
        tile=32,
        progress=False,
    )
    written = read_volume(out)
    assert written.voxel_size == (12.0, 11.0, 10.0) == volume.voxel_size
    assert written.origin == (3.0, 2.0, 1.0)
    np.testing.assert_array_equal(np.asarray(written.data), volume.data)
    with mrcfile.open(out, permissive=True) as mrc:
        assert mrc.data.dtype == np.float32


def test_restore_bare_array_uses_model_voxel_size(halves: tuple, tmp_path: Path) -> None:
    even, _ = halves
    model = tomorestore.train(
        "n2v", input=Volume(data=even, voxel_size=7.0), config=TINY, progress=False, **BUDGET
    )
    assert model.voxel_size == (7.0, 7.0, 7.0)
    restored = tomorestore.restore(model, input=even, tile=32, progress=False)
    assert restored.voxel_size == (7.0, 7.0, 7.0)


def test_restore_is_deterministic_and_matches_reloaded(halves: tuple, tmp_path: Path) -> None:
    even, _ = halves
    model = tomorestore.train(
        "n2v", input=even, config=TINY, out=tmp_path / "m.ckpt", progress=False, **BUDGET
    )
    first = model.restore(even, tile=32)
    second = tomorestore.load_model(tmp_path / "m.ckpt").restore(even, tile=32)
    np.testing.assert_allclose(first, second, rtol=0, atol=1e-7)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"method": "dewedge", "input": "A", "tilt_range": (-60, 60)},
            "dewedge needs even/odd half tomograms",
        ),
        ({"method": "n2n", "even": "A", "odd": "B32"}, "differ in shape"),
        ({"method": "n2v", "input": "A", "patch_size": 64}, "patch 64 is larger"),
        ({"method": "dewedge", "even": "A", "odd": "A"}, "no tilt range was given"),
        ({"method": "ei", "input": "A", "tilt_range": (-60, 95)}, "tilt range"),
        ({"method": "n2v", "input": "NAN"}, "NaN"),
        ({"method": "n2v", "input": "A", "even": "A"}, "not both"),
        ({"method": "n2v", "even": "A"}, "odd= is missing"),
        ({"method": "n2v", "input": "A", "steps": 0}, "steps"),
        ({"method": "n2v", "input": "A", "mask_percentt": 1.0}, "unknown field"),
    ],
)
def test_train_bad_input_writes_nothing(
    halves: tuple, tmp_path: Path, kwargs: dict, match: str
) -> None:
    even, _ = halves
    nan = even.copy()
    nan[1, 2, 3] = np.nan
    arrays = {"A": even, "B32": even[:, :, :30], "NAN": nan}
    resolved = {k: arrays.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()}
    method = resolved.pop("method")
    resolved.setdefault("steps", 1)
    out = tmp_path / "model.ckpt"
    with pytest.raises(InputError, match=match):
        tomorestore.train(method, out=out, config=TINY, progress=False, **resolved)
    assert list(tmp_path.iterdir()) == []


def test_restore_bad_output_suffix_writes_nothing(halves: tuple, tmp_path: Path) -> None:
    even, _ = halves
    model = tomorestore.train("n2v", input=even, config=TINY, progress=False, **BUDGET)
    with pytest.raises(InputError, match="suffix"):
        tomorestore.restore(model, input=even, out=tmp_path / "restored.png", progress=False)
    with pytest.raises(InputError, match="does not exist"):
        tomorestore.restore(model, input=even, out=tmp_path / "no" / "r.mrc", progress=False)
    assert list(tmp_path.iterdir()) == []
