"""Shared pytest fixtures: a seeded random generator, a tiny volume, a tiny MRC file."""

from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded NumPy random generator (same numbers in every test run)."""
    return np.random.default_rng(1234)


@pytest.fixture
def tiny_volume(rng: np.random.Generator) -> np.ndarray:
    """A 32³ float32 ``(Z, Y, X)`` volume of Gaussian noise."""
    return rng.standard_normal((32, 32, 32)).astype(np.float32)


@pytest.fixture
def mrc_path(tmp_path: Path, tiny_volume: np.ndarray) -> Path:
    """A float32 MRC file of :func:`tiny_volume` with voxel size (Z, Y, X) = (3, 2, 1) Å.

    Written with mrcfile directly (not tomorestore), origin (Z, Y, X) = (30, 20, 10) Å.
    """
    path = tmp_path / "tiny.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(tiny_volume)
        mrc.voxel_size = (1.0, 2.0, 3.0)  # mrcfile order: (x, y, z)
        mrc.header.origin = (10.0, 20.0, 30.0)
    return path
