"""Choosing the compute device: ``"auto"`` (cuda, then mps, then cpu) or an explicit one."""

from __future__ import annotations

from typing import Any

from ..errors import InputError


def available_devices() -> list[str]:
    """Devices torch can use here, e.g. ``["cpu", "cuda:0", "cuda:1"]``."""
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def resolve_device(device: Any = "auto") -> Any:
    """Turn a device name into a :class:`torch.device` that exists on this machine.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` picks the first of cuda, mps, cpu that is available; ``"gpu"`` means
        ``"cuda"``; otherwise any torch device string such as ``"cpu"``, ``"cuda:1"``.

    Returns
    -------
    torch.device

    Raises
    ------
    InputError
        If the name is not a device or the device is not available here (the message
        lists the available ones).

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    import torch

    if isinstance(device, torch.device):
        name = str(device)
    else:
        name = str(device or "auto").strip().lower()
    available = available_devices()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda:0")
        if "mps" in available:
            return torch.device("mps")
        return torch.device("cpu")
    if name == "gpu":
        name = "cuda"
    try:
        parsed = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise InputError(
            f"unknown device {device!r}; use 'auto' or one of: {', '.join(available)}."
        ) from exc
    if parsed.type == "cuda" and parsed.index is None:
        parsed = torch.device("cuda:0")
    if parsed.type == "mps":
        parsed = torch.device("mps")
    if str(parsed) not in available:
        raise InputError(
            f"device {device!r} is not available on this machine; use 'auto' or one of: "
            f"{', '.join(available)}."
        )
    return parsed
