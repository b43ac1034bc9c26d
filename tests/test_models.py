"""Tests of the 3D U-Net, its configuration and the speed helpers (CPU, tiny sizes)."""

from __future__ import annotations

import pydantic
import pytest
import torch
from torch import nn

from tomorestore.errors import InputError
from tomorestore.models import (
    NetworkConfig,
    UNet3D,
    autocast_context,
    build_network,
    prepare_for_speed,
    to_channels_last_3d,
)
from tomorestore.models.blocks import InstanceNorm3d, MaxBlurPool3d, group_count, make_norm

NORMS = ["instance", "group", "batch", "none"]


def _randomise_head(net: UNet3D) -> UNet3D:
    """Give the zero-initialised last layer random weights so the whole net matters."""
    torch.manual_seed(1)
    nn.init.normal_(net.head.weight, std=0.5)
    return net


@pytest.mark.parametrize("n2v2", [False, True])
@pytest.mark.parametrize("norm", NORMS)
def test_output_shape_equals_input_shape_for_odd_sizes(norm, n2v2):
    torch.manual_seed(0)
    net = _randomise_head(UNet3D(depth=2, base_channels=4, norm=norm, n2v2=n2v2))
    x = torch.randn(2, 1, 17, 23, 31)
    y = net(x)
    assert y.shape == x.shape
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()
    assert not torch.allclose(y, x)  # the network does something once the head is non-zero


def test_tiny_sizes_fall_back_to_replicate_padding():
    net = _randomise_head(UNet3D(depth=3, base_channels=4, norm="group"))
    x = torch.randn(1, 1, 1, 2, 3)  # reflect padding needs pad < size
    assert net(x).shape == x.shape


def test_residual_network_is_identity_at_initialisation():
    torch.manual_seed(0)
    net = UNet3D(depth=2, base_channels=4, residual=True)
    x = torch.randn(1, 1, 16, 20, 24)
    assert torch.equal(net(x), x)


def test_zero_initialised_head_still_trains():
    torch.manual_seed(0)
    net = UNet3D(depth=2, base_channels=4, n2v2=True)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = torch.randn(2, 1, 16, 16, 16)
    target = torch.zeros_like(x)
    losses = []
    for _ in range(5):
        loss = (net(x) - target).pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert all(p.grad is not None for p in net.parameters())


def test_non_residual_network_maps_channels():
    net = UNet3D(in_channels=2, out_channels=3, depth=2, base_channels=4, residual=False)
    assert net(torch.randn(1, 2, 9, 10, 11)).shape == (1, 3, 9, 10, 11)


def test_residual_with_different_channel_counts_is_rejected():
    with pytest.raises(InputError, match="residual"):
        UNet3D(in_channels=2, out_channels=1, residual=True)


def test_unknown_norm_and_wrong_rank_are_rejected():
    with pytest.raises(InputError, match="instance"):
        UNet3D(norm="layer")
    with pytest.raises(InputError, match="N, C, Z, Y, X"):
        UNet3D(depth=1, base_channels=4)(torch.zeros(1, 8, 8, 8))


def test_divisor_is_two_to_the_depth():
    assert UNet3D(depth=3, base_channels=4).divisor == 8
    assert NetworkConfig(depth=4).divisor == 16


def test_n2v2_uses_blur_pool_and_drops_the_top_skip_connection():
    base = 4
    plain = UNet3D(depth=2, base_channels=base)
    n2v2 = UNet3D(depth=2, base_channels=base, n2v2=True)
    assert all(isinstance(d, nn.MaxPool3d) for d in plain.downs)
    assert all(isinstance(d, MaxBlurPool3d) for d in n2v2.downs)
    # the last decoder (top level) sees upsampled features only, no concatenated skip
    assert plain.decoders[-1].conv1.in_channels == 2 * base
    assert n2v2.decoders[-1].conv1.in_channels == base
    assert n2v2.decoders[0].conv1.in_channels == 2 * 2 * base  # deeper skips are kept


def test_max_blur_pool_halves_size_and_preserves_constants():
    pool = MaxBlurPool3d(3)
    x = torch.full((2, 3, 8, 12, 16), 2.5)
    y = pool(x)
    assert y.shape == (2, 3, 4, 6, 8)
    torch.testing.assert_close(y, torch.full_like(y, 2.5))


