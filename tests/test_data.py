"""Tests of tomorestore.data: normalisation, foreground masks and patch sampling."""

from __future__ import annotations

import numpy as np
import pytest

from tomorestore.data import (
    Normalization,
    PatchSampler,
    SmallVolumeWarning,
    check_user_mask,
    foreground_mask,
)
from tomorestore.errors import InputError


def _blob(shape: tuple[int, int, int], centre: tuple[int, int, int], radius: float) -> np.ndarray:
    grid = np.indices(shape)
    distance2 = sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True))
    return distance2 <= radius**2


# -- normalisation ---------------------------------------------------------------------------
def test_normalization_round_trip_and_standardises(rng: np.random.Generator) -> None:
    volume = rng.normal(3.0, 2.0, (32, 32, 32)).astype(np.float32)
    norm = Normalization.from_volume(volume)
    standard = norm.apply(volume)
    assert standard.dtype == np.float32
    assert abs(float(standard.mean())) < 0.05
    assert abs(float(standard.std()) - 1.0) < 0.05
    np.testing.assert_allclose(norm.invert(standard), volume, atol=1e-5)


def test_normalization_tiny_intensities_like_aretomo3(rng: np.random.Generator) -> None:
    volume = (7e-3 + 1e-3 * rng.standard_normal((32, 32, 32))).astype(np.float32)
    norm = Normalization.from_volume(volume)
    assert norm.std == pytest.approx(1e-3, rel=0.05)
    standard = norm.apply(volume)
    assert abs(float(standard.std()) - 1.0) < 0.05
    np.testing.assert_allclose(norm.invert(standard), volume, rtol=1e-5, atol=1e-9)


def test_normalization_ignores_outliers(rng: np.random.Generator) -> None:
    volume = rng.standard_normal((32, 32, 32)).astype(np.float32)
    spiked = volume.copy()
    spiked[0, 0, :5] = 1e6  # gold beads / hot pixels
    assert Normalization.from_volume(spiked).std == pytest.approx(
        Normalization.from_volume(volume).std, rel=0.05
    )


def test_normalization_uint8_and_torch(rng: np.random.Generator) -> None:
    import torch

    volume = rng.integers(0, 256, (16, 16, 16)).astype(np.uint8)
    norm = Normalization.from_volume(volume)
    assert 60 < norm.std < 90
    tensor = torch.from_numpy(volume.astype(np.float32))
    np.testing.assert_allclose(norm.apply(tensor).numpy(), norm.apply(volume), atol=1e-5)
    np.testing.assert_allclose(norm.invert(norm.apply(tensor)).numpy(), volume, atol=1e-3)


def test_normalization_mostly_constant_volume_still_works() -> None:
    volume = np.zeros((16, 16, 16), dtype=np.uint8)
    volume[3, 5, 7] = 1  # one voxel: the strided subsample misses it
    norm = Normalization.from_volume(volume)
    assert norm.std > 0


def test_normalization_constant_volume_is_input_error() -> None:
    with pytest.raises(InputError, match="constant"):
        Normalization.from_volume(np.full((8, 8, 8), 4.0, dtype=np.float32))


def test_normalization_shared_by_halves(rng: np.random.Generator) -> None:
    even = rng.normal(0, 1, (16, 16, 16))
    odd = rng.normal(0, 1, (16, 16, 16))
    norm = Normalization.from_volumes([even, odd])
    assert norm.std == pytest.approx(1.0, rel=0.1)


# -- foreground ------------------------------------------------------------------------------
def test_foreground_mask_finds_blob(rng: np.random.Generator) -> None:
    shape = (32, 64, 64)
    blob = _blob(shape, (16, 20, 40), 8)
    volume = rng.standard_normal(shape) + blob * rng.normal(0, 3, shape)
    mask = foreground_mask(volume.astype(np.float32), patch_size=16)
    assert mask.shape == shape and mask.dtype == bool
    assert mask[blob].all()
    far = ~_blob(shape, (16, 20, 40), 8 + 16)
    assert mask[far].mean() < 0.05
    assert 0.05 < mask.mean() < 0.6


def test_foreground_mask_featureless_is_all_true(rng: np.random.Generator) -> None:
    volume = rng.standard_normal((32, 48, 48)).astype(np.float32)
    assert foreground_mask(volume, patch_size=16).all()


