"""ei's denoise_first order: a denoiser, then a wedge filler trained on its output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tomorestore import api
from tomorestore.data import Normalization, PatchSampler
from tomorestore.methods import get_method
from tomorestore.methods.ei_staged import (
    WedgeFromFiller,
    make_denoised_pair,
    stage_position,
    switch_step,
)
from tomorestore.methods.losses import fourier_filter
from tomorestore.methods.params import EIParams
from tomorestore.models import NetworkConfig, StagedUNet, build_network, routed
from tomorestore.physics import MissingWedge, fourier_correlation, wedge_region_masks
from tomorestore.simulate import simulate_tomogram
from tomorestore.training import make_config, make_wedge, resolve_config

WEDGE = MissingWedge(-60.0, 60.0)


def test_the_default_ei_network_has_two_stages_and_joint_one():
    cls = get_method("ei")
    wedge = make_wedge((-60, 60))
    staged = resolve_config(make_config(method="ei", wedge=wedge), cls, "cpu").network
    assert (staged.stages, staged.n2v2) == (2, True)
    joint = make_config(method="ei", wedge=wedge, params={"order": "joint"})
    assert resolve_config(joint, cls, "cpu").network.stages == 1


def test_staged_network_routes_and_restores_with_the_denoiser_until_the_filler_trained():
    network = build_network(NetworkConfig(depth=1, base_channels=4, n2v2=True, stages=2))
    assert isinstance(network, StagedUNet)
    assert network.denoiser.n2v2 and not network.filler.n2v2
    x = torch.randn(1, 1, 8, 8, 8)
    with torch.no_grad():
        denoised = network.denoiser(x)
        assert torch.equal(network(x), denoised)
        network.start_filler()
        assert torch.allclose(network(x), network.filler(denoised))
        with routed(network, "filler"):
            assert torch.allclose(network(x), network.filler(x))
        assert network.route is None
    copy = build_network(NetworkConfig(depth=1, base_channels=4, n2v2=True, stages=2))
    copy.load_state_dict(network.state_dict())  # the stage travels with the weights
    assert copy.filler_trained


def test_the_filler_runs_on_the_standardised_denoised_volume_and_old_networks_load():
    network = build_network(NetworkConfig(depth=1, base_channels=4, n2v2=True, stages=2))
    x = torch.randn(1, 1, 8, 8, 8)
    with torch.no_grad():
        network.start_filler(0.01, 0.025)
        denoised = network.denoiser(x)
        expected = network.filler((denoised - 0.01) / 0.025) * 0.025 + 0.01
        assert torch.allclose(network(x), expected, atol=1e-6)
        assert network.pair_mean_std == pytest.approx((0.01, 0.025))
    copy = build_network(NetworkConfig(depth=1, base_channels=4, n2v2=True, stages=2))
    copy.load_state_dict(network.state_dict())  # the statistics travel with the weights
    assert copy.pair_mean_std == pytest.approx((0.01, 0.025))
    old = {k: v for k, v in network.state_dict().items() if k != "pair_stats"}
    copy.load_state_dict(old)  # saved before the pair was standardised: used as it is
    assert copy.pair_mean_std == (0.0, 1.0)
    with pytest.raises(ValueError, match="> 0"):
        network.start_filler(0.0, 0.0)


def test_each_stage_gets_its_own_schedule():
    assert switch_step(500, 0.4) == 200 and switch_step(3, 0.05) == 1
    assert stage_position(1, 500, 200) == (1, 200)
    assert stage_position(200, 500, 200) == (200, 200)
    assert stage_position(201, 500, 200) == (1, 300)
    assert stage_position(500, 500, 200) == (300, 300)


def test_one_tomogram_becomes_the_denoised_pair():
    volume = np.random.default_rng(0).normal(size=(16, 24, 24)).astype(np.float32)
    sampler = PatchSampler([volume], crop_size=8, validation_fraction=0.0)
    network = build_network(NetworkConfig(depth=1, base_channels=4, n2v2=True, stages=2))
    method = get_method("ei")(EIParams(denoise_fraction=0.5), WEDGE)
    method.prepare(network, sampler, start_step=0, total_steps=10, device="cpu")
    assert not method.refresh(network, sampler, step=4, device="cpu")
    assert sampler.n_halves == 1
    assert method.refresh(network, sampler, step=5, device="cpu")
    assert sampler.n_halves == 2 and network.filler_trained
    first, second = sampler.unpadded_halves()
    np.testing.assert_array_equal(first, second)
    # the denoiser's output, standardised with statistics the network keeps
    mean, std = network.pair_mean_std
    unscaled = PatchSampler([volume], crop_size=8, validation_fraction=0.0)
    with routed(network, "denoiser"):
        make_denoised_pair(network, unscaled, device="cpu", stats=Normalization(mean=0, std=1))
    np.testing.assert_allclose(first * std + mean, unscaled.unpadded_halves()[0], atol=1e-5)
    assert Normalization.from_volume(first).std == pytest.approx(1.0, rel=1e-3)
    assert not np.allclose(first, volume)
    # a run resumed after the switch makes the pair before its first step
    resumed = PatchSampler([volume], crop_size=8, validation_fraction=0.0)
    again = get_method("ei")(EIParams(denoise_fraction=0.5), WEDGE)
    again.prepare(network, resumed, start_step=6, total_steps=10, device="cpu")
    assert resumed.n_halves == 2 and again.paired
    assert network.pair_mean_std == (mean, std)  # the saved standardisation is kept
    np.testing.assert_allclose(resumed.unpadded_halves()[0], first, atol=1e-5)


def test_joint_order_with_a_staged_network_or_staged_without_one_is_explained():
    method = get_method("ei")(EIParams(), WEDGE)
    plain = build_network(NetworkConfig(depth=1, base_channels=4))
    batch = torch.randn(2, 1, 8, 8, 8)
    with pytest.raises(Exception, match="two-stage network"):
        method.training_loss(plain, batch, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def tiny():
    """Objects in ice at the benchmark's projection SNR (0.1)."""
    return simulate_tomogram((32, 48, 48), tilt_range=(-60, 60), snr=0.1, seed=5, sample="sparse")


