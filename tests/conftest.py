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


@pytest.fixture
def toy_method():
    """A method registered for one test ("toy": Noise2Noise with a bounded ``gain``).

    Registered once with :func:`tomorestore.methods.register_method`; the command line,
    the configuration and the napari widget must all offer it. Unregistered afterwards.
    """
    from typing import ClassVar

    from pydantic import Field

    from tomorestore.methods import Method, MethodParams, register_method, unregister_method

    class ToyParams(MethodParams):
        """Parameters of the toy method."""

        gain: float = Field(1.0, ge=0.5, le=2.0, description="Scale of the target.")
        flip: bool = Field(False, description="Swap input and target.")

    class Toy(Method):
        """Noise2Noise with the target scaled by ``gain`` (a test method)."""

        name: ClassVar[str] = "toy"
        title: ClassVar[str] = "a toy for tests"
        params_type: ClassVar[type[ToyParams]] = ToyParams
        accepts_single = False
        needs_wedge = False
        default_steps = 3
        default_batch_size = 1
        default_patch_size = 24  # a 2³ bottleneck (16 with depth 3) gave NaN bf16 gradients
        default_learning_rate = 1e-3
        network_norm = "none"

        def training_loss(self, model, batch, *, generator):
            source, target = (1, 0) if self.params.flip else (0, 1)
            prediction = model(batch[:, source : source + 1])
            return ((prediction - self.params.gain * batch[:, target : target + 1]) ** 2).mean()

    register_method(Toy)
    try:
        yield Toy
    finally:
        unregister_method("toy")
