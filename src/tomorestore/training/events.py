"""Events yielded by the training generator :func:`~tomorestore.training.train_events`.

The napari widget turns them into plot points and preview images, the command line into a
progress bar; both simply iterate over the generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np

if TYPE_CHECKING:
    from .bundle import RestorationModel


@dataclass(frozen=True)
class Started:
    """Training is about to run steps ``start_step + 1 .. total_steps`` on ``device``."""

    total_steps: int
    start_step: int
    device: str


@dataclass(frozen=True)
class Step:
    """One optimiser step is done; ``loss`` is its training loss (float32 math)."""

    step: int
    total_steps: int
    loss: float


@dataclass(frozen=True)
class Validated:
    """Loss on the held-out validation crops after ``step`` steps."""

    step: int
    val_loss: float


@dataclass(frozen=True)
class Preview:
    """A 2D float32 central XY slice of a restored central region, in input units."""

    step: int
    image: np.ndarray


@dataclass(frozen=True)
class Checkpointed:
    """A checkpoint with the state after ``step`` steps was written to ``path``."""

    step: int
    path: Path


@dataclass(frozen=True)
class Finished:
    """Training ended after ``step`` steps (``stopped``: the user asked to stop early).

    ``best_step`` is the step whose weights ``model`` holds when the configuration keeps the
    best validated weights (``keep_best``), else None (the last weights).
    """

    step: int
    stopped: bool
    checkpoint_path: Path | None
    model: RestorationModel
    best_step: int | None = None


Event = Union[Started, Step, Validated, Preview, Checkpointed, Finished]  # noqa: UP007