def _tiny_scores(tiny, volume: np.ndarray) -> dict[str, float]:
    inside, measured = wedge_region_masks(WEDGE, tiny.ground_truth.shape, 10.0)
    return {
        "r": float(np.corrcoef(volume.ravel(), tiny.ground_truth.ravel())[0, 1]),
        "wedge": float(fourier_correlation(volume, tiny.ground_truth, inside)),
        "measured": float(fourier_correlation(volume, tiny.ground_truth, measured)),
    }


def _train_tiny(tiny, path, data: dict, **options) -> tuple[dict, dict]:
    """ei's default order on ``data`` (input= or even=/odd=): raw and restored scores."""
    torch.manual_seed(0)
    model = api.train("ei", **data, tilt_range=(-60, 60), steps=120, patch_size=24, seed=0,
                      device="cpu", progress=False, out=path, **options)  # fmt: skip
    assert model.network.filler_trained
    restored = api.restore(path, **data, progress=False).data
    return _tiny_scores(tiny, tiny.full), _tiny_scores(tiny, restored)


def test_ei_on_one_tiny_tomogram_beats_the_raw_inside_the_wedge(tiny, tmp_path):
    # The denoiser trains on the even and odd rows along the tilt axis (data_term='n2n'):
    # at this size and budget (48 denoising steps) the default blind-spot denoiser leaves
    # the pair noisy and the filler's wedge swings with the seed (session 9, seeds 0-3 at
    # 1 thread: in-wedge FC -0.01 / 0.25 / -0.02 / 0.13 against the raw's 0.123), while
    # with the row split it stayed above the raw (0.18 / 0.34 / 0.13 / 0.46, r 0.54-0.68).
    # Measured when written, as run here: in-wedge FC 0.123 raw -> 0.175, r 0.104 -> 0.545.
    raw, out = _train_tiny(tiny, tmp_path / "ei.ckpt", {"input": tiny.full}, data_term="n2n")
    assert out["wedge"] > raw["wedge"] + 0.03, (raw, out)
    assert out["r"] > raw["r"] + 0.3, (raw, out)


def test_ei_on_tiny_halves_denoises(tiny, tmp_path):
    # The default order on even/odd halves: an n2n denoiser, then the filler on the
    # standardised denoised pair. At this size and budget its wedge filling swings with the
    # seed (session 9: in-wedge FC -0.04 here, raw 0.123), so only the denoising is checked;
    # the wedge is checked on one tomogram above and on the benchmark (docs/quality.md).
    # Measured when written: r 0.104 -> 0.464, measured-region FC 0.163 -> 0.655.
    halves = {"even": tiny.even, "odd": tiny.odd}
    raw, out = _train_tiny(tiny, tmp_path / "ei.ckpt", halves)
    assert out["r"] > raw["r"] + 0.2, (raw, out)
    assert out["measured"] > raw["measured"] + 0.2, (raw, out)


