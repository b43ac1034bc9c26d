"""Training keeps the weights to restore with (best validated) apart from its last state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tomorestore.training import (
    Finished,
    RestorationModel,
    Started,
    last_checkpoint_path,
    load_checkpoint,
    make_config,
    resume_source,
    train_events,
)
from tomorestore.training.checkpoint import copy_last_state, resume_start_step


def _config(steps: int):
    return make_config(
        method="n2n",
        steps=steps,
        batch_size=1,
        patch_size=16,
        network={"depth": 2, "base_channels": 8, "norm": "none"},
        fast=False,
        validate_every=1,
        preview_every=0,
        checkpoint_every=0,
    )


@pytest.fixture
def halves(rng: np.random.Generator) -> list[np.ndarray]:
    base = rng.standard_normal((32, 32, 32)).astype(np.float32)
    return [base + rng.standard_normal(base.shape).astype(np.float32) for _ in range(2)]


@pytest.fixture
def trained(halves, tmp_path: Path) -> tuple[Path, Finished]:
    path = tmp_path / "model.ckpt"
    finished = list(train_events(_config(5), halves, checkpoint_path=path))[-1]
    assert isinstance(finished, Finished)
    return path, finished


def test_two_files_best_weights_and_last_state(trained) -> None:
    path, finished = trained
    last = last_checkpoint_path(path)
    assert last.name == "model.last.ckpt" and finished.last_checkpoint_path == last
    best_payload, last_payload = load_checkpoint(path), load_checkpoint(last)
    assert last_payload["step"] == 5 and last_payload["optimizer_state"] is not None
    assert best_payload["optimizer_state"] is None
    val = dict(
        zip(finished.model.history.val_steps, finished.model.history.val_losses, strict=True)
    )
    assert best_payload["step"] == finished.best_step == min(val, key=val.get)
    best = RestorationModel.load(path)
    for name, value in finished.model.network.state_dict().items():
        torch.testing.assert_close(best.network.state_dict()[name], value.cpu(), msg=name)


def test_resume_continues_from_the_last_state(trained, halves) -> None:
    path, _ = trained
    assert resume_source(path) == last_checkpoint_path(path)
    started = next(iter(train_events(_config(7), halves, resume_from=path)))
    assert isinstance(started, Started) and started.start_step == 5


def test_resume_without_the_last_file_starts_at_the_best_step(trained, halves) -> None:
    path, finished = trained
    last_checkpoint_path(path).unlink()
    assert resume_source(path) == path
    events = list(train_events(_config(7), halves, resume_from=path))
    assert events[0].start_step == finished.best_step  # not the last step: no mixed state
    history = events[-1].model.history
    assert history.steps == sorted(set(history.steps))  # no step recorded twice


def test_saving_under_a_new_name_takes_the_last_state_along(trained, tmp_path: Path) -> None:
    path, finished = trained
    copy = tmp_path / "copies" / "renamed.ckpt"
    copy.parent.mkdir()
    finished.model.save(copy)
    assert copy_last_state(path, copy) == copy.parent / "renamed.last.ckpt"
    assert resume_start_step(copy) == 5  # continues the run, not the best step
    assert copy_last_state(copy, copy) is None  # nothing to copy onto itself
    assert sorted(p.name for p in copy.parent.iterdir()) == ["renamed.ckpt", "renamed.last.ckpt"]
