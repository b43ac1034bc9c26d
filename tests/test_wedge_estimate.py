"""Estimating the tilt range from a tomogram's own power spectrum.

The simulator measures the edge of the power half a tilt step beyond its outermost tilts,
so estimates are compared with the simulated angles' min and max, within 4 degrees.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tomorestore.errors import InputError
from tomorestore.io import read_volume, write_volume
from tomorestore.physics import (
    MissingWedge,
    WedgeEstimate,
    describe_estimate,
    estimate_tilt_range,
)
from tomorestore.simulate import simulate_tomogram

TOLERANCE = 4.0  # degrees


@pytest.fixture(scope="module")
def lamella():
    """A 64³ simulated tomogram with the asymmetric range -48..62 (tilts -48..60)."""
    return simulate_tomogram((64, 64, 64), tilt_range=(-48, 62), seed=1)


@pytest.fixture(scope="module")
def mirrored():
    """The opposite asymmetric range -62..48 (tilts -62..46), another seed."""
    return simulate_tomogram((64, 64, 64), tilt_range=(-62, 48), seed=2)


def _wedge_filtered_noise(tilt_range, shape=(64, 64, 64), seed=0, tilt_axis="Y") -> np.ndarray:
    """White noise through the exact wedge operator of the core (no simulator)."""
    noise = torch.as_tensor(np.random.default_rng(seed).standard_normal(shape), dtype=torch.float32)
    return MissingWedge(*tilt_range, tilt_axis=tilt_axis).apply(noise).numpy()


def _assert_close(estimate: WedgeEstimate, angles: np.ndarray, tolerance=TOLERANCE) -> None:
    assert abs(estimate.tilt_min - angles.min()) <= tolerance, estimate
    assert abs(estimate.tilt_max - angles.max()) <= tolerance, estimate


@pytest.mark.parametrize("which", ["full", "even"])
def test_asymmetric_range_is_found_with_its_sign(lamella, which):
    estimate = estimate_tilt_range(getattr(lamella, which))
    _assert_close(estimate, lamella.tilt_angles)
    assert estimate.tilt_min + estimate.tilt_max > 5  # wider on the positive side
    assert estimate.confidence > 0.8
    assert estimate.tilt_axis == "Y" and estimate.n_slices == 64


def test_opposite_asymmetric_range_gives_the_opposite_sign(lamella, mirrored):
    estimate = estimate_tilt_range(mirrored.full)
    _assert_close(estimate, mirrored.tilt_angles)
    assert estimate.tilt_min + estimate.tilt_max < -5  # wider on the negative side
    assert estimate.confidence > 0.8
    other = estimate_tilt_range(lamella.full)
    assert other.tilt_min > estimate.tilt_min + 8 and other.tilt_max > estimate.tilt_max + 8


def test_noise_free_reconstruction_also_shows_the_wedge(lamella):
    _assert_close(estimate_tilt_range(lamella.wedge_only), lamella.tilt_angles)


@pytest.mark.parametrize("tilt_range", [(-60.0, 60.0), (-30.5, 70.3), (-70.0, 25.0)])
def test_exact_wedge_of_the_core_is_found_to_a_degree(tilt_range):
    """The estimator and MissingWedge share one convention (symmetric and asymmetric)."""
    estimate = estimate_tilt_range(_wedge_filtered_noise(tilt_range))
    assert estimate.tilt_min == pytest.approx(tilt_range[0], abs=1.0)
    assert estimate.tilt_max == pytest.approx(tilt_range[1], abs=1.0)
    assert estimate.confidence > 0.9 and estimate.contrast > 0.9
    assert estimate.spread < 1.0


def _low_pass(volume: np.ndarray, sigma: float) -> np.ndarray:
    """A radially symmetric Gaussian low-pass (sigma in voxels)."""
    k2 = sum(
        np.fft.fftfreq(n).reshape([-1 if a == i else 1 for a in range(3)]) ** 2
        for i, n in enumerate(volume.shape)
    )
    filtered = np.fft.ifftn(np.fft.fftn(volume) * np.exp(-2 * np.pi**2 * sigma**2 * k2))
    return filtered.real.astype(np.float32)


def test_low_pass_filtered_tomogram_uses_the_band_that_holds_power(lamella):
    estimate = estimate_tilt_range(_low_pass(lamella.full, 2.5))
    assert estimate.band[1] < 0.25  # the frequencies above hold no power worth using
    _assert_close(estimate, lamella.tilt_angles)
    assert estimate.confidence > 0.5


def test_tilt_axis_x(lamella):
    swapped = np.ascontiguousarray(lamella.full.transpose(0, 2, 1))  # tilted about X now
    estimate = estimate_tilt_range(swapped, tilt_axis="X")
    _assert_close(estimate, lamella.tilt_angles)
    assert estimate.tilt_axis == "X" and estimate.confidence > 0.8
    wrong = estimate_tilt_range(swapped, tilt_axis="Y")
    assert wrong.confidence < 0.5 < estimate.confidence


def test_tilt_axis_x_of_the_core_wedge():
    volume = _wedge_filtered_noise((-45.0, 65.0), shape=(48, 64, 80), tilt_axis="X")
    estimate = estimate_tilt_range(volume, tilt_axis="x")
    assert estimate.tilt_range == pytest.approx((-45.0, 65.0), abs=1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_white_noise_has_low_confidence(seed):
    noise = np.random.default_rng(seed).standard_normal((64, 64, 64)).astype(np.float32)
    estimate = estimate_tilt_range(noise)
    assert estimate.confidence < 0.2
    assert estimate.contrast < 0.2
    assert -90 < estimate.tilt_min < estimate.tilt_max < 90


def test_memory_mapped_mrc_gives_the_same_estimate(lamella, tmp_path):
    path = write_volume(tmp_path / "tomo.mrc", lamella.full, voxel_size=10.0)
    volume = read_volume(path)
    assert isinstance(volume.data, np.memmap)
    from_file = estimate_tilt_range(volume.data)
    in_memory = estimate_tilt_range(lamella.full)
    assert from_file == in_memory  # compares range, confidence, contrast, spread, axis


class _CountingVolume:
    """A (Z, Y, X) volume that records how many voxels are read through indexing."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.shape = data.shape
        self.dtype = data.dtype
        self.read = 0

    def __getitem__(self, index):
        part = self.data[index]
        self.read += np.asarray(part).size
        return part