def test_an_ei_checkpoint_of_format_2_loads_as_the_joint_order_it_was(tmp_path):
    volume = np.random.default_rng(1).normal(size=(16, 32, 32)).astype(np.float32)
    path = tmp_path / "joint.ckpt"
    api.train("ei", input=volume, tilt_range=(-60, 60), steps=2, patch_size=16, order="joint",
              device="cpu", progress=False, out=path)  # fmt: skip
    payload = torch.load(path, weights_only=True)
    del payload["config"]["params"]["order"]  # as written before the order existed
    payload["format_version"] = 2
    old = tmp_path / "old.ckpt"
    torch.save(payload, old)
    model = api.load_model(old)
    assert model.config.params.order == "joint"
    assert not isinstance(model.network, StagedUNet)
    assert api.restore(model, input=volume, progress=False).data.shape == volume.shape


def test_the_filler_is_residual_and_starts_as_the_identity():
    network = build_network(NetworkConfig(depth=1, base_channels=4, n2v2=True, stages=2))
    assert network.filler.residual and not network.denoiser.residual
    x = torch.randn(1, 1, 8, 8, 8)
    with torch.no_grad():
        network.start_filler(0.5, 2.0)
        assert torch.allclose(network(x), network.denoiser(x), atol=1e-6)
    plain = build_network(NetworkConfig(depth=1, base_channels=4, stages=2, filler_residual=False))
    assert not plain.filler.residual
    with pytest.raises(ValueError, match="filler_residual"):
        NetworkConfig(stages=2, out_channels=2)
    NetworkConfig(out_channels=2)  # one stage: the filler's setting does not apply


def test_a_two_stage_checkpoint_of_format_3_loads_with_its_plain_filler(tmp_path):
    volume = np.random.default_rng(2).normal(size=(16, 32, 32)).astype(np.float32)
    path = tmp_path / "staged.ckpt"
    api.train("ei", input=volume, tilt_range=(-60, 60), steps=4, patch_size=16,
              denoise_fraction=0.5, device="cpu", progress=False, out=path)  # fmt: skip
    payload = torch.load(path, weights_only=True)
    assert payload["config"]["network"]["filler_residual"] is True
    del payload["config"]["network"]["filler_residual"]  # as written before it existed
    payload["format_version"] = 3
    old = tmp_path / "old.ckpt"
    torch.save(payload, old)
    model = api.load_model(old)
    assert model.config.network.filler_residual is False
    assert model.config.params.keep_measured is False  # restores with the whole filler
    assert not model.network.filler.residual and model.network.filler_trained
    method = get_method("ei")(model.config.params, WEDGE)
    assert method.restoring_network(model.network) is model.network
    assert api.restore(model, input=volume, progress=False).data.shape == volume.shape


def test_restoring_keeps_the_denoisers_measured_region_and_the_fillers_wedge():
    torch.manual_seed(0)
    network = build_network(NetworkConfig(depth=1, base_channels=4, n2v2=True, stages=2))
    method = get_method("ei")(EIParams(), WEDGE)
    assert method.restoring_network(network) is network  # the filler has not trained
    network.start_filler(0.5, 2.0)
    torch.nn.init.normal_(network.filler.head.weight, std=0.5)  # a filler that does something
    restoring = method.restoring_network(network)
    assert isinstance(restoring, WedgeFromFiller)
    plain = get_method("ei")(EIParams(keep_measured=False), WEDGE)
    assert plain.restoring_network(network) is network
    x = torch.randn(1, 1, 16, 16, 16)
    with torch.no_grad():
        out, denoised, both = restoring(x), network.denoiser(x), network(x)
    mask = WEDGE.mask((16, 16, 16), rfft=True)
    measured = fourier_filter(out, mask)
    torch.testing.assert_close(measured, fourier_filter(denoised, mask), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        fourier_filter(out, 1 - mask), fourier_filter(both, 1 - mask), atol=1e-5, rtol=0
    )
    assert not torch.allclose(out, both, atol=1e-3)  # the measured region differs from both


