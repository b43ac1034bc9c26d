"""The noise autocorrelation measured on patches, and the struct mask taken from it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from tomorestore.errors import InputError
from tomorestore.methods import get_method
from tomorestore.methods.masking import blind_spot_inputs, offset_coordinates, struct_coordinates
from tomorestore.methods.noise_correlation import correlated_offsets, noise_autocorrelation
from tomorestore.methods.params import EIParams, N2VParams
from tomorestore.physics.wedge import MissingWedge


def _z_correlated_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """White noise summed with its Z neighbour: correlation 0.5 at lag (±1, 0, 0), else 0."""
    white = rng.standard_normal((shape[0], shape[1] + 1, *shape[2:]))
    return (white[:, 1:] + white[:, :-1]) / np.sqrt(2.0)


def _batch(*volumes: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack(volumes, axis=1).astype(np.float32))


def test_halves_measure_the_noise_correlation_of_their_difference():
    rng = np.random.default_rng(0)
    signal = gaussian_filter(rng.standard_normal((4, 32, 32, 32)), (0, 3, 3, 3)) * 20
    even = signal + _z_correlated_noise(rng, signal.shape)
    odd = signal + _z_correlated_noise(rng, signal.shape)
    correlation = noise_autocorrelation(_batch(even, odd), radius=2).numpy()
    expected = np.zeros((5, 5, 5))
    expected[2, 2, 2] = 1.0
    expected[1, 2, 2] = expected[3, 2, 2] = 0.5
    np.testing.assert_allclose(correlation, expected, atol=0.04)
    assert correlated_offsets(torch.from_numpy(correlation), 0.25) == [(-1, 0, 0), (1, 0, 0)]


def test_one_tomogram_measures_it_from_a_high_pass_residual():
    rng = np.random.default_rng(1)
    signal = gaussian_filter(rng.standard_normal((4, 32, 32, 32)), (0, 4, 4, 4)) * 20
    noisy = signal + _z_correlated_noise(rng, signal.shape)
    correlation = noise_autocorrelation(_batch(noisy), radius=2).numpy()
    assert correlation[2, 2, 2] == pytest.approx(1.0)
    assert correlation[1, 2, 2] == pytest.approx(0.5, abs=0.1)
    assert correlation[3, 2, 2] == pytest.approx(0.5, abs=0.1)
    assert correlated_offsets(torch.from_numpy(correlation), 0.25) == [(-1, 0, 0), (1, 0, 0)]


def test_bad_batches_are_refused():
    with pytest.raises(ValueError, match="B, 1 or 2"):
        noise_autocorrelation(torch.zeros(2, 3, 16, 16, 16))
    with pytest.raises(ValueError, match="too small"):
        noise_autocorrelation(torch.zeros(2, 1, 6, 16, 16), radius=3)


def test_offset_coordinates_keep_only_voxels_inside_the_patch():
    coords = torch.tensor([[0, 0, 5, 5], [1, 3, 3, 3]])
    got = offset_coordinates(coords, (4, 8, 8), [(-1, 0, 0), (1, 0, 2)])
    assert got.tolist() == [[0, 1, 5, 7], [1, 2, 3, 3]]


def test_the_auto_shape_needs_measured_offsets():
    with pytest.raises(InputError, match="struct_offsets"):
        struct_coordinates(torch.zeros(1, 4, dtype=torch.long), (8, 8, 8), shape="auto")


def test_measured_offsets_are_blanked_around_each_blind_spot():
    patches = torch.arange(2 * 16**3, dtype=torch.float32).reshape(2, 16, 16, 16)
    params = N2VParams(struct_shape="auto", neighbourhood=5)
    generator = torch.Generator().manual_seed(0)
    inputs, coords = blind_spot_inputs(
        patches, params, generator=generator, struct_offsets=[(0, 1, 0), (0, -1, 0)]
    )
    changed = inputs != patches
    blanked = offset_coordinates(coords, (16, 16, 16), [(0, 1, 0), (0, -1, 0)])
    hit = changed[blanked[:, 0], blanked[:, 1], blanked[:, 2], blanked[:, 3]]
    assert hit.float().mean() > 0.95  # a random donor equals the original only by chance
    # nothing else changed apart from the blind spots and their Y neighbours
    untouched = changed.clone()
    untouched[blanked[:, 0], blanked[:, 1], blanked[:, 2], blanked[:, 3]] = False
    untouched[coords[:, 0], coords[:, 1], coords[:, 2], coords[:, 3]] = False
    assert not untouched.any()


def test_n2v_measures_its_struct_mask_once_on_the_first_batch():
    method = get_method("n2v")(N2VParams(struct_shape="auto", struct_threshold=0.25))
    rng = np.random.default_rng(2)
    noisy = _z_correlated_noise(rng, (2, 24, 24, 24))
    network = torch.nn.Conv3d(1, 1, 3, padding=1)
    generator = torch.Generator().manual_seed(0)
    method.training_loss(network, _batch(noisy), generator=generator)
    assert method.struct_offsets == [(-1, 0, 0), (1, 0, 0)]
    white = rng.standard_normal((2, 24, 24, 24))
    method.training_loss(network, _batch(white), generator=generator)
    assert method.struct_offsets == [(-1, 0, 0), (1, 0, 0)]  # kept for the run
    cross = N2VParams(struct_shape="cross")
    assert get_method("n2v")(cross).measured_struct_offsets(_batch(noisy)) is None


def test_ei_joint_order_blanks_the_struct_mask_its_denoiser_measured():
    blind_spot = N2VParams(struct_shape="auto", struct_threshold=0.25)
    params = EIParams(order="joint", blind_spot=blind_spot, rotations="y90")
    method = get_method("ei")(params, MissingWedge(-60.0, 60.0))
    rng = np.random.default_rng(3)
    noisy = _z_correlated_noise(rng, (2, 24, 24, 24))
    network = torch.nn.Conv3d(1, 1, 3, padding=1)
    loss = method.training_loss(network, _batch(noisy), generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(loss)
    assert method._denoisers["n2v"].struct_offsets == [(-1, 0, 0), (1, 0, 0)]
