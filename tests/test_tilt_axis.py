"""Tilt axis X: the core transposes Y and X at its boundary, so the methods see the axis Y."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import tomorestore
from tomorestore.cli import main
from tomorestore.io import Volume, write_volume
from tomorestore.physics import MissingWedge
from tomorestore.training import RestorationModel

TINY = {
    "network": {"depth": 2, "base_channels": 8},
    "fast": False,
    "batch_size": 1,
    "patch_size": 16,
    "validate_every": 1,
    "preview_every": 1,
    "checkpoint_every": 0,
}


def test_wedge_of_axis_x_is_the_transposed_wedge_of_axis_y() -> None:
    shape = (16, 12, 20)
    along_x = MissingWedge(-50, 60, tilt_axis="X").mask(shape)
    along_y = MissingWedge(-50, 60, tilt_axis="Y").mask((16, 20, 12))
    assert torch.equal(along_x, along_y.transpose(1, 2))


@pytest.fixture
def halves(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    base = rng.standard_normal((32, 32, 32)).astype(np.float32)
    noisy = [base + rng.standard_normal(base.shape).astype(np.float32) for _ in range(2)]
    return noisy[0], noisy[1]


def test_tilt_axis_x_trains_and_restores_as_y_on_the_transposed_data(halves) -> None:
    even, odd = halves
    swapped = [np.ascontiguousarray(h.swapaxes(1, 2)) for h in halves]
    events_x: list = []
    kwargs = {"tilt_range": (-50, 60), "steps": 2, "config": TINY, "progress": events_x.append}
    model_x = tomorestore.train("dewedge", even=even, odd=odd, tilt_axis="X", **kwargs)
    kwargs["progress"] = False
    model_y = tomorestore.train("dewedge", even=swapped[0], odd=swapped[1], **kwargs)
    assert model_x.config.wedge.tilt_axis == "X" and model_y.config.wedge.tilt_axis == "Y"
    for (name, a), b in zip(
        model_x.network.state_dict().items(), model_y.network.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    restored_x = model_x.restore([even, odd], tile=32)
    restored_y = model_y.restore(swapped, tile=32)
    assert restored_x.shape == even.shape
    np.testing.assert_allclose(restored_x, restored_y.swapaxes(1, 2), rtol=0, atol=1e-6)
    previews = [e.image for e in events_x if type(e).__name__ == "Preview"]
    assert previews and previews[0].shape == (32, 32)  # the data's own (Y, X) orientation


def _write(folder: Path, halves) -> list[str]:
    paths = []
    for name, data in zip(("even", "odd"), halves, strict=True):
        write_volume(folder / f"{name}.mrc", Volume(data=data, voxel_size=(4.0, 5.0, 6.0)))
        paths.append(str(folder / f"{name}.mrc"))
    return paths


def test_cli_tilt_axis_x(tmp_path: Path, halves, capsys) -> None:
    even, odd = _write(tmp_path, halves)
    out = tmp_path / "model.ckpt"
    config = tmp_path / "tiny.yaml"
    config.write_text("network: {depth: 2, base_channels: 8}\nfast: false\nvalidate_every: 1\n")
    args = ["train", "--method", "dewedge", "--even", even, "--odd", odd, "--tilt-range", "-50",
            "60", "--tilt-axis", "x", "--steps", "2", "--patch", "16", "--batch", "1",
            "--config", str(config), "--quiet", "--out", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    model = RestorationModel.load(out)
    assert model.config.wedge.tilt_axis == "X" and model.voxel_size == (4.0, 5.0, 6.0)
    restored = tmp_path / "restored.mrc"
    assert main(["restore", "--model", str(out), "--even", even, "--odd", odd, "--tile", "32",
                 "--quiet", "--out", str(restored)]) == 0  # fmt: skip
    assert tomorestore.read_volume(restored).voxel_size == (4.0, 5.0, 6.0)


def test_cli_tilt_axis_without_a_range_is_refused(tmp_path: Path, halves, capsys) -> None:
    even, odd = _write(tmp_path, halves)
    args = ["train", "--method", "n2n", "--even", even, "--odd", odd, "--tilt-axis", "X",
            "--out", str(tmp_path / "m.ckpt")]  # fmt: skip
    assert main(args) == 2
    assert "tilt axis was given without a tilt range" in capsys.readouterr().err
    assert not (tmp_path / "m.ckpt").exists()
