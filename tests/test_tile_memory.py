"""The restore tile chosen from a GPU's free memory (the free-memory figure is mocked)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tomorestore.inference import tile_memory
from tomorestore.inference.tile_memory import (
    automatic_tile,
    fit_tile,
    free_memory_bytes,
    tile_memory_bytes,
)
from tomorestore.models import NetworkConfig
from tomorestore.training import restoring
from tomorestore.training.restoration_model import default_tile

GIB = 2**30


def test_estimate_grows_with_the_padded_tile_channels_and_batch():
    base = tile_memory_bytes(64, base_channels=32, divisor=8, fast=True)
    assert base == 64**3 * 32 * 24
    assert tile_memory_bytes(60, base_channels=32, divisor=8, fast=True) == base  # padded
    assert tile_memory_bytes(64, base_channels=32, divisor=8, fast=False) == 2 * base
    assert tile_memory_bytes(64, base_channels=64, divisor=8, batch_size=2) == 4 * base


@pytest.mark.parametrize(
    ("free_gib", "expected"), [(80.0, 128), (3.0, 128), (1.5, 96), (0.5, 64), (0.01, 16)]
)
def test_fit_tile_keeps_the_preferred_edge_until_memory_is_short(free_gib, expected):
    tile = fit_tile(128, int(free_gib * GIB), base_channels=32, divisor=8, fast=True)
    assert tile == expected and tile % 8 == 0
    budget = free_gib * GIB / 2
    fits = tile_memory_bytes(tile, base_channels=32, divisor=8) <= budget
    assert fits or tile == 16  # the floor: two divisors (the OOM retry takes over there)


def test_free_memory_counts_the_allocators_unused_cache(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (3 * GIB, 80 * GIB))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 2 * GIB)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: GIB // 2)
    assert free_memory_bytes("cuda:0") == 3 * GIB + 3 * GIB // 2
    assert free_memory_bytes("cpu") is None


def test_automatic_tile_on_cuda_uses_free_memory_and_leaves_cpu_alone(monkeypatch):
    monkeypatch.setattr(tile_memory, "free_memory_bytes", lambda d: None if str(d) == "cpu"
                        else GIB)  # fmt: skip
    assert automatic_tile(96, "cpu", base_channels=32, divisor=8) == 96
    small = automatic_tile(128, "cuda:0", base_channels=32, divisor=8, fast=True)
    assert small == fit_tile(128, GIB, base_channels=32, divisor=8, fast=True) < 128
    wide = automatic_tile(128, "cuda:0", base_channels=64, divisor=8, fast=False)
    assert wide < small


def test_restore_plan_takes_the_memory_fitted_tile_on_cuda(monkeypatch):
    """What plan_restore uses when no tile is given (the device itself is not needed)."""
    monkeypatch.setattr(tile_memory, "free_memory_bytes", lambda d: None if str(d) == "cpu"
                        else 2 * GIB)  # fmt: skip
    network = NetworkConfig()  # 32 base channels, depth 3
    fast = SimpleNamespace(config=SimpleNamespace(network=network, fast=True))
    slow = SimpleNamespace(config=SimpleNamespace(network=network, fast=False))
    gpu = default_tile("cuda")
    cuda_tile = restoring.default_restore_tile(fast, torch.device("cuda:0"), 1)
    assert cuda_tile == fit_tile(gpu, 2 * GIB, base_channels=32, divisor=8, fast=True)
    assert cuda_tile < gpu
    assert restoring.default_restore_tile(fast, torch.device("cpu"), 1) == default_tile("cpu")
    plenty = 200 * GIB
    monkeypatch.setattr(tile_memory, "free_memory_bytes", lambda d: plenty)
    assert restoring.default_restore_tile(slow, torch.device("cuda:0"), 4) == gpu
