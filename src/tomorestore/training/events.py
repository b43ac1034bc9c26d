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
    from .restoration_model import RestorationModel


@dataclass(frozen=True)
class Started:
    """Training is about to run steps ``start_step + 1 .. total_steps`` on ``device``.

    ``notes`` are sentences about what was chosen for the data (a patch size that fits a
    thin volume, the budget, the data set's tomograms), for the user to read. ``processes``
    is the number of DDP processes training together (``backend`` their process group).
    """

    total_steps: int
    start_step: int
    device: str
    notes: tuple[str, ...] = ()
    processes: int = 1
    backend: str = ""


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
    """Checkpoints after ``step`` steps were written: ``path`` (the weights to restore with)
    and the last state beside it (``last_path``)."""

    step: int
    path: Path
    last_path: Path | None = None


@dataclass(frozen=True)
class Finished:
    """Training ended after ``step`` steps (``stopped``: the user asked to stop early).

    ``model`` holds the weights to restore with: those of the lowest validation loss
    (``best_step``) when the configuration keeps the best validated weights
    (``keep_best``), else the last ones (``best_step`` None). ``checkpoint_path`` is the
    file with those weights, ``last_checkpoint_path`` the file beside it with the last
    state and the optimiser (what ``resume_from`` continues).
    """

    step: int
    stopped: bool
    checkpoint_path: Path | None
    model: RestorationModel
    best_step: int | None = None
    last_checkpoint_path: Path | None = None


Event = Union[Started, Step, Validated, Preview, Checkpointed, Finished]  # noqa: UP007
