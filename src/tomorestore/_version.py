"""Package version (single source of truth, read by hatch and stored in checkpoints)."""

__version__ = "0.1.0"
