"""Tests of tiled whole-volume inference (CPU, tiny volumes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tomorestore.errors import Cancelled, InputError
from tomorestore.inference import DEFAULT_OVERLAP, predict_tiled, restore_volume
from tomorestore.inference.oom import TileSettings, is_out_of_memory, shrink
from tomorestore.inference.tiling import (
    BORDER_MARGIN_FRACTION,
    plan_axis,
    plan_grid,
    reflect_indices,
    tile_starts,
    window_1d,
)
from tomorestore.models import NetworkConfig, UNet3D

BLENDS = ["gaussian", "linear", "constant"]


@pytest.fixture
def volume() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(30, 37, 45)).astype(np.float32)


def pointwise(x: torch.Tensor) -> torch.Tensor:
    """A non-linear operator without any spatial coupling."""
    return torch.tanh(2.0 * x) + 0.5 * x


def conv_stack() -> nn.Module:
    """Two 3x3x3 convolutions, no normalisation: receptive radius 2, tile-independent."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(1, 4, 3, padding=1), nn.Tanh(), nn.Conv3d(4, 1, 3, padding=1)
    ).eval()


# --- tiling geometry ------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 2, 5, 9])
def test_reflect_indices_match_numpy_reflect_padding(length):
    pad = 3 * length + 2
    expected = np.pad(np.arange(length), pad, mode="reflect") if length > 1 else None
    got = reflect_indices(np.arange(-pad, length + pad), length)
    if expected is None:
        assert np.all(got == 0)
    else:
        np.testing.assert_array_equal(got, expected)


def test_tile_starts_follow_monai_semantics():
    # interval = int(32 * 0.75) = 24, last tile shifted to end at the border
    assert tile_starts(100, 32, 0.25) == [0, 24, 48, 68]
    assert tile_starts(32, 32, 0.5) == [0]
    assert tile_starts(40, 16, 0.0) == [0, 16, 24]


@pytest.mark.parametrize("mode", BLENDS)
def test_windows_are_symmetric_positive_inside_and_zero_on_the_trim_band(mode):
    window = window_1d(32, mode, trim=4)
    np.testing.assert_allclose(window, window[::-1])
    assert np.all(window[:4] == 0) and np.all(window[-4:] == 0)
    assert np.all(window[4:-4] > 0)
    assert window.max() == pytest.approx(1.0)


def test_gaussian_window_uses_sigma_eighth_of_tile():
    window = window_1d(64, "gaussian", trim=0)
    centre = 31.5
    sigma = 0.125 * 64
    i = 40
    expected = np.exp(-((i - centre) ** 2) / (2 * sigma**2)) / np.exp(-(0.5**2) / (2 * sigma**2))
    assert window[i] == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(20))
def test_every_voxel_gets_weight_for_random_grids(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(1, 90, size=3))
    tile = tuple(int(t) for t in rng.integers(4, 40, size=3))
    overlap = float(rng.uniform(0.0, 0.9))
    grid = plan_grid(shape, tile, overlap)
    for blend in BLENDS:
        for total, n in zip(grid.weight_sums(blend), shape, strict=True):
            assert total.shape == (n,)
            assert np.all(total > 0)
    for axis in grid.axes:
        assert axis.margin >= axis.trim
        assert axis.starts[0] == 0 and axis.starts[-1] + axis.tile == axis.padded_length


def test_short_axis_gets_one_tile_of_its_padded_length():
    axis = plan_axis(10, 64, 0.25)
    assert axis.margin == 8
    assert axis.tile == 10 + 2 * 8
    assert axis.starts == (0,)


def test_tiles_are_fitted_to_the_axis_and_spread_evenly():
    # MONAI's grid: 3 tiles of 128 (starts 0, 112, 144); fitted: 3 tiles of 104, 8-multiples
    axis = plan_axis(256, 128, 0.125, multiple=8)
    assert (axis.margin, axis.trim, axis.tile) == (8, 4, 104)
    assert axis.starts == (0, 84, 168) and axis.starts[-1] + axis.tile == axis.padded_length
    steps = np.diff(axis.starts)
    assert np.all(steps <= axis.tile - 16)  # neighbours still overlap by 16
    # with a border margin of an eighth of a tile: padded 256 + 2 * 16, 3 tiles of 112
    axis = plan_axis(256, 128, 0.125, multiple=8, border_margin=BORDER_MARGIN_FRACTION)
    assert (axis.margin, axis.trim, axis.tile, axis.starts) == (16, 4, 112, (0, 88, 176))