def test_restoring_adds_the_share_of_the_fillers_wedge():
    from tomorestore.methods.ei import WEDGE_SHARE

    torch.manual_seed(1)
    network = build_network(NetworkConfig(depth=1, base_channels=4, n2v2=True, stages=2))
    network.start_filler(0.5, 2.0)
    torch.nn.init.normal_(network.filler.head.weight, std=0.5)
    x = torch.randn(1, 1, 16, 16, 16)
    cls = get_method("ei")
    with torch.no_grad():
        denoised = network.denoiser(x)
        outputs = {share: cls(EIParams(wedge_share=share), WEDGE).restoring_network(network)(x)
                   for share in (0.0, 0.25, 1.0)}  # fmt: skip
        legacy = cls(EIParams(), WEDGE).restoring_network(network)  # a model without a share
    torch.testing.assert_close(outputs[0.0], denoised, atol=1e-5, rtol=0)
    full_wedge = outputs[1.0] - denoised
    assert full_wedge.abs().max() > 1e-2  # the filler does something
    torch.testing.assert_close(outputs[0.25] - denoised, 0.25 * full_wedge, atol=1e-5, rtol=0)
    assert legacy.share == 1.0  # models trained before the share restore with all of it
    white = np.random.default_rng(0).standard_normal((32, 48, 40)).astype(np.float32)
    assert cls.params_for_data(EIParams(), [white])[0].wedge_share == WEDGE_SHARE
    assert cls.params_for_data(EIParams(wedge_share=1.0), [white])[0].wedge_share == 1.0
    assert cls.params_for_data(EIParams(), [white, white])[0].wedge_share == 1.0  # halves
    with pytest.raises(ValueError, match="share"):
        WedgeFromFiller(network, network, WEDGE, share=1.5)


def test_the_denoiser_stage_ends_at_the_switch_only():
    method = get_method("ei")(EIParams(denoise_fraction=0.4), MissingWedge(-60.0, 60.0))
    method.total_steps = 10
    assert [s for s in range(1, 11) if method.stage_ends(s)] == [4]
    method.paired = True  # the filler trains: no stage ends any more
    assert not method.stage_ends(4)
    joint = get_method("ei")(EIParams(order="joint"), MissingWedge(-60.0, 60.0))
    assert not any(joint.stage_ends(s) for s in range(1, 11))


def test_the_own_n2n_denoiser_trains_as_n2n_and_the_filler_as_ei(monkeypatch):
    from tomorestore.methods.n2n import N2N
    from tomorestore.training import engine

    cls = get_method("ei")
    wedge = make_wedge((-60, 60))
    params = {"data_term": "n2n", "denoiser_settings": "own", "denoise_fraction": 0.5}
    network = resolve_config(make_config(method="ei", wedge=wedge, params=params), cls,
                             "cpu").network  # fmt: skip
    assert (network.norm, network.n2v2, network.filler_norm) == ("none", False, "instance")
    staged = build_network(network)
    norms = [sum("Norm" in type(m).__name__ for m in n.modules())
             for n in (staged.denoiser, staged.filler)]  # fmt: skip
    assert norms[0] == 0 and norms[1] > 0
    # 'shared' (the default) keeps one network setting and the run's learning rate
    shared = {**params, "denoiser_settings": "shared"}
    method = cls(EIParams(**shared), MissingWedge(-60.0, 60.0))
    assert method.stage_learning_rate(1) is None
    # the engine takes n2n's rate and schedule for the denoiser's steps, ei's after them
    seen = []
    original = engine.learning_rate_at

    def recording(step, total, peak, schedule="cosine"):
        seen.append((peak, schedule))
        return original(step, total, peak, schedule)

    monkeypatch.setattr(engine, "learning_rate_at", recording)
    rng = np.random.default_rng(0)
    volume = rng.standard_normal((32, 32, 32)).astype(np.float32)
    config = make_config(method="ei", wedge=wedge, params=params, steps=4, patch_size=16,
                         batch_size=1, device="cpu", preview_every=0)  # fmt: skip
    list(engine.train_events(config, [volume]))
    own = (N2N.default_learning_rate, N2N.default_schedule)
    assert seen == [
        own,
        own,
        (cls.default_learning_rate, "cosine"),
        (cls.default_learning_rate, "cosine"),
    ]


def test_the_denoiser_trains_on_patch_sized_crops_of_the_fillers_larger_ones(monkeypatch):
    from tomorestore.methods.dewedge import Dewedge
    from tomorestore.methods.n2v import N2V

    cls = get_method("ei")
    params = EIParams(filling={"rotations": "z", "wedge_filter_input": False})
    method = cls(params, MissingWedge(-60.0, 60.0))
    assert method.crop_size(16) == 23  # the filler's rotation crops
    seen = []
    for stage in (N2V, Dewedge):
        monkeypatch.setattr(stage, "training_loss",
                            lambda self, model, batch, generator: seen.append(batch.shape[-3:])
                            or torch.zeros(()))  # fmt: skip
    batch = torch.randn(2, 1, 23, 23, 23)
    network = build_network(NetworkConfig(depth=2, base_channels=4, stages=2))
    method.training_loss(network, batch, generator=torch.Generator().manual_seed(0))
    method.validation_loss(network, batch)
    method.paired = True  # the filler trains on its whole crops
    method.training_loss(network, batch, generator=torch.Generator().manual_seed(0))
    assert seen == [(16, 16, 16), (16, 16, 16), (23, 23, 23)]


