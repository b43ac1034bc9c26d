"""Method losses: Parseval identities, rotated-mask consistency, determinism, descent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tomorestore.errors import InputError
from tomorestore.methods import EI, METHODS, N2N, N2V, Dewedge, get_method
from tomorestore.methods.augment import (
    random_swap,
    random_wedge_preserving_flips,
    random_y_rotations_and_flips,
    rot90_y,
)
from tomorestore.methods.ei import wedge_moving_rotations
from tomorestore.methods.losses import fourier_filter, fourier_weighted_mse
from tomorestore.methods.params import DewedgeParams, EIParams, N2NParams, N2VParams
from tomorestore.models import NetworkConfig, UNet3D, build_network
from tomorestore.physics import MissingWedge, cube_rotations, rotate_cube

WEDGE = MissingWedge(-60, 60)


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _smooth_volume(size: int, seed: int) -> torch.Tensor:
    """A random low-pass volume (band-limited, so every rotation resamples it well)."""
    gen = _generator(seed)
    noise = torch.randn(size, size, size, generator=gen)
    k = torch.fft.fftfreq(size)
    radius = torch.sqrt(k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2)
    return torch.fft.ifftn(torch.fft.fftn(noise) * torch.exp(-((radius / 0.12) ** 2))).real


# -- Fourier loss pieces ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(16, 16, 16), (12, 14, 15)])
def test_fourier_weighted_mse_is_real_space_mse_after_filter(size):
    error = torch.randn(3, *size, generator=_generator(1))
    rotations = cube_rotations()[[0, 5, 17]]
    mask = WEDGE.mask(size, rfft=True, rotation=rotations)
    full = WEDGE.mask(size, rotation=rotations)
    dims = (-3, -2, -1)
    filtered = torch.fft.ifftn(full * torch.fft.fftn(error, dim=dims), dim=dims).real
    expected = filtered.square().mean()
    assert fourier_weighted_mse(error, mask).item() == pytest.approx(expected.item(), rel=1e-5)
    # all-ones weight: plain MSE (Parseval)
    ones = torch.ones(size[0], size[1], size[2] // 2 + 1)
    assert fourier_weighted_mse(error, ones).item() == pytest.approx(
        error.square().mean().item(), rel=1e-5
    )


def test_fourier_filter_matches_wedge_apply_and_is_a_projection():
    x = torch.randn(2, 1, 16, 16, 16, generator=_generator(2))
    mask = WEDGE.mask((16, 16, 16), rfft=True)
    once = fourier_filter(x, mask)
    assert torch.allclose(once, WEDGE.apply(x), atol=1e-5)
    assert torch.allclose(fourier_filter(once, mask), once, atol=1e-5)
    y = torch.randn(2, 1, 16, 16, 16, generator=_generator(3))
    # self-adjoint: <A x, y> = <x, A y>
    assert torch.dot(once.flatten(), y.flatten()).item() == pytest.approx(
        torch.dot(x.flatten(), fourier_filter(y, mask).flatten()).item(), rel=1e-4
    )


# -- augmentations ------------------------------------------------------------------------------


def test_augmentations_keep_halves_aligned():
    base = torch.randn(6, 1, 12, 12, 12, generator=_generator(4))
    pairs = torch.cat([base, base], dim=1)
    for augment in (random_y_rotations_and_flips, random_wedge_preserving_flips, random_swap):
        out = augment(pairs, generator=_generator(5))
        assert torch.equal(out[:, 0], out[:, 1])


def test_rot90_y_is_cube_rotation_that_moves_the_wedge():
    x = torch.randn(10, 10, 10, generator=_generator(6))
    mats = cube_rotations()
    quarter = [i for i in range(24) if torch.equal(rotate_cube(x, i), rot90_y(x, 1))]
    assert len(quarter) == 1
    assert quarter[0] in wedge_moving_rotations(WEDGE, "y90")
    a = mats[quarter[0]]
    assert a[1, 1] == 1  # about Y


def test_wedge_preserving_flips_keep_the_wedge_filtered_content_inside():
    asymmetric = MissingWedge(-40, 55)
    x = asymmetric.apply(torch.randn(8, 1, 16, 16, 16, generator=_generator(7)))
    out = random_wedge_preserving_flips(x, generator=_generator(8))
    assert torch.allclose(asymmetric.apply(out), out, atol=1e-5)


def test_wedge_moving_rotations_exclude_wedge_preserving_ones():
    moving = wedge_moving_rotations(WEDGE, "cube")
    assert 0 not in moving and len(moving) == 20  # identity and three half-turns keep it
    assert len(wedge_moving_rotations(WEDGE, "y90")) == 2


# -- rotated-mask consistency (dewedge) ----------------------------------------------------------


class _CubeOracle(torch.nn.Module):
    """Knows the clean volume: finds the rotation of the input, returns the rotated volume."""

    def __init__(self, clean: torch.Tensor, wedge: MissingWedge, extra: torch.Tensor):
        super().__init__()
        self.candidates = [rotate_cube(clean, i) for i in range(24)]
        self.wedge = wedge
        self.extra = extra  # added to the answer (per cube index) to probe the loss weights
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        out = []
        for sample in x[:, 0]:
            errors = [
                (self.wedge.apply(c) - sample.float()).abs().max().item() for c in self.candidates
            ]
            i = int(np.argmin(errors))
            assert errors[i] < 1e-4
            out.append(self.candidates[i] + self.extra[i])
        return torch.stack(out).unsqueeze(1) * self.scale


def test_dewedge_loss_vanishes_for_perfect_prediction_and_ignores_unmeasured_target():
    size = 16
    clean = _smooth_volume(size, 9)
    batch = torch.stack([clean, clean]).unsqueeze(0).repeat(4, 1, 1, 1, 1)
    method = Dewedge(DewedgeParams(rotations="cube"), WEDGE)
    mats = cube_rotations()
    zero = torch.zeros(24, size, size, size)
    oracle = _CubeOracle(clean, WEDGE, zero)
    assert method.training_loss(oracle, batch, generator=_generator(0)).item() < 1e-8
    # an error that lives where the rotated target is not measured costs nothing ...
    junk = torch.randn(24, size, size, size, generator=_generator(1))
    unmeasured = torch.stack([junk[i] - WEDGE.apply(junk[i], rotation=mats[i]) for i in range(24)])
    oracle = _CubeOracle(clean, WEDGE, unmeasured)
    assert method.training_loss(oracle, batch, generator=_generator(0)).item() < 1e-8
    # ... while one in the measured region of the target does, weighted by wedge_weight
    measured = torch.stack([WEDGE.apply(junk[i], rotation=mats[i]) for i in range(24)])
    oracle = _CubeOracle(clean, WEDGE, measured)
    low = Dewedge(DewedgeParams(rotations="cube", wedge_weight=1.0), WEDGE)
    high = Dewedge(DewedgeParams(rotations="cube", wedge_weight=10.0), WEDGE)
    loss_low = low.training_loss(oracle, batch, generator=_generator(0)).item()
    loss_high = high.training_loss(oracle, batch, generator=_generator(0)).item()
    assert loss_low > 0.1 * measured.square().mean().item()
    assert loss_high > 2 * loss_low


def test_dewedge_so3_crops_are_sqrt2_larger_and_loss_is_finite():
    method = Dewedge(DewedgeParams(rotations="so3"), WEDGE)
    assert method.crop_size(16) == 23
    assert Dewedge(DewedgeParams(rotations="cube"), WEDGE).crop_size(16) == 16
    net = UNet3D(depth=2, base_channels=4)
    batch = torch.randn(2, 2, 23, 23, 23, generator=_generator(2))
    loss = method.training_loss(net, batch, generator=_generator(3))
    assert torch.isfinite(loss) and loss.item() > 0


def test_dewedge_z_rotations_keep_the_lamella_plane_and_learn_the_wedge_off_the_kz_cone():
    from tomorestore.methods.rotation_draws import rotate_randomly

    method = Dewedge(DewedgeParams(rotations="z"), WEDGE)
    assert method.resampled and method.crop_size(16) == 23
    # a Z profile (a lamella's slab) is unchanged by rotations about Z
    profile = torch.linspace(-1.0, 1.0, 23).reshape(1, 1, 23, 1, 1).expand(2, 1, 23, 23, 23)
    rotated, matrices = rotate_randomly(profile, 15, generator=_generator(5), group="z")
    torch.testing.assert_close(rotated, profile[..., 4:19, 4:19, 4:19], atol=1e-5, rtol=0)
    assert torch.all(matrices[:, 0, 0] == 1.0)
    # the rotated target measures part of the input's wedge, never the cone about k_z
    masks = WEDGE.mask((16,) * 3, rfft=True, rotation=matrices)
    wedge = 1.0 - WEDGE.mask((16,) * 3, rfft=True)
    assert float((masks * wedge).sum()) > 0
    assert float(masks[:, 1:, 0, 0].sum()) == 0.0  # k_x = k_y = 0, k_z ≠ 0: never measured
    net = UNet3D(depth=2, base_channels=4)
    batch = torch.randn(2, 2, 23, 23, 23, generator=_generator(2))
    loss = method.training_loss(net, batch, generator=_generator(3))
    assert torch.isfinite(loss) and loss.item() > 0


def test_whole_volume_tile_is_the_trained_patch_clipped_to_16_to_64():
    from tomorestore.methods.rotation_draws import whole_volume_tile

    assert [whole_volume_tile(c) for c in (8, 32, 48, 96)] == [16, 32, 48, 64]
    method = Dewedge(DewedgeParams(rotations="so3"), WEDGE)
    assert whole_volume_tile(method.crop_size(48), so3=True) == 48  # inside the crop 68
    assert whole_volume_tile(method.crop_size(96), so3=True) == 64


def test_dewedge_predict_input_is_the_wedge_filter():
    method = Dewedge(None, WEDGE)
    x = torch.randn(1, 1, 16, 16, 16, generator=_generator(4))
    assert torch.allclose(method.predict_input(x), WEDGE.apply(x), atol=1e-5)
    raw = Dewedge(DewedgeParams(wedge_filter_input=False), WEDGE)
    assert torch.equal(raw.predict_input(x), x)


# -- n2n / ei consistency ------------------------------------------------------------------------


def test_n2n_identity_on_noise_free_pairs_has_zero_loss():
    clean = torch.randn(3, 1, 12, 12, 12, generator=_generator(5))
    batch = torch.cat([clean, clean], dim=1)
    method = N2N(N2NParams(), None)
    assert method.training_loss(torch.nn.Identity(), batch, generator=_generator(6)) == 0
    assert method.validation_loss(torch.nn.Identity(), batch) == 0


def test_ei_terms_on_noise_free_pairs():
    clean = WEDGE.apply(torch.randn(2, 1, 16, 16, 16, generator=_generator(7)))
    batch = torch.cat([clean, clean], dim=1)
    # identity network: data term zero (f(v0) = v1), equivariance term = wedge content of T x
    data_only = EI(EIParams(order="joint", ei_weight=0.0), WEDGE)
    assert data_only.training_loss(torch.nn.Identity(), batch, generator=_generator(0)) < 1e-10
    method = EI(EIParams(order="joint", ei_weight=1.0, rotations="y90"), WEDGE)
    loss = method.training_loss(torch.nn.Identity(), batch, generator=_generator(0)).item()
    rotated = rot90_y(clean, 1)  # both y90 rotations move the same amount of content
    expected = (rotated - WEDGE.apply(rotated)).square().mean().item()
    assert loss == pytest.approx(expected, rel=1e-4)


def test_ei_data_term_choice():
    method = EI(None, WEDGE)
    assert method.data_mode(2) == "n2n" and method.data_mode(1) == "n2v"
    with pytest.raises(InputError, match="even and odd"):
        EI(EIParams(data_term="n2n", order="joint"), WEDGE).data_mode(1)
    # denoise_first: n2n's denoiser trains on the even and odd rows of one tomogram
    assert EI(EIParams(data_term="n2n"), WEDGE).data_mode(1) == "n2n"
    assert EI.splits_rows(EIParams(data_term="n2n"), 1)
    assert not EI.splits_rows(EIParams(data_term="n2n"), 2)
    assert not EI.splits_rows(EIParams(), 1)


# -- interface ------------------------------------------------------------------------------------


def test_registry_and_interface():
    assert set(METHODS) == {"n2v", "n2n", "dewedge", "ei"}
    assert get_method("N2V") is N2V
    with pytest.raises(InputError, match="choose one of"):
        get_method("care")
    with pytest.raises(InputError, match="tilt range"):
        Dewedge(None, None)
    with pytest.raises(InputError, match="takes"):
        N2V(N2NParams(), None)
    assert N2V({"struct_z": 1}, None).params.struct_z == 1
    assert "needs even/odd half tomograms" in Dewedge.input_problem(n_halves=1, has_wedge=True)
    assert N2N.input_problem(n_halves=1, has_wedge=False) is None
    assert N2V.input_problem(n_halves=2, has_wedge=False) is None
    assert "tilt range" in EI.input_problem(n_halves=1, has_wedge=False, advice={"wedge": "x"})
    for cls in METHODS.values():
        assert cls.default_steps > 0 and cls.default_patch_size % 8 == 0
    halves = [np.ones((4, 4, 4), np.float32), 3 * np.ones((4, 4, 4), np.float32)]
    assert np.allclose(N2N().combine(halves), 2.0)


@pytest.mark.parametrize("params_type", [N2VParams, N2NParams, DewedgeParams, EIParams])
def test_params_forbid_unknown_keys_and_round_trip(params_type):
    with pytest.raises(ValueError):
        params_type(not_a_field=1)
    params = params_type()
    assert params_type.model_validate(params.model_dump()) == params
    for field in params_type.model_fields.values():
        assert field.description


# -- every loss: finite, deterministic validation, falls with training ---------------------------


def _method_and_batch(name: str, halves: int):
    cls = get_method(name)
    method = cls(None, WEDGE if cls.needs_wedge else None)
    clean = _smooth_volume(32, 10)
    clean = (clean - clean.mean()) / clean.std()
    gen = _generator(11)
    noisy = [clean + 0.5 * torch.randn(clean.shape, generator=gen) for _ in range(halves)]
    batch = torch.stack(noisy).unsqueeze(0)
    crops = torch.cat([batch[..., :24, :24, :24], batch[..., 8:, 8:, 8:]])
    return method, crops


@pytest.mark.parametrize(("name", "halves"), [("n2v", 1), ("n2n", 2), ("dewedge", 2), ("ei", 2),
                                              ("ei", 1)])  # fmt: skip
def test_loss_is_finite_deterministic_in_validation_and_falls(name, halves):
    torch.manual_seed(0)
    method, batch = _method_and_batch(name, halves)
    defaults = type(method).network_defaults(method.params)  # ei: its two-stage network
    net = build_network(NetworkConfig(depth=2, base_channels=8, n2v2=defaults["n2v2"],
                                      stages=defaults.get("stages", 1)))  # fmt: skip
    first = method.validation_loss(net, batch)
    assert torch.isfinite(first)
    assert method.validation_loss(net, batch) == first
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    gen = _generator(12)
    for _ in range(40):
        loss = method.training_loss(net, batch, generator=gen)
        assert torch.isfinite(loss)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert method.validation_loss(net, batch) < 0.93 * first


# -- dewedge refill ---------------------------------------------------------------------------


class _Shift(torch.nn.Module):
    """A fixed, non-trivial 'network': a smoothing stencil (keeps the shape)."""

    def forward(self, x):
        return 0.5 * x + 0.25 * (torch.roll(x, 1, dims=-3) + torch.roll(x, 1, dims=-1))


def test_dewedge_refill_keeps_measured_frequencies_and_takes_the_wedge_from_the_network():
    from tomorestore.data.sampling import PatchSampler
    from tomorestore.inference import predict_tiled

    gen = np.random.default_rng(0)
    halves = [gen.normal(size=(20, 40, 36)).astype(np.float32) for _ in range(2)]
    sampler = PatchSampler(halves, crop_size=16, validation_fraction=0.0)
    method = Dewedge(DewedgeParams(refill_every=5, rotations="cube"), WEDGE)
    model = _Shift()
    method.refresh(model, sampler, step=3, device="cpu")  # not a refill step
    assert all(np.array_equal(a, b) for a, b in zip(sampler.halves, halves, strict=True))
    method.refresh(model, sampler, step=5, device="cpu")
    mask = WEDGE.mask(halves[0].shape).numpy().astype(bool)
    for old, new in zip(halves, sampler.halves, strict=True):
        assert new.shape == old.shape and new.dtype == np.float32
        predicted = predict_tiled(
            old, lambda t: model(method.predict_input(t)), tile=16, overlap=0.25
        )
        f_new, f_old, f_pred = (np.fft.fftn(v) for v in (new, old, predicted))
        assert np.allclose(f_new[mask], f_old[mask], atol=1e-3 * np.abs(f_old).max())
        assert np.allclose(f_new[~mask], f_pred[~mask], atol=2e-2 * np.abs(f_pred).max())
        assert not np.allclose(new, old, atol=1e-3)


def test_dewedge_refill_of_large_halves_writes_into_scratch_memory_maps(monkeypatch):
    """Halves read through NormalizedVolume, refilled in place into the scratch files."""
    from tomorestore.data import Normalization, sampling
    from tomorestore.data.normalized_volume import NormalizedVolume
    from tomorestore.data.sampling import PatchSampler

    gen = np.random.default_rng(1)
    raw = [gen.normal(3.0, 2.0, size=(20, 40, 36)).astype(np.float32) for _ in range(2)]
    norm = Normalization(mean=3.0, std=2.0)
    method = Dewedge(DewedgeParams(refill_every=1, rotations="cube"), WEDGE)

    def refilled_twice(scratch_bytes: int) -> tuple[list, list]:
        monkeypatch.setattr(sampling, "SCRATCH_BYTES", scratch_bytes)
        monkeypatch.setattr("tomorestore.methods.dewedge.REFILL_SLAB_VOXELS", 20 * 36 * 7)
        sampler = PatchSampler(
            [NormalizedVolume(r, norm) for r in raw], crop_size=16, validation_fraction=0.0
        )
        method.refresh(_Shift(), sampler, step=1, device="cpu")
        first = [np.array(h) for h in sampler.halves]
        method.refresh(_Shift(), sampler, step=2, device="cpu")
        return first, sampler.halves

    in_memory_first, in_memory = refilled_twice(2**40)
    mapped_first, mapped = refilled_twice(1)
    assert all(isinstance(h, np.memmap) and h.dtype == np.float32 for h in mapped)
    assert len({h.filename for h in mapped}) == 2  # one file per half, filled in place
    for a, b in zip(in_memory_first + in_memory, mapped_first + mapped, strict=True):
        np.testing.assert_allclose(np.asarray(b), a, atol=1e-5)
    # the first refill's files are not overwritten while they are the halves in use
    assert not np.allclose(mapped_first[0], np.asarray(mapped[0]), atol=1e-4)