@pytest.mark.parametrize("overlap", [0.0, 0.0625, 0.125, 0.25, 0.5])
def test_the_border_margin_does_not_shrink_with_the_overlap(overlap):
    for length in (64, 256):
        axis = plan_axis(length, 128, overlap, multiple=8, border_margin=0.125)
        assert axis.margin == max(16, (128 - int(128 * (1 - overlap))) // 2)
        assert axis.margin >= axis.trim


def test_networks_with_tile_statistics_get_the_border_margin(monkeypatch):
    from tomorestore.inference import restore as restore_module
    from tomorestore.models import NetworkConfig, build_network

    seen = []
    real = restore_module.predict_tiled

    def spy(*args, **kwargs):
        seen.append(kwargs["border_margin"])
        return real(*args, **kwargs)

    monkeypatch.setattr(restore_module, "predict_tiled", spy)
    volume = np.random.default_rng(0).normal(size=(16, 16, 16)).astype(np.float32)
    for norm in ("instance", "group", "none"):
        network = build_network(NetworkConfig(depth=1, base_channels=4, norm=norm))
        restore_module.restore_volume(network, volume, tile=16)
    assert seen == [BORDER_MARGIN_FRACTION, BORDER_MARGIN_FRACTION, 0.0]


def test_axis_no_longer_than_a_tile_gets_one_tile_with_its_full_margins():
    axis = plan_axis(128, 128, 0.25, multiple=8)
    assert (axis.margin, axis.trim, axis.tile, axis.starts) == (16, 8, 160, (0,))
    axis = plan_axis(129, 128, 0.25, multiple=8)  # two tiles of at most 128
    assert (axis.margin, axis.tile, axis.starts) == (16, 104, (0, 57))


# --- correctness of the stitched result -------------------------------------------------


@pytest.mark.parametrize("blend", BLENDS)
@pytest.mark.parametrize("batch_size", [1, 3])
def test_tiled_equals_untiled_for_a_pointwise_operator(volume, blend, batch_size):
    result = predict_tiled(volume, pointwise, tile=16, overlap=0.25, blend=blend,
                           batch_size=batch_size)  # fmt: skip
    expected = pointwise(torch.from_numpy(volume)).numpy()
    assert result.dtype == np.float32 and result.shape == volume.shape
    np.testing.assert_allclose(result, expected, atol=1e-5)


@pytest.mark.parametrize("blend", BLENDS)
def test_tiled_equals_untiled_for_a_conv_net_with_receptive_field_inside_the_overlap(volume, blend):
    model = conv_stack()
    tile, overlap = 20, 0.5  # overlap 10 voxels: margin 5, trim 2 >= receptive radius 2

    def predict(x):
        with torch.no_grad():
            return model(x)

    result = predict_tiled(volume, predict, tile=tile, overlap=overlap, blend=blend)
    with torch.no_grad():
        untiled = model(torch.from_numpy(volume)[None, None])[0, 0].numpy()
        margin = plan_axis(volume.shape[0], tile, overlap).margin
        padded = np.pad(volume, margin, mode="reflect")
        reflected = model(torch.from_numpy(padded)[None, None])[0, 0].numpy()
    reflected = reflected[margin:-margin, margin:-margin, margin:-margin]
    interior = (slice(2, -2),) * 3
    np.testing.assert_allclose(result[interior], untiled[interior], atol=1e-5)
    # with reflection at the borders the whole volume matches
    np.testing.assert_allclose(result, reflected, atol=1e-5)


def test_volume_smaller_than_a_tile_is_padded_and_cropped_back():
    volume = np.random.default_rng(1).normal(size=(5, 40, 7)).astype(np.float32)
    seen = []

    def predict(x):
        seen.append(tuple(x.shape))
        return pointwise(x)

    result = predict_tiled(volume, predict, tile=32, overlap=0.25)
    np.testing.assert_allclose(result, pointwise(torch.from_numpy(volume)).numpy(), atol=1e-5)
    assert all(shape[2] == 5 + 2 * 4 and shape[4] == 7 + 2 * 4 for shape in seen)


def test_memmap_input_of_another_dtype_is_read_tile_by_tile(tmp_path, volume):
    data = (volume * 100).astype(">i2")  # big-endian int16, as some MRC files
    path = tmp_path / "volume.raw"
    mm = np.memmap(path, dtype=">i2", mode="w+", shape=data.shape)
    mm[:] = data
    mm.flush()
    readonly = np.memmap(path, dtype=">i2", mode="r", shape=data.shape)
    seen_dtypes = set()
    largest = []

    def predict(x):
        seen_dtypes.add(x.dtype)
        largest.append(x.numel())
        return pointwise(x)

    result = predict_tiled(readonly, predict, tile=16, overlap=0.25)
    expected = pointwise(torch.from_numpy(data.astype(np.float32))).numpy()
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-5)
    assert seen_dtypes == {torch.float32}
    assert max(largest) <= 16**3  # only one (fitted) tile at a time went to the network