def _row_correlated(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """White noise smoothed along Y: neighbouring rows share it (correlation about 0.7)."""
    noise = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return noise + np.roll(noise, 1, axis=1) + np.roll(noise, -1, axis=1)


def test_ei_chooses_its_one_tomogram_denoiser_from_the_rows_noise():
    cls = get_method("ei")
    white = np.random.default_rng(0).standard_normal((32, 48, 40)).astype(np.float32)
    params, note = cls.params_for_data(EIParams(), [white])
    assert (params.data_term, params.denoiser_settings) == ("n2n", "own")
    assert params.denoise_fraction == pytest.approx(2 / 3) and cls.steps_default(params) == 900
    assert "even and odd rows" in note
    shared, note = cls.params_for_data(EIParams(), [_row_correlated((32, 48, 40), 1)])
    assert (shared.data_term, shared.denoiser_settings) == ("n2v", "shared")
    assert shared.denoise_fraction == 0.4 and cls.steps_default(shared) == cls.default_steps
    assert "share noise" in note
    # halves: the n2n denoiser at ei's settings, as before; explicit choices are kept
    halves, note = cls.params_for_data(EIParams(), [white, white])
    assert (halves.data_term, halves.denoiser_settings, halves.denoise_fraction, note) == (
        "auto", "shared", 0.4, None)  # fmt: skip
    given = EIParams(data_term="n2v", denoise_fraction=0.5)
    kept, note = cls.params_for_data(given, [white])
    assert (kept.data_term, kept.denoiser_settings, kept.denoise_fraction, note) == (
        "n2v", "shared", 0.5, None)  # fmt: skip
    joint = EIParams(order="joint")
    assert cls.params_for_data(joint, [white]) == (joint, None)


def test_a_new_ei_run_records_its_choice_and_a_resumed_one_keeps_the_checkpoints(tmp_path):
    from tomorestore.training.engine import train_events
    from tomorestore.training.events import Finished, Started

    volume = _row_correlated((32, 32, 32), 2)
    config = make_config(method="ei", wedge=make_wedge((-60, 60)), steps=2, patch_size=16,
                         batch_size=1, device="cpu", preview_every=0)  # fmt: skip
    path = tmp_path / "ei.ckpt"
    events = list(train_events(config, [volume], checkpoint_path=path))
    started = next(e for e in events if isinstance(e, Started))
    assert any("blind spot" in n for n in started.notes)
    finished = next(e for e in events if isinstance(e, Finished))
    assert finished.model.config.params.data_term == "n2v"
    assert finished.model.config.network.norm == "instance"
    # resumed on data whose rows are independent: still the checkpoint's n2v denoiser
    white = np.random.default_rng(3).standard_normal((32, 32, 32)).astype(np.float32)
    longer = config.model_copy(update={"steps": 3})
    resumed = list(train_events(longer, [white], resume_from=path))
    model = next(e for e in resumed if isinstance(e, Finished)).model
    assert model.config.params.data_term == "n2v" and model.step == 3


def test_the_own_n2n_denoiser_trains_on_n2ns_patch_inside_the_runs_crops(monkeypatch):
    from tomorestore.methods.n2n import N2N

    cls = get_method("ei")
    own = cls(EIParams(data_term="n2n", denoiser_settings="own"), MissingWedge(-60.0, 60.0))
    assert own.crop_size(48) == 48 and own.denoiser_patch_size == 32
    assert own.crop_size(24) == 24 and own.denoiser_patch_size == 24  # a smaller run patch
    shared = cls(EIParams(data_term="n2n", denoiser_settings="shared"), MissingWedge(-60, 60))
    assert shared.crop_size(48) == 48 and shared.denoiser_patch_size == 48
    seen = []
    monkeypatch.setattr(N2N, "training_loss",
                        lambda self, model, batch, generator: seen.append(batch.shape[-3:])
                        or torch.zeros(()))  # fmt: skip
    own.crop_size(48)
    network = build_network(NetworkConfig(depth=2, base_channels=4, stages=2))
    own.training_loss(network, torch.randn(2, 1, 48, 48, 48), generator=torch.Generator())
    assert seen == [(32, 32, 32)]
