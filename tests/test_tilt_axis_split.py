"""The even/odd row split along the tilt axis: n2n's network and loss on one tomogram."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tomorestore.errors import InputError
from tomorestore.methods import get_method
from tomorestore.models import NetworkConfig, UNet3D, build_network
from tomorestore.models.tilt_axis_split import (
    blend_rows,
    merge_rows,
    split_rows,
    swap_rows,
    unblended,
)


@pytest.mark.parametrize("rows", [8, 9])
def test_split_then_merge_gives_the_input_back(rows):
    x = torch.randn(2, 1, 4, rows, 5)
    parities, count = split_rows(x)
    assert parities.shape == (4, 1, 4, (rows + 1) // 2, 5)
    assert torch.equal(parities[0, 0, :, 1], x[0, 0, :, 2])  # even rows of sample 0
    assert torch.equal(parities[2, 0, :, 1], x[0, 0, :, 3])  # odd rows of sample 0
    assert torch.equal(merge_rows(parities, count), x)


def test_swap_rows_exchanges_each_pair_and_is_its_own_inverse():
    x = torch.arange(6.0).reshape(1, 1, 1, 6, 1)
    assert swap_rows(x).flatten().tolist() == [1, 0, 3, 2, 5, 4]
    assert torch.equal(swap_rows(swap_rows(x)), x)
    with pytest.raises(ValueError, match="even number"):
        swap_rows(torch.zeros(1, 1, 1, 5, 1))


def test_split_network_runs_the_unet_on_each_parity_interleaves_and_blends():
    torch.manual_seed(0)
    split = UNet3D(depth=2, base_channels=4, norm="none", residual=False, tilt_axis_split=True)
    plain = UNet3D(depth=2, base_channels=4, norm="none", residual=False)
    plain.load_state_dict(split.state_dict())  # the same weights, the same keys
    x = torch.randn(1, 1, 8, 15, 12)
    with torch.no_grad():
        with unblended(torch.nn.Sequential(split)):
            out = split(x)
        blended = split(x)
        padded = torch.cat([x, x[..., -1:, :]], dim=-2)
        even, odd = plain(padded[..., 0::2, :]), plain(padded[..., 1::2, :])
    assert split.blend  # back on after the block
    assert out.shape == x.shape
    torch.testing.assert_close(out[..., 0::2, :], even)
    torch.testing.assert_close(out[..., 1::2, :], odd[..., :7, :])
    torch.testing.assert_close(blended, blend_rows(out))
    assert split.divisor == 2 * plain.divisor


def test_blend_rows_weights_each_row_with_its_neighbours():
    x = torch.zeros(1, 1, 1, 5, 2)
    x[..., 2, :] = 4.0
    assert blend_rows(x)[0, 0, 0, :, 0].tolist() == [0.0, 1.0, 2.0, 1.0, 0.0]
    ones = torch.ones(1, 1, 2, 6, 3)
    torch.testing.assert_close(blend_rows(ones), ones)  # borders keep a constant


def test_network_config_records_the_split_and_gives_it_to_a_denoiser_only():
    config = NetworkConfig(depth=2, base_channels=4, tilt_axis_split=True)
    assert config.divisor == 8
    assert build_network(config).tilt_axis_split
    staged = build_network(config, stages=2)
    assert staged.denoiser.tilt_axis_split and not staged.filler.tilt_axis_split


def test_n2n_loss_on_one_tomogram_pairs_each_row_with_its_neighbour():
    n2n = get_method("n2n")()
    generator = torch.Generator().manual_seed(0)
    identity = torch.nn.Identity()
    flat_along_y = torch.randn(2, 1, 8, 1, 8).expand(2, 1, 8, 8, 8).contiguous()
    n2n.rows_checked = True  # (such a volume would be refused: its rows share everything)
    # a volume constant along Y: each row equals its neighbour, an identity map is perfect
    assert float(n2n.training_loss(identity, flat_along_y, generator=generator)) == 0.0
    assert float(n2n.validation_loss(identity, flat_along_y)) == 0.0
    noise = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 1, 8, 8, 8)))
    # independent rows: the identity's error is the difference of two rows (variance 2)
    loss = float(n2n.validation_loss(identity, noise.float()))
    assert 1.6 < loss < 2.4


def test_n2n_on_one_tomogram_refuses_noise_shared_between_rows():
    rng = np.random.default_rng(1)
    white = rng.standard_normal((2, 1, 16, 17, 16))
    along_y = (white[..., 1:, :] + white[..., :-1, :]) / np.sqrt(2.0)  # the tilt axis is X
    along_z = np.swapaxes(along_y, 2, 3)  # correlated along Z only: fine
    generator = torch.Generator().manual_seed(0)
    network = torch.nn.Conv3d(1, 1, 3, padding=1)
    with pytest.raises(InputError, match=r"--tilt-axis X.*or use n2v"):
        get_method("n2n")().training_loss(
            network, torch.from_numpy(along_y).float(), generator=generator
        )
    fine = get_method("n2n")()
    assert torch.isfinite(
        fine.training_loss(network, torch.from_numpy(along_z).float(), generator=generator)
    )
    assert fine.rows_checked
