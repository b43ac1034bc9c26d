"""Tests of tomorestore.simulate: phantom, projector (geometry, handedness, adjointness), and
the simulated tomograms (determinism, noise model, missing wedge)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from tomorestore.errors import InputError
from tomorestore.simulate import SimulatedTomogram, simulate_tomogram, write_simulation
from tomorestore.simulate.phantom import make_phantom
from tomorestore.simulate.projector import (
    backproject,
    detector_width,
    project,
    ramp_filter,
    tilt_weights,
    weighted_backprojection,
)

SHAPE = (32, 48, 48)


# --- helpers ----------------------------------------------------------------------------


def fourier_angles(shape):
    """φ = atan2(k_z, k_x) folded into (−90°, 90°], and the (k_z, k_x) radius, per voxel."""
    kz = np.fft.fftfreq(shape[0])[:, None, None]
    kx = np.fft.fftfreq(shape[2])[None, None, :]
    phi = np.degrees(np.arctan2(kz, kx))
    phi = np.where(phi > 90, phi - 180, phi)
    phi = np.where(phi <= -90, phi + 180, phi)
    radius = np.hypot(kz, kx)
    return np.broadcast_to(phi, shape), np.broadcast_to(radius, shape)


def power(volume):
    return np.abs(np.fft.fftn(volume.astype(np.float64))) ** 2


def lag1_autocorrelation(volume, axis):
    a = volume.astype(np.float64) - volume.mean()
    n = a.shape[axis]
    first, second = np.take(a, range(n - 1), axis), np.take(a, range(1, n), axis)
    return float((first * second).sum() / np.sqrt((first**2).sum() * (second**2).sum()))


def correlation(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.fixture(scope="module")
def sim() -> SimulatedTomogram:
    return simulate_tomogram(SHAPE, seed=3)


# --- phantom ----------------------------------------------------------------------------


def test_phantom_is_a_nonnegative_slab_with_structure():
    phantom = make_phantom((48, 48, 48), rng=np.random.default_rng(0))
    assert phantom.dtype == np.float32 and phantom.shape == (48, 48, 48)
    assert phantom.min() >= 0.0 and phantom.max() <= 1.0 + 1e-6
    profile = phantom.mean(axis=(1, 2))
    # Vacuum above and below the lamella, sample in the middle.
    assert profile[:3].max() < 0.05 and profile[-3:].max() < 0.05
    assert profile[20:28].min() > 0.15
    # Structure inside the slab, not a flat background.
    assert phantom[16:32].std() > 0.1


def test_phantom_depends_on_seed_and_voxel_size():
    a = make_phantom(SHAPE, rng=np.random.default_rng(1))
    b = make_phantom(SHAPE, rng=np.random.default_rng(1))
    c = make_phantom(SHAPE, rng=np.random.default_rng(2))
    coarse = make_phantom(SHAPE, voxel_size=20.0, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.1
    assert np.abs(a - coarse).max() > 0.1


# --- projector --------------------------------------------------------------------------


def test_detector_covers_the_volume_with_the_parity_of_x():
    for shape, angles in [((32, 8, 48), [-60, 60]), ((31, 8, 47), [0]), ((64, 4, 16), [70])]:
        width = detector_width(shape, angles)
        assert width >= shape[2] and (width - shape[2]) % 2 == 0
    assert detector_width((32, 8, 48), [0.0]) == 48
    # A tilted thick volume needs a wider detector.
    assert detector_width((64, 8, 16), [70.0]) > 16


def test_projection_geometry_follows_the_handedness_convention():
    """A blob at centred (z0, x0) lands on the detector at s = z0·sin θ + x0·cos θ."""
    shape = (33, 3, 41)
    z0, x0 = 7.0, -5.0
    blob = np.zeros(shape, np.float32)
    blob[16 + int(z0), 1, 20 + int(x0)] = 1.0
    blob = ndimage.gaussian_filter(blob, (1.5, 0.0, 1.5))  # no spread along Y
    angles = np.array([-50.0, -20.0, 0.0, 35.0, 60.0])
    projections = project(blob, angles)
    n_s = projections.shape[2]
    s = np.arange(n_s) - (n_s - 1) / 2
    for i, theta in enumerate(np.deg2rad(angles)):
        profile = projections[i, 1]
        centre = (profile * s).sum() / profile.sum()
        assert centre == pytest.approx(z0 * np.sin(theta) + x0 * np.cos(theta), abs=0.05)
        # Line integral: the mass is conserved (to the bilinear interpolation error).
        assert profile.sum() == pytest.approx(1.0, rel=0.01)
    # Y is the tilt axis: rows without the blob see nothing.
    assert np.abs(projections[:, [0, 2]]).max() == 0.0


def test_backprojection_is_the_adjoint_of_projection():
    rng = np.random.default_rng(4)
    shape = (20, 6, 28)
    angles = np.arange(-60.0, 61.0, 7.5)
    volume = ndimage.gaussian_filter(rng.standard_normal(shape), 1.5).astype(np.float32)
    detector = (len(angles), shape[1], detector_width(shape, angles))
    rays = ndimage.gaussian_filter(rng.standard_normal(detector), (0, 1.5, 1.5)).astype(np.float32)
    lhs = float((project(volume, angles).astype(np.float64) * rays).sum())
    rhs = float((volume.astype(np.float64) * backproject(rays, angles, shape)).sum())
    assert lhs == pytest.approx(rhs, rel=0.02)
    scale = np.sqrt((project(volume, angles) ** 2).sum() * (rays**2).sum())
    assert abs(lhs - rhs) < 0.01 * scale


def test_full_angular_range_wbp_reconstructs_the_volume():
    phantom = make_phantom((24, 8, 40), rng=np.random.default_rng(5))
    angles = np.arange(-89.0, 90.0, 1.0)
    recon = weighted_backprojection(project(phantom, angles), angles, phantom.shape)
    assert recon.shape == phantom.shape and recon.dtype == np.float32
    assert correlation(recon, phantom) > 0.99
    assert float((recon * phantom).sum() / (phantom**2).sum()) == pytest.approx(1.0, abs=0.03)


def test_tilt_weights_and_ramp_filter():
    np.testing.assert_allclose(tilt_weights(np.arange(-60, 61, 3.0)), np.deg2rad(3.0))
    uneven = tilt_weights([10.0, -10.0, 0.0, 30.0])  # unsorted input keeps its order
    np.testing.assert_allclose(np.rad2deg(uneven), [15.0, 10.0, 10.0, 20.0])
    ramp = ramp_filter(64)
    f = np.abs(np.fft.fftfreq(64))
    assert ramp[0] == pytest.approx(0.0, abs=0.01)  # band-limited Ram-Lak: ~0 at DC
    np.testing.assert_allclose(ramp[1:33], f[1:33], atol=0.01)  # ≈ |f|
    hann = ramp_filter(64, "hann")
    assert hann[32] == pytest.approx(0.0, abs=1e-12) and np.all(hann >= -1e-12)
    with pytest.raises(InputError, match="window"):
        ramp_filter(64, "gaussian")


def test_projector_rejects_bad_input():
    with pytest.raises(InputError):
        project(np.zeros((4, 4)), [0.0])
    with pytest.raises(InputError):
        project(np.zeros((4, 4, 4)), [])
    with pytest.raises(InputError, match="n_tilts"):
        backproject(np.zeros((3, 4, 8), np.float32), [0.0, 1.0], (4, 4, 8))


# --- simulate_tomogram --------------------------------------------------------------------


def test_shapes_dtypes_and_metadata(sim):
    for name in ("ground_truth", "wedge_only", "even", "odd", "full"):
        volume = getattr(sim, name)
        assert volume.shape == SHAPE and volume.dtype == np.float32, name
        assert np.all(np.isfinite(volume)), name
    np.testing.assert_allclose(sim.tilt_angles, np.arange(-60.0, 60.1, 3.0))
    assert sim.tilt_range == (-60.0, 60.0)
    assert sim.voxel_size == (10.0, 10.0, 10.0) and sim.snr == 0.1 and sim.seed == 3
    np.testing.assert_allclose(sim.full, (sim.even + sim.odd) / 2, atol=1e-6)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sim.snr = 1.0  # type: ignore[misc]


def test_deterministic_by_seed(sim):
    again = simulate_tomogram(SHAPE, seed=3)
    for name in ("ground_truth", "wedge_only", "even", "odd", "full"):
        np.testing.assert_array_equal(getattr(again, name), getattr(sim, name), err_msg=name)
    other = simulate_tomogram(SHAPE, seed=4)
    assert not np.array_equal(other.ground_truth, sim.ground_truth)
    assert not np.array_equal(other.even, sim.even)


def test_noise_is_independent_of_the_signal_and_full_beats_a_half(sim):
    noise = sim.even - sim.odd
    assert abs(correlation(noise, sim.ground_truth)) < 0.05
    assert abs(correlation(noise, sim.wedge_only)) < 0.05
    # The noise really is there: a half-dose tomogram is far from the noise-free one.
    assert correlation(sim.even, sim.wedge_only) < 0.5
    assert correlation(sim.full, sim.ground_truth) > correlation(sim.even, sim.ground_truth)
    assert correlation(sim.full, sim.ground_truth) > correlation(sim.odd, sim.ground_truth)
    # More signal, more similarity.
    clearer = simulate_tomogram(SHAPE, seed=3, snr=10.0)
    assert correlation(clearer.full, sim.ground_truth) > 2 * correlation(sim.full, sim.ground_truth)


def test_noise_variance_follows_the_snr():
    """Halving the SNR doubles the variance of the reconstruction noise."""
    low = simulate_tomogram(SHAPE, seed=6, snr=0.05)
    high = simulate_tomogram(SHAPE, seed=6, snr=0.1)
    ratio = np.var(low.even - low.odd) / np.var(high.even - high.odd)
    assert ratio == pytest.approx(2.0, rel=0.05)
    # even/odd noise (variance 2σ² each) against full (σ²): full − wedge_only ≈ noise/2.
    half_noise = np.var(high.even - high.wedge_only)
    full_noise = np.var(high.full - high.wedge_only)
    assert half_noise / full_noise == pytest.approx(2.0, rel=0.1)


def test_reconstruction_noise_is_correlated_along_z_not_y(sim):
    noise = sim.even - sim.odd
    along_z = lag1_autocorrelation(noise, axis=0)
    along_y = lag1_autocorrelation(noise, axis=1)
    assert along_z > 0.25  # ramp-filtered back-projection: about +0.38
    assert abs(along_y) < 0.05
    assert along_z > along_y + 0.2


def test_wedge_only_has_its_power_in_the_measured_region(sim):
    phi, radius = fourier_angles(SHAPE)
    nonzero = radius > 0
    measured = (phi >= -60) & (phi <= 60)
    clearly_missing = (np.abs(phi) > 65) & nonzero
    wedge, truth = power(sim.wedge_only), power(sim.ground_truth)
    # The phantom has most of its power in the missing region (the slab is flat in Z) ...
    assert truth[~measured & nonzero].sum() / truth[nonzero].sum() > 0.4
    # ... the noise-free reconstruction has little left there.
    assert wedge[clearly_missing].sum() / wedge[nonzero].sum() < 0.15
    # Per region, against the phantom's own spectrum. The measured transfer is below 1
    # (linear interpolation blurs, the box crops objects) but far above the missing one.
    band = (radius > 0.04) & (radius < 0.3)
    kept = wedge[band & (np.abs(phi) < 55)].sum() / truth[band & (np.abs(phi) < 55)].sum()
    lost = wedge[band & clearly_missing].sum() / truth[band & clearly_missing].sum()
    assert 0.5 < kept < 1.2
    assert lost < 0.05
    assert lost < 0.05 * kept


@pytest.mark.parametrize(
    ("tilt_range", "measured_phi", "missing_phi"),
    [((-20.0, 70.0), 50.0, -50.0), ((-70.0, 20.0), -50.0, 50.0)],
)
def test_handedness_on_an_asymmetric_range(tilt_range, measured_phi, missing_phi):
    """Tilts in [θmin, θmax] measure φ = atan2(k_z, k_x) in [θmin, θmax] (not the mirror)."""
    sim = simulate_tomogram(SHAPE, tilt_range=tilt_range, seed=3)
    phi, radius = fourier_angles(SHAPE)
    band = (radius > 0.04) & (radius < 0.3)
    wedge, truth = power(sim.wedge_only), power(sim.ground_truth)

    def recovered(centre):
        region = band & (np.abs(phi - centre) < 10)
        return wedge[region].sum() / truth[region].sum()

    assert recovered(measured_phi) > 0.4
    assert recovered(missing_phi) < 0.1
    assert recovered(measured_phi) > 10 * recovered(missing_phi)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"shape": (32, 48)},
        {"shape": (8, 48, 48)},
        {"shape": "big"},
        {"tilt_range": (60, -60)},
        {"tilt_range": (-90, 60)},
        {"tilt_range": (-60, 95)},
        {"tilt_step": 0},
        {"tilt_step": 200},
        {"snr": -1},
        {"snr": float("nan")},
        {"voxel_size": 0},
    ],
)
def test_bad_arguments_raise_input_error(kwargs):
    kwargs = {"shape": SHAPE, **kwargs}
    with pytest.raises(InputError):
        simulate_tomogram(**kwargs)


def test_write_simulation_round_trip(sim, tmp_path):
    from tomorestore.io import read_volume

    outdir = tmp_path / "new" / "folder"
    written = write_simulation(sim, outdir)
    assert set(written) == {"full", "even", "odd", "ground_truth", "wedge_only", "tilt_angles"}
    for name in ("full", "even", "odd", "ground_truth", "wedge_only"):
        assert written[name] == outdir / f"{name}.mrc"
        volume = read_volume(written[name], mmap=False)
        assert volume.voxel_size == pytest.approx((10.0, 10.0, 10.0))
        np.testing.assert_array_equal(volume.data, getattr(sim, name))
    angles = np.loadtxt(written["tilt_angles"])
    np.testing.assert_allclose(angles, sim.tilt_angles, atol=0.005)
    assert sorted(p.name for p in outdir.iterdir()) == sorted(p.name for p in written.values())