# --- progress, cancellation, errors -----------------------------------------------------


def test_progress_is_monotone_and_reaches_total(volume):
    calls = []
    predict_tiled(
        volume, pointwise, tile=16, batch_size=4, progress=lambda d, t: calls.append((d, t))
    )
    totals = {t for _, t in calls}
    assert len(totals) == 1
    total = totals.pop()
    assert total == len(plan_grid(volume.shape, (16, 16, 16), DEFAULT_OVERLAP))
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == total
    assert len(calls) == -(-total // 4)


def test_cancellation_stops_within_one_batch(volume):
    predicted = []

    def predict(x):
        predicted.append(x.shape[0])
        return x

    def should_stop():
        return len(predicted) >= 2

    with pytest.raises(Cancelled):
        predict_tiled(volume, predict, tile=16, batch_size=1, should_stop=should_stop)
    assert len(predicted) == 2


def test_volume_smaller_than_min_size_is_rejected():
    with pytest.raises(InputError, match="at least 16"):
        predict_tiled(np.zeros((10, 40, 40), np.float32), pointwise, min_size=16)


@pytest.mark.parametrize(
    ("array", "kwargs", "match"),
    [
        (np.zeros((8, 8)), {}, "3D"),
        (np.zeros((0, 8, 8)), {}, "empty"),
        (np.zeros((8, 8, 8), complex), {}, "real"),
        (np.full((8, 8, 8), np.nan), {}, "NaN"),
        (np.zeros((20, 20, 20)), {"tile": 8, "min_size": 16}, "at least 16"),
        (np.zeros((20, 20, 20)), {"overlap": 1.0}, "overlap"),
        (np.zeros((20, 20, 20)), {"blend": "cosine"}, "gaussian"),
        (np.zeros((20, 20, 20)), {"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_input_raises_input_error(array, kwargs, match):
    with pytest.raises(InputError, match=match):
        predict_tiled(array, pointwise, **kwargs)


def test_errors_of_predict_are_not_mistaken_for_out_of_memory(volume):
    def predict(x):
        raise ValueError("broken network")

    with pytest.raises(ValueError, match="broken network"):
        predict_tiled(volume, predict, tile=16)


def test_predict_returning_a_wrong_shape_is_an_error(volume):
    with pytest.raises(ValueError, match="shape"):
        predict_tiled(volume, lambda x: x[..., :-1], tile=16)


# --- out-of-memory fallback ---------------------------------------------------------------


def test_out_of_memory_errors_are_recognised():
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to ..."))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_shrink_halves_batch_then_tile_then_gives_up():
    steps = [TileSettings(4, (64, 64, 40))]
    while (nxt := shrink(steps[-1], min_tile=16)) is not None:
        steps.append(nxt)
    assert steps == [
        TileSettings(4, (64, 64, 40)),
        TileSettings(2, (64, 64, 40)),
        TileSettings(1, (64, 64, 40)),
        TileSettings(1, (32, 32, 20)),
        TileSettings(1, (16, 16, 20)),
    ]


@pytest.mark.parametrize(
    "error", [torch.cuda.OutOfMemoryError, lambda m: RuntimeError(f"CUDA {m}")]
)
def test_out_of_memory_halves_batch_then_tile_and_result_stays_correct(volume, error):
    budget = 2 * 16**3  # voxels that "fit" on the fake device
    attempts = []

    def predict(x):
        attempts.append(tuple(x.shape))
        if x.numel() > budget:
            raise error("out of memory")
        return pointwise(x)

    result = predict_tiled(volume, predict, tile=32, batch_size=4, overlap=0.25, min_size=16)
    np.testing.assert_allclose(result, pointwise(torch.from_numpy(volume)).numpy(), atol=1e-5)
    large = plan_grid(volume.shape, (32, 32, 32), 0.25, min_tile=16).tile_shape  # fitted
    assert attempts[:3] == [(4, 1, *large), (2, 1, *large), (1, 1, *large)]
    successful = [a for a in attempts if np.prod(a) <= budget]
    small = plan_grid(volume.shape, (16, 16, 16), 0.25, min_tile=16)
    assert set(successful) == {(1, 1, *small.tile_shape)}  # batch 1 was too big: tile halved
    assert len(successful) == len(small)


def test_out_of_memory_at_the_smallest_tile_says_what_to_do(volume):
    def predict(x):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(InputError, match="--device cpu") as info:
        predict_tiled(volume, predict, tile=32, batch_size=2, min_size=16)
    assert "16" in str(info.value)


# --- restore_volume -------------------------------------------------------------------------


def test_restore_volume_with_an_untrained_residual_unet_is_identity(volume):
    net = UNet3D(depth=2, base_channels=4)
    net.train()
    progress = []
    result = restore_volume(net, volume, tile=24, progress=lambda d, t: progress.append(d))
    np.testing.assert_allclose(result, volume, atol=1e-5)
    assert net.training  # training flag restored
    assert progress[-1] == len(plan_grid(volume.shape, (24, 24, 24), DEFAULT_OVERLAP))


def test_restore_volume_fast_mode_is_close_to_fp32(volume):
    torch.manual_seed(0)
    net = UNet3D(depth=2, base_channels=4, norm="group", residual=False)
    reference = restore_volume(net, volume, tile=24)
    fast = restore_volume(net, volume, tile=24, fast=True)
    assert fast.dtype == np.float32
    scale = np.abs(reference).max()
    assert np.abs(fast - reference).max() < 0.05 * scale


def test_restore_volume_applies_the_input_transform(volume):
    net = UNet3D(depth=2, base_channels=4)
    result = restore_volume(net, volume, tile=24, input_transform=lambda x: 2 * x)
    np.testing.assert_allclose(result, 2 * volume, atol=1e-5)


def test_restore_volume_enforces_twice_the_network_divisor():
    net = UNet3D(depth=3, base_channels=4)
    with pytest.raises(InputError, match="at least 16"):
        restore_volume(net, np.zeros((12, 32, 32), np.float32))


def test_a_row_split_network_needs_its_doubled_extent_along_y_only():
    net = UNet3D(depth=2, base_channels=4, tilt_axis_split=True)
    assert net.min_input_shape == (8, 16, 8)
    assert NetworkConfig(depth=2, tilt_axis_split=True).min_input_shape == (8, 16, 8)
    thin = np.random.default_rng(0).standard_normal((8, 16, 12)).astype(np.float32)
    assert restore_volume(net, thin).shape == thin.shape  # Z and X at 8 are enough
    with pytest.raises(InputError, match="along Y: this network needs at least 16"):
        restore_volume(net, np.zeros((16, 12, 16), np.float32))


def test_nested_lists_are_accepted_as_volumes():
    data = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    result = predict_tiled(data.tolist(), pointwise, tile=8)
    np.testing.assert_allclose(result, pointwise(torch.from_numpy(data)).numpy(), atol=1e-5)
