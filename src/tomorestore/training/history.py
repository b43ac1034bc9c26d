"""Loss history of a training run (stored in checkpoints, plotted by the widget)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainingHistory:
    """Training losses per step and validation losses per validation.

    Examples
    --------
    >>> history = TrainingHistory()
    >>> history.record_step(1, 0.5)
    >>> history.record_validation(1, 0.6)
    >>> history.last_loss, history.last_val_loss
    (0.5, 0.6)
    """

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)

    def record_step(self, step: int, loss: float) -> None:
        """Append the training loss of ``step``."""
        self.steps.append(int(step))
        self.losses.append(float(loss))

    def record_validation(self, step: int, val_loss: float) -> None:
        """Append the validation loss measured after ``step``."""
        self.val_steps.append(int(step))
        self.val_losses.append(float(val_loss))

    @property
    def last_loss(self) -> float:
        """The latest training loss (NaN before the first step)."""
        return self.losses[-1] if self.losses else math.nan

    @property
    def last_val_loss(self) -> float:
        """The latest validation loss (NaN before the first validation)."""
        return self.val_losses[-1] if self.val_losses else math.nan

    def recent_loss(self, window: int = 20) -> float:
        """Mean training loss of the last ``window`` steps (less noisy than one step)."""
        tail = self.losses[-window:]
        return sum(tail) / len(tail) if tail else math.nan

    def up_to(self, step: int) -> TrainingHistory:
        """A copy with only the entries of steps ``<= step`` (resuming from an earlier step)."""
        kept = [i for i, s in enumerate(self.steps) if s <= step]
        val_kept = [i for i, s in enumerate(self.val_steps) if s <= step]
        return TrainingHistory(
            steps=[self.steps[i] for i in kept],
            losses=[self.losses[i] for i in kept],
            val_steps=[self.val_steps[i] for i in val_kept],
            val_losses=[self.val_losses[i] for i in val_kept],
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain lists, safe for ``torch.load(weights_only=True)``."""
        return {
            "steps": list(self.steps),
            "losses": list(self.losses),
            "val_steps": list(self.val_steps),
            "val_losses": list(self.val_losses),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TrainingHistory:
        """Inverse of :meth:`to_dict` (missing keys give empty lists)."""
        data = data or {}
        return cls(
            steps=[int(s) for s in data.get("steps", [])],
            losses=[float(v) for v in data.get("losses", [])],
            val_steps=[int(s) for s in data.get("val_steps", [])],
            val_losses=[float(v) for v in data.get("val_losses", [])],
        )
