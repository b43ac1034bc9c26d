"""Checkpoint files: one ``torch.save`` dictionary that alone restores a tomogram.

This module reads and writes plain dictionaries; what they hold is built and read by
:class:`~tomorestore.training.restoration_model.RestorationModel`. Content (plain dicts,
lists, str, float, int and tensors, so that it loads with ``torch.load(weights_only=True)``,
which cannot run code from a foreign file):

``format`` ("tomorestore-checkpoint"), ``format_version``, ``package_version``,
``method``, ``config`` (the resolved :class:`~tomorestore.training.config.TrainConfig` as a
dict), ``normalization`` (mean, std), ``voxel_size`` (Z, Y, X in Å or None),
``state_dict`` (network weights), ``step`` (the step of these weights), ``best_step``,
``optimizer_state`` (or None), ``history`` (loss lists), ``processes`` and ``backend``
(how many DDP processes trained it, and their backend; absent in older files: 1).

Training writes two files: ``model.ckpt`` with the weights to restore with (the lowest
validation loss when ``keep_best``; no optimiser state) and ``model.last.ckpt`` beside it
with the last state and the optimiser, which ``resume`` continues
(:func:`last_checkpoint_path`, :func:`resume_source`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import CheckpointError, InputError

FORMAT = "tomorestore-checkpoint"
FORMAT_VERSION = 4
#: Format versions this version reads (1: one config section per method, read by
#: :class:`~tomorestore.training.config.TrainConfig`; 1 and 2: ei models were all of the
#: ``joint`` order, which their parameters do not name; 1 to 3: two-stage networks had a
#: plain, not a residual, filler, and restored with its whole output).
READABLE_VERSIONS = (1, 2, 3, 4)
REQUIRED_KEYS = ("method", "config", "normalization", "state_dict", "step")
LAST_SUFFIX = ".last"


def last_checkpoint_path(path: str | os.PathLike[str]) -> Path:
    """The file beside ``path`` with the last training state (``model.last.ckpt``)."""
    target = Path(path)
    return target.with_name(f"{target.stem}{LAST_SUFFIX}{target.suffix}")


def resume_source(path: str | os.PathLike[str]) -> Path:
    """What resuming from ``path`` reads: its ``.last`` file when that exists, else ``path``."""
    target = Path(path)
    last = last_checkpoint_path(target)
    if not target.stem.endswith(LAST_SUFFIX) and last.is_file():
        return last
    return target


def copy_last_state(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path | None:
    """Copy the last-state file of the model file ``source`` beside ``target`` (atomic).

    When a model is saved under a new name, its ``.last`` file goes with it, so that
    resuming from the new file continues the same run. Returns the new file, or None when
    ``source`` has no last-state file (or is ``target`` itself).
    """
    import shutil

    from ..io import atomic_write

    last, new = last_checkpoint_path(source), last_checkpoint_path(target)
    if not last.is_file() or last.resolve() == new.resolve():
        return None
    with atomic_write(check_writable(new)) as tmp:
        shutil.copyfile(last, tmp)
    return new


def resume_start_step(path: str | os.PathLike[str]) -> int:
    """The step a run resumed from ``path`` starts at (that of :func:`resume_source`)."""
    return int(load_checkpoint(resume_source(path))["step"])


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Check (without writing) that a file can be created at ``path``.

    Raises
    ------
    InputError
        If the folder does not exist or ``path`` is a folder.
    """
    target = Path(path)
    if target.is_dir():
        raise InputError(f"{target} is a folder; give a file name such as {target / 'model.ckpt'}.")
    if not target.parent.exists():
        raise InputError(
            f"the folder {target.parent} does not exist; create it first or choose another path."
        )
    if not os.access(target.parent, os.W_OK):
        raise InputError(f"cannot write to the folder {target.parent} (permission denied).")
    return target


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write ``payload`` (a plain dict) to ``path`` atomically, with the format fields.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; a reader sees either the previous file or the complete new one.
    payload : dict
        Checkpoint content (see the module docstring), e.g.
        :meth:`RestorationModel.to_payload
        <tomorestore.training.restoration_model.RestorationModel.to_payload>`.

    Returns
    -------
    pathlib.Path
    """
    import torch

    from ..io import atomic_write

    target = check_writable(path)
    content = {
        **payload,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
    }
    with atomic_write(target) as tmp:
        torch.save(content, tmp)
    return target


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict
        The checkpoint content (tensors on the CPU).

    Raises
    ------
    CheckpointError
        If the file is missing, unreadable or truncated, not a tomorestore checkpoint, or
        written in another checkpoint format version.
    """
    import torch

    source = Path(path)
    if not source.is_file():
        raise CheckpointError(
            f"checkpoint {source} does not exist (or is not a file); give the path of a "
            ".ckpt file written by 'tomorestore train'."
        )
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types on foreign/corrupt files
        raise CheckpointError(
            f"cannot read checkpoint {source}: the file is truncated, corrupt or not a "
            f"tomorestore checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
            "Use a complete .ckpt file written by 'tomorestore train'."
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{source} is not a tomorestore checkpoint (it lacks the "
            f"'format: {FORMAT}' marker). Give a .ckpt file written by 'tomorestore train'."
        )
    version = payload.get("format_version")
    if version not in READABLE_VERSIONS:
        writer = payload.get("package_version", "unknown")
        advice = (
            "upgrade tomorestore"
            if isinstance(version, int) and version > FORMAT_VERSION
            else "retrain the model with this version"
        )
        raise CheckpointError(
            f"checkpoint {source} was written by tomorestore {writer} with format {version}; "
            f"this is tomorestore {__version__} (format {FORMAT_VERSION}): {advice}."
        )
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise CheckpointError(
            f"checkpoint {source} is incomplete (missing {', '.join(missing)}); retrain or use "
            "another checkpoint."
        )
    if version < 3:
        payload = _name_the_ei_order(payload)
    if version < 4:
        payload = _restore_the_filler_as_it_was(payload)
    return payload


def _restore_the_filler_as_it_was(payload: dict[str, Any]) -> dict[str, Any]:
    """Two-stage networks of formats 1 to 3 had a plain filler (today's is residual) whose
    whole output was the restoration (today ei keeps the denoiser's measured frequencies):
    say so in their settings (a copy)."""
    config = payload.get("config")
    network = config.get("network") if isinstance(config, dict) else None
    if not isinstance(network, dict) or network.get("stages") != 2:
        return payload
    config = {**config, "network": {**network, "filler_residual": False}}
    if isinstance(config.get("params"), dict):
        config["params"] = {**config["params"], "keep_measured": False}
    return {**payload, "config": config}


def _name_the_ei_order(payload: dict[str, Any]) -> dict[str, Any]:
    """Format 1 and 2 ei models were trained in the ``joint`` order (today's default is
    ``denoise_first``): say so in their parameters (a copy)."""
    config = payload.get("config")
    if not isinstance(config, dict) or str(config.get("method", "")).lower() != "ei":
        return payload
    config = dict(config)
    for key in ("params", "ei"):  # format 2 / format 1 layout
        if isinstance(config.get(key), dict):
            config[key] = {"order": "joint", **config[key]}
    if config.get("params") is None and "ei" not in config:
        config["params"] = {"order": "joint"}
    return {**payload, "config": config}
