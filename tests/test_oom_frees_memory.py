"""After an out-of-memory error the retry with smaller tiles starts with the failed pass's
activations freed (the error's traceback frames held them: on a GPU the retry could then
run out of memory again for nothing)."""

from __future__ import annotations

import weakref

import numpy as np
import torch

from tomorestore.inference import DEFAULT_OVERLAP, restore_volume
from tomorestore.inference.tiling import plan_axis


class _Activations(torch.nn.Module):
    """Allocates an 'activation' per call; tiles wider than 16 run out of memory."""

    divisor = 8

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.activations: list[weakref.ref] = []
        self.alive_at_call: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alive = sum(ref() is not None for ref in self.activations)
        self.alive_at_call.append((int(x.shape[-1]), alive))
        activation = torch.empty(x.numel() * 4)
        self.activations.append(weakref.ref(activation))
        if x.shape[-1] > 16:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        return x * self.scale


def test_retry_with_smaller_tiles_starts_with_the_failed_activations_freed():
    network = _Activations()
    volume = np.random.default_rng(0).standard_normal((32, 32, 32)).astype(np.float32)
    out = restore_volume(network, volume, device="cpu", tile=32, batch_size=2, min_size=16)
    np.testing.assert_allclose(out, volume, atol=1e-6)  # identity network, blended
    edges = [edge for edge, _ in network.alive_at_call]
    # batch 2 fails, batch 1 fails, smaller tiles (tile 32 on a 32-voxel axis: one tile of
    # the axis plus its reflect margins, see tiling.plan_axis)
    whole_axis = plan_axis(32, 32, DEFAULT_OVERLAP, multiple=1).tile
    assert whole_axis > 32
    assert edges[:3] == [whole_axis, whole_axis, 16]
    assert all(alive == 0 for _, alive in network.alive_at_call), network.alive_at_call
