"""Training: configuration, the event-generator loop, checkpoints and the trained model.

Examples
--------
>>> from tomorestore.training import TrainConfig, train_events
>>> config = TrainConfig(method="n2v", steps=100)
>>> config.steps
100
"""

from __future__ import annotations

from .bundle import RestorationModel
from .checkpoint import FORMAT, FORMAT_VERSION, load_checkpoint, save_checkpoint
from .config import TrainConfig, WedgeConfig, make_config, make_wedge, resolve_config
from .device import available_devices, resolve_device
from .engine import learning_rate_at, train_events
from .events import Checkpointed, Event, Finished, Preview, Started, Step, Validated
from .history import TrainingHistory

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
    "learning_rate_at",
    "load_checkpoint",
    "make_config",
    "make_wedge",
    "resolve_config",
    "resolve_device",
    "save_checkpoint",
    "train_events",
]