def test_max_blur_pool_is_shift_stable_compared_to_max_pool():
    """Anti-aliasing: a one-voxel shift of the input changes blur-pooled output less."""
    torch.manual_seed(0)
    x = torch.randn(1, 1, 32, 32, 32)
    shifted = torch.roll(x, 1, dims=-1)
    blur, plain = MaxBlurPool3d(1), nn.MaxPool3d(2)
    blur_change = (blur(x) - blur(shifted)).abs().mean()
    plain_change = (plain(x) - plain(shifted)).abs().mean()
    assert blur_change < 0.7 * plain_change


@pytest.mark.parametrize(("channels", "groups"), [(4, 4), (8, 8), (12, 6), (32, 8), (7, 7)])
def test_group_norm_uses_at_most_eight_groups_dividing_channels(channels, groups):
    assert group_count(channels) == groups
    norm = make_norm("group", channels)
    assert isinstance(norm, nn.GroupNorm)
    assert norm.num_groups == groups


@pytest.mark.parametrize("grad", [True, False])
def test_instance_norm_equals_torch_instance_norm_with_and_without_gradients(grad):
    torch.manual_seed(0)
    norm = make_norm("instance", 4)
    assert isinstance(norm, InstanceNorm3d)
    reference = nn.InstanceNorm3d(4, affine=True)
    with torch.no_grad():
        for module in (norm, reference):
            module.weight.copy_(torch.linspace(0.5, 2.0, 4))
            module.bias.copy_(torch.linspace(-1.0, 1.0, 4))
    x = 3.0 * torch.randn(2, 4, 6, 7, 8) + 1.0
    with torch.set_grad_enabled(grad):
        torch.testing.assert_close(norm(x), reference(x), rtol=1e-5, atol=1e-5)
        channels_last = to_channels_last_3d(x)
        torch.testing.assert_close(norm(channels_last), reference(x), rtol=1e-5, atol=1e-5)
    assert set(dict(norm.named_parameters())) == {"weight", "bias"}


def test_network_config_builds_the_described_network():
    cfg = NetworkConfig(depth=2, base_channels=8, norm="group", n2v2=True)
    net = build_network(cfg)
    assert (net.depth, net.base_channels, net.norm, net.n2v2) == (2, 8, "group", True)
    assert build_network(cfg, base_channels=4).base_channels == 4
    assert NetworkConfig.model_validate(cfg.model_dump()) == cfg


@pytest.mark.parametrize(
    "fields",
    [{"depth": 0}, {"depth": 9}, {"base_channels": 2}, {"norm": "layer"}, {"dropout": 0.1}],
)
def test_network_config_rejects_bad_values(fields):
    with pytest.raises(pydantic.ValidationError):
        NetworkConfig(**fields)


def test_network_config_rejects_residual_with_unequal_channels():
    with pytest.raises(pydantic.ValidationError, match="residual"):
        NetworkConfig(in_channels=2, out_channels=1, residual=True)
    assert NetworkConfig(in_channels=2, out_channels=1, residual=False).in_channels == 2


def test_build_network_overrides_are_validated():
    with pytest.raises(pydantic.ValidationError):
        build_network(NetworkConfig(), depth=0)


def test_bf16_autocast_returns_float32_close_to_fp32():
    torch.manual_seed(0)
    net = _randomise_head(UNet3D(depth=2, base_channels=8, residual=False)).eval()
    x = torch.randn(1, 1, 16, 16, 16)
    with torch.inference_mode():
        reference = net(x)
        with autocast_context("cpu", enabled=True):
            fast = net(x)
    assert fast.dtype == torch.float32
    scale = reference.abs().max()
    assert (fast - reference).abs().max() < 0.05 * scale
    assert not torch.equal(fast, reference)  # autocast really ran in bf16


def test_autocast_disabled_is_a_no_op():
    with autocast_context("cpu", enabled=False):
        assert not torch.is_autocast_enabled("cpu")
    with autocast_context("cpu", enabled=True):
        assert torch.is_autocast_enabled("cpu")


def test_channels_last_gives_the_same_result():
    torch.manual_seed(0)
    net = _randomise_head(UNet3D(depth=2, base_channels=4, residual=False)).eval()
    x = torch.randn(2, 1, 12, 16, 20)
    with torch.inference_mode():
        reference = net(x)
        prepare_for_speed(net, "cpu", channels_last=True)
        fast_x = to_channels_last_3d(x)
        assert fast_x.is_contiguous(memory_format=torch.channels_last_3d)
        result = net(fast_x)
    torch.testing.assert_close(result, reference, rtol=1e-5, atol=1e-5)


def test_to_channels_last_leaves_non_5d_tensors_alone():
    x = torch.randn(3, 4, 5)
    assert to_channels_last_3d(x) is x
