"""Tests of the training engine, its configuration and device choice (CPU, 32³, tiny nets)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tomorestore.errors import InputError
from tomorestore.models import NetworkConfig
from tomorestore.training import (
    Checkpointed,
    Finished,
    Preview,
    RestorationModel,
    Started,
    Step,
    TrainConfig,
    Validated,
    WedgeConfig,
    available_devices,
    learning_rate_at,
    make_config,
    make_wedge,
    resolve_device,
    train_events,
)

TINY_NET = NetworkConfig(depth=2, base_channels=8)


def tiny_config(method: str = "n2v", **fields) -> TrainConfig:
    defaults = dict(
        method=method,
        steps=4,
        batch_size=2,
        patch_size=16,
        validate_every=2,
        preview_every=0,
        checkpoint_every=0,
        network=TINY_NET,
        fast=False,
    )
    defaults.update(fields)
    return TrainConfig(**defaults)


@pytest.fixture
def volume(rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal((32, 32, 32)).astype(np.float32)


# -- configuration ---------------------------------------------------------------------------
def test_config_yaml_round_trip(tmp_path: Path) -> None:
    config = TrainConfig(
        method="dewedge",
        steps=123,
        wedge=WedgeConfig(tilt_min=-48, tilt_max=62),
        network=TINY_NET,
        dewedge={"wedge_weight": 20.0},
    )
    path = tmp_path / "cfg.yaml"
    text = config.to_yaml(path)
    assert "wedge_weight: 20.0" in text
    assert TrainConfig.from_yaml(path) == config
    assert TrainConfig.from_yaml(text) == config


@pytest.mark.parametrize(
    "fields",
    [
        {"steps": 0},
        {"batch_size": 0},
        {"patch_size": 4},
        {"learning_rate": -1.0},
        {"validation_fraction": 0.9},
        {"stepz": 10},
        {"method": "careamics"},
        {"method": "dewedge", "params": {"wedge_weight": -1}},
        {"method": "dewedge", "dewedge": {"wedge_weight": -1}},  # format-1 section
        {"params": {"wedge_weight": 1.0}},  # a dewedge parameter given to n2v
    ],
)
def test_config_bounds_give_input_error(fields: dict) -> None:
    with pytest.raises(InputError, match="invalid training configuration"):
        make_config(**{"method": "n2v", **fields})


def test_config_unknown_yaml_field(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("method: n2v\nlearning_rat: 0.1\n")
    with pytest.raises(InputError, match="unknown field"):
        TrainConfig.from_yaml(path)


@pytest.mark.parametrize("tilt_range", [(-95, 60), (-60, 90), (60, -60), (10, 10)])
def test_tilt_range_validated(tilt_range: tuple) -> None:
    with pytest.raises(InputError, match="tilt range"):
        make_wedge(tilt_range)


def test_tilt_range_asymmetric_ok() -> None:
    wedge = make_wedge((-48, 62))
    assert (wedge.tilt_min, wedge.tilt_max) == (-48.0, 62.0)
    assert wedge.missing_wedge().tilt_max == 62.0


def test_learning_rate_schedule() -> None:
    lrs = [learning_rate_at(s, 400, 1e-3) for s in range(1, 401)]
    assert lrs[0] < lrs[19] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[20:], lrs[21:], strict=False))
    assert lrs[-1] == pytest.approx(5e-5)
    constant = [learning_rate_at(s, 400, 1e-3, "constant") for s in range(21, 401)]
    assert constant == [1e-3] * len(constant)


@pytest.mark.parametrize("name", ["n2v", "n2n", "dewedge", "ei"])
def test_schedule_is_the_methods_unless_given(name: str) -> None:
    from tomorestore.methods import get_method
    from tomorestore.training import resolve_config

    cls = get_method(name)
    wedge = make_wedge((-60, 60)) if cls.needs_wedge else None
    config = make_config(method=name, wedge=wedge)
    assert config.schedule is None
    assert resolve_config(config, cls, "cpu").schedule == cls.default_schedule
    for chosen in ("cosine", "constant"):
        given = make_config(method=name, wedge=wedge, schedule=chosen)
        assert resolve_config(given, cls, "cpu").schedule == chosen


# -- device ----------------------------------------------------------------------------------
def test_device_parsing() -> None:
    import torch

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("CPU") == torch.device("cpu")
    assert "cpu" in available_devices()
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    with pytest.raises(InputError, match="one of: cpu"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="not available.*cpu"):
            resolve_device("cuda:1")
    else:
        count = torch.cuda.device_count()
        with pytest.raises(InputError, match="not available"):
            resolve_device(f"cuda:{count}")


# -- engine ----------------------------------------------------------------------------------
def test_engine_event_order_and_finite_losses(volume: np.ndarray, tmp_path: Path) -> None:
    ckpt = tmp_path / "model.ckpt"
    config = tiny_config(steps=4, preview_every=2, checkpoint_every=2)
    events = list(train_events(config, [volume], checkpoint_path=ckpt))
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "Started",
        "Step", "Step", "Validated", "Preview", "Checkpointed",
        "Step", "Step", "Validated", "Preview", "Checkpointed",
        "Finished",
    ]  # fmt: skip
    assert isinstance(events[0], Started) and events[0].total_steps == 4
    losses = [e.loss for e in events if isinstance(e, Step)]
    assert all(math.isfinite(v) for v in losses)
    assert all(math.isfinite(e.val_loss) for e in events if isinstance(e, Validated))
    preview = next(e for e in events if isinstance(e, Preview))
    assert preview.image.ndim == 2 and preview.image.dtype == np.float32
    assert np.isfinite(preview.image).all()
    finished = events[-1]
    assert isinstance(finished, Finished) and not finished.stopped
    assert finished.step == 4 and finished.checkpoint_path == ckpt and ckpt.is_file()
    assert isinstance(finished.model, RestorationModel)
    assert finished.model.history.losses == losses
    assert finished.model.config.steps == 4


def test_engine_same_seed_same_losses(volume: np.ndarray) -> None:
    def losses(seed: int) -> list[float]:
        config = tiny_config(steps=3, seed=seed)
        return [e.loss for e in train_events(config, [volume]) if isinstance(e, Step)]

    assert losses(7) == losses(7)
    assert losses(7) != losses(8)


def test_engine_fast_mode_bf16_gives_finite_float_losses(volume: np.ndarray) -> None:
    config = tiny_config(steps=2, fast=True)
    losses = [e.loss for e in train_events(config, [volume]) if isinstance(e, Step)]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)


@pytest.mark.parametrize(("patch", "fast"), [(16, False), (24, True)])
def test_a_two_voxel_bottleneck_trains_in_float32(
    volume: np.ndarray, patch: int, fast: bool
) -> None:
    """bf16 gave NaN gradients with a 2³ bottleneck (depth 3, 16-voxel patches): fp32 then."""
    config = tiny_config(
        steps=1, patch_size=patch, fast=True, network=NetworkConfig(depth=3, base_channels=8)
    )
    events = list(train_events(config, [volume]))
    notes = " ".join(events[0].notes)
    assert ("float32 training" in notes) is not fast
    assert events[-1].model.config.fast is fast


def test_engine_halves_method(rng: np.random.Generator) -> None:
    even = rng.standard_normal((32, 32, 32)).astype(np.float32)
    odd = rng.standard_normal((32, 32, 32)).astype(np.float32)
    config = tiny_config("n2n", steps=2)
    events = list(train_events(config, [even, odd]))
    assert isinstance(events[-1], Finished)


def test_n2n_on_one_tomogram_trains_a_row_split_network_that_restores(
    volume: np.ndarray, tmp_path: Path
) -> None:
    from tomorestore import load_model

    config = tiny_config("n2n", steps=2)
    events = list(train_events(config, [volume], checkpoint_path=tmp_path / "n2n.ckpt"))
    model = events[-1].model
    assert model.config.network.tilt_axis_split
    assert not config.network.tilt_axis_split  # the engine sets it, the user does not
    restored = model.restore([volume])
    assert restored.shape == volume.shape and np.isfinite(restored).all()
    loaded = load_model(tmp_path / "n2n.ckpt")
    assert loaded.config.network.tilt_axis_split
    np.testing.assert_allclose(loaded.restore([volume]), restored, atol=1e-5)
    # halves keep the plain network
    halves = list(train_events(tiny_config("n2n", steps=1), [volume, volume[::-1].copy()]))
    assert not halves[-1].model.config.network.tilt_axis_split


def test_engine_ends_with_the_best_validated_weights() -> None:
    import torch

    rng = np.random.default_rng(0)
    halves = [rng.standard_normal((32, 32, 32)).astype(np.float32) for _ in range(2)]
    finals = {}
    for keep_best in (True, False):
        # A constant, far too high learning rate: the validation loss jumps around (here
        # the best weights come from step 6 of 8).
        config = tiny_config("n2n", steps=8, validate_every=1, learning_rate=0.3,
                             schedule="constant", keep_best=keep_best)  # fmt: skip
        events = list(train_events(config, halves))
        losses = {e.step: e.val_loss for e in events if isinstance(e, Validated)}
        finished = events[-1]
        assert finished.step == 8  # the work done, whichever weights are kept
        finals[keep_best] = finished
    best_step = min(losses, key=losses.get)  # same seed: the same run both times
    assert finals[True].best_step == best_step
    assert finals[False].best_step is None
    kept = finals[True].model.network.state_dict()
    last = finals[False].model.network.state_dict()
    same = all(torch.equal(kept[k], last[k]) for k in kept)
    assert same == (best_step == 8)


def test_engine_resolves_defaults_from_method(volume: np.ndarray) -> None:
    from tomorestore.methods import get_method

    config = TrainConfig(method="n2v", steps=1, patch_size=16, batch_size=1)
    finished = list(train_events(config, [volume]))[-1]
    resolved = finished.model.config
    n2v = get_method("n2v")
    assert resolved.learning_rate == n2v.default_learning_rate
    assert resolved.network == NetworkConfig(depth=3, base_channels=16, n2v2=n2v.n2v2_network)


def test_should_stop_stops_early_with_checkpoint(volume: np.ndarray, tmp_path: Path) -> None:
    ckpt = tmp_path / "stopped.ckpt"
    config = tiny_config(steps=50)
    count = {"steps": 0}

    def should_stop() -> bool:
        return count["steps"] >= 2

    events = []
    for event in train_events(config, [volume], checkpoint_path=ckpt, should_stop=should_stop):
        events.append(event)
        if isinstance(event, Step):
            count["steps"] += 1
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.stopped and finished.step == 2
    assert isinstance(events[-2], Checkpointed) and events[-2].step == 2
    assert RestorationModel.load(ckpt).step == 2


def test_resume_continues_step_count(volume: np.ndarray, tmp_path: Path) -> None:
    ckpt = tmp_path / "model.ckpt"
    list(train_events(tiny_config(steps=2), [volume], checkpoint_path=ckpt))
    events = list(
        train_events(tiny_config(steps=4), [volume], checkpoint_path=ckpt, resume_from=ckpt)
    )
    started = events[0]
    assert isinstance(started, Started) and started.start_step == 2
    assert [e.step for e in events if isinstance(e, Step)] == [3, 4]
    model = RestorationModel.load(ckpt)
    assert model.step == 4 and model.history.steps == [1, 2, 3, 4]
    with pytest.raises(InputError, match="already at step 4"):
        next(train_events(tiny_config(steps=4), [volume], resume_from=ckpt))
    with pytest.raises(InputError, match="trained with 'n2v'"):
        next(train_events(tiny_config("ei", steps=8), [volume], resume_from=ckpt))


@pytest.mark.parametrize(
    ("method", "halves", "fields", "match"),
    [
        (
            "dewedge",
            1,
            {"wedge": {"tilt_min": -60, "tilt_max": 60}},
            "dewedge needs even/odd half tomograms",
        ),
        ("dewedge", 2, {}, "no tilt range was given"),
        ("n2v", 1, {"patch_size": 64}, r"patch 64 is larger than the volume \(32, 32, 32\)"),
        ("n2v", 1, {"device": "cuda:7"}, "not available"),
    ],
)
def test_engine_rejects_bad_input_before_writing(
    volume: np.ndarray, tmp_path: Path, method: str, halves: int, fields: dict, match: str
) -> None:
    ckpt = tmp_path / "never.ckpt"
    config = tiny_config(method, **fields)
    with pytest.raises(InputError, match=match):
        next(train_events(config, [volume] * halves, checkpoint_path=ckpt))
    assert list(tmp_path.iterdir()) == []


def test_engine_rejects_mismatched_halves_and_nans(volume: np.ndarray) -> None:
    with pytest.raises(InputError, match="differ in shape"):
        next(train_events(tiny_config("n2n"), [volume, volume[:, :, :30]]))
    bad = volume.copy()
    bad[3, 3, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        next(train_events(tiny_config(), [bad]))


def test_engine_user_mask(volume: np.ndarray) -> None:
    mask = np.zeros(volume.shape, dtype=np.uint8)
    mask[8:24, 8:24, 8:24] = 1
    events = list(train_events(tiny_config(steps=1), [volume], mask=mask))
    assert isinstance(events[-1], Finished)
    with pytest.raises(InputError, match="mask shape"):
        next(train_events(tiny_config(steps=1), [volume], mask=mask[:, :, :16]))


def test_a_stage_ends_on_its_best_validated_weights() -> None:
    """ei's denoiser stage: the filler starts from the denoiser's best weights."""
    from types import SimpleNamespace

    import torch

    from tomorestore.training.distributed import ProcessGroup
    from tomorestore.training.engine import _BestWeights, _continue_from_best

    network = torch.nn.Linear(2, 2)
    parts = [SimpleNamespace(sampler=SimpleNamespace(n_validation=4))]

    def run(keep_best: bool) -> SimpleNamespace:
        config = SimpleNamespace(keep_best=keep_best)
        return SimpleNamespace(config=config, group=ProcessGroup(), network=network, parts=parts)

    best = _BestWeights()
    best.offer(network, 3, 1.0)
    kept = {k: v.clone() for k, v in network.state_dict().items()}
    with torch.no_grad():
        network.weight.add_(1.0)
    # keep_best off: the last weights go on
    _continue_from_best(run(False), best, 5, lambda: 2.0)
    assert not torch.equal(network.weight, kept["weight"])
    # the stage's last weights validate worse: the next stage starts from step 3's
    _continue_from_best(run(True), best, 5, lambda: 2.0)
    assert best.step == 3
    assert all(torch.equal(network.state_dict()[k], kept[k]) for k in kept)
    # they validate better: they are kept, and go on
    with torch.no_grad():
        network.weight.add_(1.0)
    _continue_from_best(run(True), best, 6, lambda: 0.5)
    assert best.step == 6 and not torch.equal(network.weight, kept["weight"])
