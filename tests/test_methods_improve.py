"""Each method restores a tiny simulated tomogram better than the raw data (short training).

A small training loop (Adam, random 32³ crops, a 2-level U-Net with 8 channels) keeps these
tests independent of the engine and fast on one CPU thread.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tomorestore.methods import get_method
from tomorestore.methods.params import EIParams, N2VParams
from tomorestore.models import UNet3D
from tomorestore.physics import MissingWedge, fourier_correlation, wedge_region_masks
from tomorestore.simulate import simulate_tomogram

WEDGE = MissingWedge(-60, 60)


@pytest.fixture(scope="module")
def tomogram():
    return simulate_tomogram((32, 48, 48), tilt_range=(-60, 60), snr=1.0, seed=3)


def _standardise(a: np.ndarray) -> np.ndarray:
    return ((a - a.mean()) / a.std()).astype(np.float32)


def _scores(volume: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    inside, measured = wedge_region_masks(WEDGE, truth.shape, 10.0)
    return {
        "pearson": float(np.corrcoef(volume.ravel(), truth.ravel())[0, 1]),
        "wedge": float(fourier_correlation(volume, truth, inside)),
        "measured": float(fourier_correlation(volume, truth, measured)),
    }


def _train_and_restore(
    method, halves: list[np.ndarray], steps: int, *, tilt_axis_split: bool = False
) -> np.ndarray:
    torch.manual_seed(0)
    net = UNet3D(
        depth=2, base_channels=8, n2v2=type(method).n2v2_network, tilt_axis_split=tilt_axis_split
    )
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)
    crop = method.crop_size(32)
    stack = np.stack(halves)
    stack = np.pad(stack, [(0, 0)] + [(0, max(0, crop - n)) for n in stack.shape[1:]], "reflect")
    highs = np.array(stack.shape[1:]) - crop + 1
    for _ in range(steps):
        corners = [rng.integers(0, highs) for _ in range(4)]
        batch = np.stack(
            [stack[:, z : z + crop, y : y + crop, x : x + crop] for z, y, x in corners]
        )
        loss = method.training_loss(net, torch.from_numpy(batch), generator=generator)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    net.eval()
    with torch.no_grad():
        restored = [
            net(method.predict_input(torch.from_numpy(h)[None, None]))[0, 0].numpy() for h in halves
        ]
    return method.combine(restored)


def test_n2v_denoises(tomogram):
    raw = _scores(tomogram.full, tomogram.ground_truth)
    method = get_method("n2v")(N2VParams(mask_percent=2.0), None)
    out = _scores(_train_and_restore(method, [_standardise(tomogram.full)], 150),
                  tomogram.ground_truth)  # fmt: skip
    # blind-spot training learns slowly (few voxels carry a gradient): modest margins
    assert out["pearson"] > raw["pearson"] + 0.03, (raw, out)
    assert out["measured"] > raw["measured"] + 0.07, (raw, out)


def test_n2n_denoises(tomogram):
    raw = _scores(tomogram.full, tomogram.ground_truth)
    halves = [_standardise(tomogram.even), _standardise(tomogram.odd)]
    out = _scores(_train_and_restore(get_method("n2n")(), halves, 120), tomogram.ground_truth)
    assert out["pearson"] > raw["pearson"] + 0.12, (raw, out)
    assert out["measured"] > raw["measured"] + 0.3, (raw, out)


def test_n2n_denoises_one_tomogram_from_its_even_and_odd_rows(tomogram):
    raw = _scores(tomogram.full, tomogram.ground_truth)
    method = get_method("n2n")()
    restored = _train_and_restore(method, [_standardise(tomogram.full)], 120, tilt_axis_split=True)
    out = _scores(restored, tomogram.ground_truth)
    assert out["pearson"] > raw["pearson"] + 0.12, (raw, out)
    assert out["measured"] > raw["measured"] + 0.3, (raw, out)


def test_dewedge_denoises_and_fills_the_wedge(tomogram):
    raw = _scores(tomogram.full, tomogram.ground_truth)
    halves = [_standardise(tomogram.even), _standardise(tomogram.odd)]
    method = get_method("dewedge")(None, WEDGE)
    out = _scores(_train_and_restore(method, halves, 150), tomogram.ground_truth)
    assert out["pearson"] > raw["pearson"] + 0.15, (raw, out)
    assert out["wedge"] > max(raw["wedge"], 0.0) + 0.2, (raw, out)


def test_ei_joint_denoises_and_fills_the_wedge_from_halves(tomogram):
    raw = _scores(tomogram.full, tomogram.ground_truth)
    halves = [_standardise(tomogram.even), _standardise(tomogram.odd)]
    method = get_method("ei")(EIParams(order="joint"), WEDGE)
    out = _scores(_train_and_restore(method, halves, 120), tomogram.ground_truth)
    assert out["pearson"] > raw["pearson"] + 0.15, (raw, out)
    assert out["wedge"] > max(raw["wedge"], 0.0) + 0.15, (raw, out)
