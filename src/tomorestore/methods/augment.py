"""Exact data augmentations (index operations only, no interpolation).

Batches are ``(B, C, Z, Y, X)``; every channel of a sample gets the same transform, so
even/odd halves or input/target pairs stay aligned. A 90-degree rotation about the tilt axis
Y acts in the ``(Z, X)`` plane and moves the missing wedge; flipping Y or rotating by 180
degrees about Y leaves the wedge of any tilt range where it is.
"""

from __future__ import annotations

import torch

_ZX = (-3, -1)


def rot90_y(x: torch.Tensor, k: int) -> torch.Tensor:
    """Rotate by ``k`` quarter turns about the Y axis (in the ``(Z, X)`` plane).

    Parameters
    ----------
    x : torch.Tensor
        ``(..., Z, Y, X)``; Z and X must be equal when ``k`` is odd.
    k : int
        Number of quarter turns.

    Returns
    -------
    torch.Tensor
        The rotated tensor.
    """
    return torch.rot90(x, k % 4, dims=_ZX)


def _choices(n: int, high: int, generator: torch.Generator | None) -> list[int]:
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.randint(high, (n,), generator=generator, device=device).tolist()


def random_y_rotations_and_flips(
    x: torch.Tensor, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Per sample: a random quarter-turn about Y, a random flip of Y and of X.

    Used by Noise2Noise (input and target move together). The 16 transforms move the wedge;
    that is harmless when input and target move together.

    Parameters
    ----------
    x : torch.Tensor
        ``(B, C, Z, Y, X)`` with ``Z == X``.
    generator : torch.Generator, optional
        Source of randomness.

    Returns
    -------
    torch.Tensor
        The augmented batch.
    """
    codes = _choices(x.shape[0], 16, generator)
    out = []
    for sample, code in zip(x, codes, strict=True):
        sample = rot90_y(sample, code % 4)
        if code & 4:
            sample = sample.flip(-2)
        if code & 8:
            sample = sample.flip(-1)
        out.append(sample)
    return torch.stack(out)


def random_wedge_preserving_flips(
    x: torch.Tensor, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Per sample: a random flip of Y and a random half-turn about Y.

    These four transforms leave the missing wedge of any (also asymmetric) tilt range and
    the Z direction of back-projection noise in place, so they are safe for losses that use
    the wedge mask or the Z-correlation of the noise.

    Parameters
    ----------
    x : torch.Tensor
        ``(B, C, Z, Y, X)``.
    generator : torch.Generator, optional
        Source of randomness.

    Returns
    -------
    torch.Tensor
        The augmented batch.
    """
    codes = _choices(x.shape[0], 4, generator)
    out = []
    for sample, code in zip(x, codes, strict=True):
        if code & 1:
            sample = sample.flip(-2)
        if code & 2:
            sample = sample.flip(-3).flip(-1)
        out.append(sample)
    return torch.stack(out)


def random_swap(x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per sample, swap the two channels of ``(B, 2, ...)`` with probability 1/2.

    Parameters
    ----------
    x : torch.Tensor
        ``(B, 2, ...)`` pairs (even, odd).
    generator : torch.Generator, optional
        Source of randomness.

    Returns
    -------
    torch.Tensor
        Pairs with channel order swapped for a random half of the samples.
    """
    codes = torch.tensor(_choices(x.shape[0], 2, generator), device=x.device, dtype=torch.bool)
    swapped = x.flip(1)
    return torch.where(codes.view(-1, *([1] * (x.ndim - 1))), swapped, x)
