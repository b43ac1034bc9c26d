"""Scores of restorations: structure Pearson, the k_x = k_y = 0 line, even/odd FSC."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tomorestore.errors import InputError
from tomorestore.physics import fourier_correlation
from tomorestore.physics.evaluation import (
    even_odd_fsc,
    fsc_resolution,
    mean_fsc,
    structure_pearson,
    without_z_line,
)


def test_structure_pearson_ignores_the_z_profile():
    rng = np.random.default_rng(0)
    structure = rng.standard_normal((8, 12, 12))
    profile = np.linspace(-5, 5, 8).reshape(-1, 1, 1)
    assert structure_pearson(structure + profile, structure) == pytest.approx(1.0)
    assert structure_pearson(structure - 3 * profile, structure + profile) == pytest.approx(1.0)
    assert abs(structure_pearson(np.broadcast_to(profile, (8, 12, 12)), structure)) < 1e-9
    with pytest.raises(InputError):
        structure_pearson(structure, structure[:4])


def test_without_z_line_drops_exactly_the_line():
    region = torch.ones(6, 8, 10, dtype=torch.bool)
    out = without_z_line(region)
    assert region.all()  # untouched
    assert int((~out).sum()) == 6 and not out[:, 0, 0].any()
    # A pure Z profile lives on that line: off it, it has no energy (rounding only), so
    # the region without the line cannot score it.
    profile = torch.linspace(-1, 1, 6, dtype=torch.float64).reshape(-1, 1, 1).expand(6, 8, 10)
    noise = torch.randn(6, 8, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert float(fourier_correlation(profile + 0.01 * noise, profile)) > 0.9
    energy = torch.fft.fftn(profile).abs().square()
    assert float(energy[out].sum()) < 1e-20 * float(energy.sum())


def test_even_odd_fsc_of_identical_and_independent_volumes():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((16, 16, 16))
    same = even_odd_fsc(a, a)
    assert same["fsc_0143"] == pytest.approx(same["fsc_curve"][-1][0], abs=1e-3)
    assert same["fsc_mean"] == pytest.approx(1.0)
    other = even_odd_fsc(a, rng.standard_normal((16, 16, 16)))
    assert abs(other["fsc_mean"]) < 0.2 and other["fsc_0143"] < 0.15
    # Shared low-pass signal plus independent noise: correlated at low frequency only.
    from scipy.ndimage import gaussian_filter

    signal = gaussian_filter(rng.standard_normal((32, 32, 32)), 2.0) * 20
    even = signal + rng.standard_normal(signal.shape)
    odd = signal + rng.standard_normal(signal.shape)
    result = even_odd_fsc(even, odd)
    assert 0.05 < result["fsc_0143"] < 0.4


def test_fsc_resolution_interpolates_and_handles_edges():
    f = np.array([0.1, 0.2, 0.3, 0.4])
    assert fsc_resolution(f, np.array([0.9, 0.5, 0.1, 0.0]), 0.3) == pytest.approx(0.25)
    assert fsc_resolution(f, np.array([0.9, 0.9, 0.9, 0.9])) == pytest.approx(0.4)
    assert fsc_resolution(f, np.array([0.1, 0.9, 0.9, 0.9])) == 0.0
    assert mean_fsc(f, np.array([1.0, 0.5, 0.0, 0.0]), (0.15, 0.35)) == pytest.approx(0.25)
    with pytest.raises(InputError):
        mean_fsc(f, np.ones(4), (0.45, 0.5))


def test_soft_edge_window_and_a_mild_filter_leaves_the_fsc():
    from scipy.ndimage import gaussian_filter

    from tomorestore.physics.evaluation import soft_edge_window

    window = soft_edge_window((16, 20, 24), 4)
    assert window.shape == (16, 20, 24) and window.max() == pytest.approx(1.0)
    assert window[8, 10, 12] == 1.0 and window[0, 10, 12] < 0.2
    rng = np.random.default_rng(2)
    signal = gaussian_filter(rng.standard_normal((32, 32, 32)), 1.5) * 10
    even = signal + rng.standard_normal(signal.shape)
    odd = signal + rng.standard_normal(signal.shape)
    raw = even_odd_fsc(even, odd)
    smooth = even_odd_fsc(gaussian_filter(even, 1.0), gaussian_filter(odd, 1.0))
    # A shell-wise linear filter leaves the FSC (almost) unchanged.
    assert smooth["fsc_mean"] == pytest.approx(raw["fsc_mean"], abs=0.03)