def test_large_volumes_are_read_plane_by_plane_not_whole():
    data = _wedge_filtered_noise((-50.0, 58.0), shape=(32, 256, 80))
    volume = _CountingVolume(data)
    estimate = estimate_tilt_range(volume, max_slices=16, max_size=64)
    assert volume.read == 16 * 32 * 64  # 16 planes, X cropped to 64
    assert volume.read < data.size / 10
    assert estimate.tilt_range == pytest.approx((-50.0, 58.0), abs=2.0)


def test_profile_and_dict_for_reports(lamella):
    estimate = estimate_tilt_range(lamella.even)
    assert estimate.angles.shape == estimate.profile.shape == (360,)
    inside = estimate.profile[(estimate.angles > -40) & (estimate.angles < 50)]
    outside = estimate.profile[np.abs(estimate.angles) > 70]
    assert np.nanmean(outside) < 0.1 * np.nanmean(inside)
    record = estimate.as_dict()
    assert set(record) == {"tilt_min", "tilt_max", "confidence"}
    assert 0.0 <= record["confidence"] <= 1.0


def test_describe_estimate_names_the_data_and_says_how_sure():
    clear = WedgeEstimate(tilt_min=-48.5, tilt_max=61.0, confidence=0.93)
    text = describe_estimate(clear, "T.mrc")
    assert text == (
        "estimated the tilt range of T.mrc from its power spectrum: -48.5 to 61.0 degrees "
        "(confidence 0.93); give --tilt-range or --tilt-angles to set it"
    )
    doubtful = describe_estimate(WedgeEstimate(-20.0, 17.0, 0.12), "noise.mrc")
    assert "confidence 0.12" in doubtful and "no clear missing wedge" in doubtful


@pytest.mark.parametrize(
    ("volume", "kwargs", "match"),
    [
        (np.zeros((64, 64)), {}, "3D"),
        (np.zeros((8, 64, 64)), {}, "too small"),
        (np.ones((32, 32, 32), dtype=np.float32), {}, "no power"),
        (np.zeros((32, 32, 32), dtype=np.complex64), {}, "complex"),
        (np.full((32, 32, 32), np.nan, dtype=np.float32), {}, "NaN"),
        (np.zeros((32, 32, 32)), {"tilt_axis": "Z"}, "tilt_axis"),
        (np.zeros((32, 32, 32)), {"band": (0.3, 0.1)}, "band"),
        (np.zeros((32, 32, 32)), {"bin_width": 0.7}, "bin_width"),
        (np.zeros((32, 32, 32)), {"groups": 1}, "groups"),
    ],
)
def test_bad_input_is_an_input_error(volume, kwargs, match):
    with pytest.raises(InputError, match=match):
        estimate_tilt_range(volume, **kwargs)
