"""Per-tile normalisation makes a tiled restoration depend on the tile size (seams).

Instance or group norm compute their statistics over each tile, so each tile's output
depends on that tile's content; a network without them restores the same volume whatever
the tiling. n2n's default network has no normalisation.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from tomorestore.inference import predict_tiled
from tomorestore.methods import get_method
from tomorestore.models import NetworkConfig, build_network
from tomorestore.training.config import make_config, make_wedge, resolve_config


def _tile_dependence(config: NetworkConfig) -> float:
    """Mean |tiled(16) - tiled(32)| over the standard deviation, on a 32³ volume."""
    rng = np.random.default_rng(0)
    volume = gaussian_filter(rng.standard_normal((32, 32, 32)), 1.5).astype(np.float32)
    volume += np.linspace(-1.0, 1.0, 32, dtype=np.float32)[None, None, :]  # tiles differ
    torch.manual_seed(0)
    network = build_network(config).eval()

    def predict(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return network(x)

    small = predict_tiled(volume, predict, tile=16, overlap=0.5)
    whole = predict_tiled(volume, predict, tile=32, overlap=0.5)
    return float(np.abs(small - whole).mean() / whole.std())


def test_n2n_default_network_has_no_per_tile_normalisation():
    config = resolve_config(make_config(method="n2n"), get_method("n2n"), "cpu")
    assert config.network.norm == "none"
    assert resolve_config(make_config(method="dewedge", wedge=make_wedge((-60, 60))),
                          get_method("dewedge"), "cpu").network.norm == "instance"  # fmt: skip


def test_network_without_normalisation_does_not_depend_on_tile_size():
    assert _tile_dependence(NetworkConfig(depth=2, base_channels=8, norm="none")) < 0.02


@pytest.mark.parametrize("norm", ["instance", "group"])
def test_per_tile_normalisation_would_make_seams(norm):
    # The reason for the default: the same check fails by a wide margin with these norms.
    assert _tile_dependence(NetworkConfig(depth=2, base_channels=8, norm=norm)) > 0.2
