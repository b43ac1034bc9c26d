"""MissingWedge agrees with the simulator: the wedge it marks missing is where a tilt series
reconstruction has (almost) no power, with the handedness of docs/architecture.md."""

from __future__ import annotations

import pytest
import torch

from tomorestore.physics import MissingWedge, frequency_grid, wedge_region_masks
from tomorestore.simulate import simulate_tomogram

SHAPE = (32, 48, 48)
TILT_RANGE = (-30.0, 60.0)


@pytest.fixture(scope="module")
def simulation():
    return simulate_tomogram(SHAPE, tilt_range=TILT_RANGE, tilt_step=3.0, seed=0)


def _power(volume) -> torch.Tensor:
    return torch.fft.fftn(torch.as_tensor(volume, dtype=torch.float64)).abs().square()


def _transfer(sim, region: torch.Tensor) -> float:
    """Mean power of the reconstruction over the ground truth's, inside a Fourier region."""
    return float(_power(sim.wedge_only)[region].mean() / _power(sim.ground_truth)[region].mean())


def test_simulated_tilt_range_gives_the_wedge(simulation):
    wedge = MissingWedge.from_tilt_angles(simulation.tilt_angles)
    assert (wedge.tilt_min, wedge.tilt_max) == TILT_RANGE


@pytest.mark.parametrize("margin_deg", [5.0, 10.0])
def test_missing_region_has_no_power_in_the_reconstruction(simulation, margin_deg):
    inside, measured = wedge_region_masks(MissingWedge(*TILT_RANGE), SHAPE, margin_deg=margin_deg)
    missing, kept = _transfer(simulation, inside), _transfer(simulation, measured)
    assert kept > 0.3  # the reconstruction keeps the measured frequencies
    assert missing < 0.1 * kept  # and has (almost) nothing in the missing wedge
    # per voxel, without normalising by the phantom's spectrum
    power = _power(simulation.wedge_only)
    assert float(power[inside].mean()) < 0.3 * float(power[measured].mean())


def test_handedness_matches_the_projector(simulation):
    """φ ∈ [40°, 55°] is measured by (−30, 60); its mirror image [−55°, −40°] is not.

    A flipped handedness would swap the two; the measured transfer ratio is about 0.1.
    """
    kz, ky, kx = frequency_grid(SHAPE)
    radius = torch.sqrt(kz**2 + ky**2 + kx**2)
    in_plane = (kz.abs() + kx.abs()) > 0  # off the k_y axis, where φ is defined
    band = in_plane & (radius <= 0.5)
    positive = MissingWedge(40, 55).mask(SHAPE).bool() & band
    negative = MissingWedge(-55, -40).mask(SHAPE).bool() & band
    wedge = MissingWedge(*TILT_RANGE).mask(SHAPE).bool()
    assert torch.all(wedge[positive]) and not torch.any(wedge[negative])
    assert _transfer(simulation, negative) < 0.2 * _transfer(simulation, positive)