def test_user_mask_checks() -> None:
    labels = np.zeros((8, 8, 8), dtype=np.int32)
    labels[2:4, 2:4, 2:4] = 3
    allowed = check_user_mask(labels, (8, 8, 8))
    assert allowed.dtype == bool and allowed.sum() == 8
    with pytest.raises(InputError, match="does not match"):
        check_user_mask(labels, (8, 8, 9))
    with pytest.raises(InputError, match="empty"):
        check_user_mask(np.zeros((8, 8, 8)), (8, 8, 8))


# -- sampling --------------------------------------------------------------------------------
def test_sampler_train_and_validation_regions_disjoint(rng: np.random.Generator) -> None:
    volume = rng.standard_normal((32, 96, 32)).astype(np.float32)
    sampler = PatchSampler([volume], crop_size=16, validation_fraction=0.2)
    assert sampler.disjoint
    train_stop = sampler.train_region[1]
    assert sampler.validation_region[0] >= train_stop
    generator = np.random.default_rng(0)
    corners = []
    for _ in range(20):
        batch = sampler.train_batch(4, generator)
        assert batch.shape == (4, 1, 16, 16, 16)
        for crop in batch[:, 0]:
            # Find each crop back in the volume: its Y extent lies in the training region.
            hits = [
                (z, y, x)
                for z in range(0, 17)
                for y in range(0, 81)
                for x in range(0, 17)
                if volume[z, y, x] == crop[0, 0, 0]
                and np.array_equal(volume[z : z + 16, y : y + 16, x : x + 16], crop)
            ]
            assert len(hits) == 1
            corners.append(hits[0])
    assert all(y + 16 <= train_stop for _, y, _ in corners)
    val_corners = sampler.validation_corners
    assert len(val_corners) >= 1
    assert all(y >= sampler.validation_region[0] for _, y, _ in val_corners)
    validation = sampler.validation_batch()
    assert validation.shape == (len(val_corners), 1, 16, 16, 16)


def test_sampler_crops_centred_in_mask(rng: np.random.Generator) -> None:
    shape = (32, 96, 48)
    even = rng.standard_normal(shape).astype(np.float32)
    odd = rng.standard_normal(shape).astype(np.float32)
    mask = np.zeros(shape, dtype=bool)
    mask[8:24, 10:40, 10:30] = True
    sampler = PatchSampler([even, odd], crop_size=16, mask=mask, validation_fraction=0.2)
    centres = sampler.train_corners + 8
    assert mask[centres[:, 0], centres[:, 1], centres[:, 2]].all()
    batch = sampler.train_batch(8, np.random.default_rng(3))
    assert batch.shape == (8, 2, 16, 16, 16)
    # Same place in both halves: the even crop is found at the odd crop's position.
    generator = np.random.default_rng(5)
    picks = sampler.train_batch(1, generator)[0]
    z, y, x = np.argwhere(even == picks[0, 0, 0, 0])[0]
    np.testing.assert_array_equal(odd[z : z + 16, y : y + 16, x : x + 16], picks[1])


def test_sampler_tiny_volume_falls_back_with_warning(rng: np.random.Generator) -> None:
    volume = rng.standard_normal((32, 32, 32)).astype(np.float32)
    with pytest.warns(SmallVolumeWarning, match="too small"):
        sampler = PatchSampler([volume], crop_size=24)
    assert not sampler.disjoint
    assert sampler.validation_batch().shape[1:] == (1, 24, 24, 24)


def test_sampler_pads_when_crop_exceeds_volume(rng: np.random.Generator) -> None:
    volume = rng.standard_normal((20, 20, 20)).astype(np.float32)
    with pytest.warns(SmallVolumeWarning):
        sampler = PatchSampler([volume], crop_size=28)
    assert sampler.train_batch(2, np.random.default_rng(0)).shape == (2, 1, 28, 28, 28)


def test_sampler_set_halves_and_shape_errors(rng: np.random.Generator) -> None:
    volume = rng.standard_normal((16, 64, 16)).astype(np.float32)
    sampler = PatchSampler([volume, volume], crop_size=8)
    sampler.set_halves([volume + 1, volume + 1])
    np.testing.assert_allclose(sampler.halves[0], volume + 1)
    with pytest.raises(InputError, match="1 tomogram or 2 halves"):
        sampler.set_halves([volume, volume, volume])
    with pytest.raises(InputError, match="shape"):
        sampler.set_halves([volume[:, :32]])
    # one tomogram may become a pair (ei's denoised pair)
    single = PatchSampler([volume], crop_size=8)
    single.set_halves(single.next_halves(2))
    assert single.n_halves == 2 and single.train_batch(2, rng).shape[1] == 2
    with pytest.raises(InputError, match="different shapes"):
        PatchSampler([volume, volume[:, :32]], crop_size=8)
