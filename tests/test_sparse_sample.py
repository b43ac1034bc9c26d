"""The sparse sample of the simulator: objects in vitreous ice, no lamella Z profile."""

from __future__ import annotations

import numpy as np
import pytest

from tomorestore.cli import main
from tomorestore.errors import InputError
from tomorestore.io import read_volume
from tomorestore.simulate import simulate_tomogram
from tomorestore.simulate.sparse import make_sparse_phantom


def _profile_fraction(volume: np.ndarray) -> float:
    """Share of the variance that is the mean over each Z plane (the Z profile)."""
    return float(volume.mean(axis=(1, 2)).var() / volume.var())


def test_sparse_sample_has_objects_in_ice_and_no_z_profile():
    sim = simulate_tomogram((32, 64, 64), sample="sparse", seed=3, tilt_range=(-50, 65))
    truth = sim.ground_truth
    assert sim.sample == "sparse"
    assert truth.dtype == np.float32 and truth.min() >= 0.0
    profile = truth.mean(axis=(1, 2))
    # Ice everywhere: no vacuum plane; every plane's mean near the ice density.
    assert profile.min() > 0.17 and profile.max() < 0.35
    assert _profile_fraction(truth) < 0.25
    lamella = simulate_tomogram((32, 64, 64), seed=3).ground_truth
    assert _profile_fraction(lamella) > 0.35
    # Objects: a few percent of voxels well above the ice (0.2), but sparse.
    dense = float((truth > 0.3).mean())
    assert 0.005 < dense < 0.3
    assert float((lamella > 0.3).mean()) > dense


def test_sparse_phantom_is_deterministic_and_flat_in_z_on_a_larger_volume():
    a = make_sparse_phantom((48, 96, 96), rng=np.random.default_rng(5))
    b = make_sparse_phantom((48, 96, 96), rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert _profile_fraction(a) < 0.15


def test_unknown_sample_is_an_input_error():
    with pytest.raises(InputError, match="sample"):
        simulate_tomogram((16, 32, 32), sample="cell")


def test_cli_simulate_sparse(tmp_path, capsys):
    assert main(["simulate", str(tmp_path), "--shape", "16,32,32", "--sample", "sparse"]) == 0
    truth = read_volume(tmp_path / "ground_truth.mrc").data
    assert truth.mean(axis=(1, 2)).min() > 0.15  # ice, not vacuum, at the faces
    assert "sparse sample" in capsys.readouterr().out
