"""Training: configuration, the event-generator loop, checkpoints and the trained model.

Examples
--------
>>> from tomorestore.training import TrainConfig, train_events
>>> config = TrainConfig(method="n2v", steps=100)
>>> config.steps
100
"""

from __future__ import annotations

from .checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    last_checkpoint_path,
    load_checkpoint,
    resume_source,
    save_checkpoint,
)
from .config import TrainConfig, WedgeConfig, make_config, make_wedge, resolve_config
from .device import available_devices, resolve_device
from .engine import learning_rate_at, train_events
from .events import Checkpointed, Event, Finished, Preview, Started, Step, Validated
from .history import TrainingHistory
from .restoration_model import RestorationModel

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Checkpointed",
    "Event",
    "Finished",
    "Preview",
    "RestorationModel",
    "Started",
    "Step",
    "TrainConfig",
    "TrainingHistory",
    "Validated",
    "WedgeConfig",
    "available_devices",
    "last_checkpoint_path",
    "learning_rate_at",
    "load_checkpoint",
    "make_config",
    "make_wedge",
    "resolve_config",
    "resolve_device",
    "resume_source",
    "save_checkpoint",
    "train_events",
]
