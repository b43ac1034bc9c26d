"""Tests of checkpoint files and RestorationModel save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tomorestore.errors import CheckpointError, InputError
from tomorestore.models import NetworkConfig
from tomorestore.training import (
    FORMAT,
    FORMAT_VERSION,
    Finished,
    RestorationModel,
    TrainConfig,
    WedgeConfig,
    last_checkpoint_path,
    load_checkpoint,
    save_checkpoint,
    train_events,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[RestorationModel, Path]:
    rng = np.random.default_rng(0)
    even = rng.standard_normal((32, 32, 32)).astype(np.float32)
    odd = rng.standard_normal((32, 32, 32)).astype(np.float32)
    config = TrainConfig(
        method="dewedge",
        steps=2,
        batch_size=1,
        patch_size=16,
        validate_every=1,
        preview_every=0,
        checkpoint_every=0,
        network=NetworkConfig(depth=2, base_channels=8),
        wedge=WedgeConfig(tilt_min=-50, tilt_max=60),
        fast=False,
        params={"wedge_weight": 5.0},
    )
    path = tmp_path_factory.mktemp("ckpt") / "model.ckpt"
    events = list(
        train_events(config, [even, odd], voxel_size=(7.0, 8.0, 9.0), checkpoint_path=path)
    )
    finished = events[-1]
    assert isinstance(finished, Finished)
    return finished.model, path


def test_checkpoint_content_is_plain_and_complete(trained: tuple) -> None:
    _, path = trained
    for file in (path, last_checkpoint_path(path)):
        payload = torch.load(file, weights_only=True)  # no pickled code needed
        assert payload["format"] == FORMAT and payload["format_version"] == FORMAT_VERSION
        assert payload["method"] == "dewedge"
        wedge = {"tilt_min": -50.0, "tilt_max": 60.0, "tilt_axis": "Y"}
        assert payload["config"]["wedge"] == wedge
        assert payload["voxel_size"] == [7.0, 8.0, 9.0]
        assert payload["config"]["params"]["wedge_weight"] == 5.0
        assert set(payload["normalization"]) == {"mean", "std"}
        assert len(payload["history"]["losses"]) == 2
        assert len(payload["history"]["val_losses"]) == 2
        assert isinstance(payload["package_version"], str)
    best = torch.load(path, weights_only=True)
    last = torch.load(last_checkpoint_path(path), weights_only=True)
    # the model file: the best validated weights, no optimiser; the last file: step 2 + Adam
    assert best["step"] == best["best_step"] in (1, 2) and best["optimizer_state"] is None
    assert last["step"] == 2 and last["optimizer_state"]["state"] and last["best_step"] is None


def test_checkpoint_round_trip_identical(trained: tuple, tmp_path: Path) -> None:
    model, path = trained
    loaded = RestorationModel.load(path)
    assert loaded.config == model.config
    assert loaded.normalization == model.normalization
    assert loaded.voxel_size == (7.0, 8.0, 9.0)
    assert loaded.method_name == "dewedge" and loaded.wedge.tilt_min == -50.0
    original = {k: v.cpu() for k, v in model.network.state_dict().items()}
    for name, value in loaded.network.state_dict().items():
        torch.testing.assert_close(value, original[name], rtol=0, atol=0)
    x = torch.randn(1, 1, 16, 16, 16, generator=torch.Generator().manual_seed(0))
    model.network.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded.network(x), model.network.cpu()(x))
    # save() of a loaded model gives a checkpoint that loads to the same thing.
    again = loaded.save(tmp_path / "again.ckpt")
    reloaded = RestorationModel.load(again)
    assert reloaded.config == loaded.config and reloaded.step == loaded.step


def test_save_is_atomic_and_checks_folder(trained: tuple, tmp_path: Path) -> None:
    model, _ = trained
    with pytest.raises(InputError, match="does not exist"):
        save_checkpoint(tmp_path / "missing" / "m.ckpt", model.to_payload())
    target = tmp_path / "m.ckpt"
    save_checkpoint(target, model.to_payload())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ckpt"]  # no temporary left


def test_truncated_checkpoint(trained: tuple, tmp_path: Path) -> None:
    _, path = trained
    data = path.read_bytes()
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated, corrupt"):
        load_checkpoint(broken)


def test_foreign_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.ckpt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(text)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(CheckpointError, match="not a tomorestore checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.ckpt")


def test_other_format_version(trained: tuple, tmp_path: Path) -> None:
    _, path = trained
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = FORMAT_VERSION + 1
    payload["package_version"] = "9.0.0"
    newer = tmp_path / "newer.ckpt"
    torch.save(payload, newer)
    newest = FORMAT_VERSION + 1
    with pytest.raises(
        CheckpointError, match=rf"tomorestore 9\.0\.0 with format {newest}.*upgrade"
    ):
        load_checkpoint(newer)


def test_incompatible_weights(trained: tuple, tmp_path: Path) -> None:
    _, path = trained
    payload = torch.load(path, weights_only=True)
    payload["config"]["network"]["base_channels"] = 16
    odd = tmp_path / "odd.ckpt"
    torch.save(payload, odd)
    with pytest.raises(CheckpointError, match="does not match"):
        RestorationModel.load(odd)
