"""The training loop, as a generator of events.

:func:`train_events` validates everything first (shapes, NaNs, tilt range, method needs,
patch size, device, checkpoint), then trains and yields :mod:`~tomorestore.training.events`.
The napari widget runs it in a worker thread, the command line drains it with a progress
bar, :func:`tomorestore.train` simply exhausts it. Nothing is written before the first
checkpoint, and nothing at all when the input is rejected.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Normalization, PatchSampler, check_user_mask, foreground_mask
from ..errors import CheckpointError, InputError
from .config import TrainConfig, resolve_config
from .events import Checkpointed, Event, Finished, Preview, Started, Step, Validated
from .history import TrainingHistory
from .preview import preview_slice
from .restoration_model import RestorationModel
from .tilt_frame import from_method_frame, to_method_frame

#: Fraction of the peak learning rate the cosine schedule decays to.
LR_FLOOR = 0.05


def learning_rate_at(step: int, total: int, peak: float, schedule: str = "cosine") -> float:
    """Learning rate of ``step`` (1-based): linear warm-up, then cosine decay (or constant)."""
    warmup = max(1, min(100, total // 20))
    if step <= warmup:
        return peak * step / warmup
    if schedule == "constant":
        return peak
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (LR_FLOOR + (1.0 - LR_FLOOR) * 0.5 * (1.0 + math.cos(math.pi * progress)))


@dataclass
class _Run:
    """Everything the loop needs, built and validated before the first event."""

    config: TrainConfig
    method: Any
    sampler: PatchSampler
    network: Any
    optimizer: Any
    device: Any
    normalization: Normalization
    voxel_size: tuple[float, float, float] | None
    start_step: int
    history: TrainingHistory
    checkpoint_path: Path | None


def _fast_network(network: Any, device: Any, fast: bool) -> Any:
    """Wrap ``network`` so the methods call it with bf16 autocast and get float32 back."""
    import torch

    from ..models import autocast_context, to_channels_last_3d

    class FastNetwork(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if fast:
                x = to_channels_last_3d(x)
            with autocast_context(device, fast):
                y = self.network(x)
            return y.float()

    return FastNetwork()


def _merge_resumed(config: TrainConfig, stored: TrainConfig) -> TrainConfig:
    """The stored configuration, with run-control fields taken from ``config``."""
    if config.method != stored.method:
        raise InputError(
            f"the checkpoint was trained with {stored.method!r}, not {config.method!r}; "
            f"resume with --method {stored.method} or start a new training."
        )
    update: dict[str, Any] = {
        name: getattr(config, name)
        for name in ("device", "fast", "validate_every", "preview_every", "checkpoint_every")
    }
    for name in ("steps", "batch_size", "patch_size", "learning_rate"):
        if getattr(config, name) is not None:
            update[name] = getattr(config, name)
    return stored.model_copy(update=update)


def _prepare(
    config: TrainConfig,
    halves: Sequence[Any],
    *,
    mask: Any,
    voxel_size: Any,
    checkpoint_path: Any,
    resume_from: Any,
) -> _Run:
    import torch

    from ..io import check_halves
    from ..methods import get_method
    from ..models import build_network, prepare_for_speed
    from .checkpoint import check_writable, load_checkpoint, resume_source
    from .device import resolve_device

    inputs = list(halves) if isinstance(halves, (list, tuple)) else [halves]
    arrays = check_halves(inputs)
    volume_voxel = next((v.voxel_size for v in inputs if hasattr(v, "voxel_size")), None)
    resume_path = resume_source(resume_from) if resume_from is not None else None
    payload = load_checkpoint(resume_path) if resume_path is not None else None
    if payload is not None:
        stored = TrainConfig.model_validate(payload["config"])
        config = _merge_resumed(config, stored)
    method_cls = get_method(config.method)
    problem = method_cls.input_problem(
        n_halves=len(arrays),
        has_wedge=config.wedge is not None,
        advice={
            "halves": "give the even and odd halves (--even E.mrc --odd O.mrc; even=..., "
            "odd=... in Python)",
            "wedge": "give --tilt-range MIN MAX (tilt_range=(MIN, MAX) in Python), e.g. -60 60",
        },
    )
    if problem:
        raise InputError(f"{problem}.")
    arrays = [to_method_frame(array, config.wedge) for array in arrays]
    shape = arrays[0].shape
    device = resolve_device(config.device)
    config = resolve_config(config, method_cls, device.type)
    patch = int(config.patch_size)  # type: ignore[arg-type]
    if patch > min(shape):
        raise InputError(
            f"patch {patch} is larger than the volume {tuple(shape)}; use --patch <= "
            f"{min(shape)} (patch_size in Python)."
        )
    target = check_writable(checkpoint_path) if checkpoint_path is not None else None
    if mask is not None:
        user_mask = to_method_frame(getattr(mask, "data", mask), config.wedge)
        allowed = check_user_mask(user_mask, shape)
    else:
        allowed = foreground_mask(arrays[0], patch_size=patch)
    wedge = config.wedge.method_wedge() if config.wedge is not None else None
    method = method_cls(config.params, wedge)
    if payload is not None:
        normalization = Normalization(**payload["normalization"])
    else:
        normalization = Normalization.from_volumes(arrays)
    normalised = [normalization.apply(a) for a in arrays]
    sampler = PatchSampler(
        normalised,
        crop_size=method.crop_size(patch),
        mask=allowed,
        validation_fraction=config.validation_fraction,
        seed=config.seed,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        network = build_network(config.network)
    optimizer_state = None
    start_step = 0
    history = TrainingHistory()
    if payload is not None:
        try:
            network.load_state_dict(payload["state_dict"])
        except RuntimeError as exc:
            raise CheckpointError(
                f"checkpoint {resume_path} has unexpected weights: {exc}"
            ) from exc
        optimizer_state = payload.get("optimizer_state")
        start_step = int(payload["step"])
        history = TrainingHistory.from_dict(payload.get("history")).up_to(start_step)
        if start_step >= int(config.steps):  # type: ignore[arg-type]
            raise InputError(
                f"the checkpoint is already at step {start_step} of {config.steps}; give more "
                f"steps (--steps > {start_step}) to continue training."
            )
    prepare_for_speed(network, device, channels_last=config.fast)
    optimizer = torch.optim.Adam(network.parameters(), lr=float(config.learning_rate))  # type: ignore[arg-type]
    if optimizer_state is not None:
        try:
            optimizer.load_state_dict(optimizer_state)
        except (ValueError, KeyError) as exc:
            raise CheckpointError(
                f"checkpoint {resume_path} has an incompatible optimizer state: {exc}"
            ) from exc
    if voxel_size is None:
        voxel_size = volume_voxel
    if voxel_size is None and payload is not None and payload.get("voxel_size") is not None:
        voxel_size = payload["voxel_size"]
    if voxel_size is not None:
        from ..io.volume import as_triple

        voxel_size = as_triple(voxel_size, name="voxel_size", positive=True)
    return _Run(
        config=config,
        method=method,
        sampler=sampler,
        network=network,
        optimizer=optimizer,
        device=device,
        normalization=normalization,
        voxel_size=voxel_size,
        start_step=start_step,
        history=history,
        checkpoint_path=target,
    )


def train_events(
    config: TrainConfig,
    halves: Sequence[Any],
    *,
    mask: Any = None,
    voxel_size: Any = None,
    checkpoint_path: str | os.PathLike[str] | None = None,
    resume_from: str | os.PathLike[str] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[Event]:
    """Train a restoration network, yielding progress events.

    Parameters
    ----------
    config : TrainConfig
        What to train (``None`` fields take the method's defaults).
    halves : list
        ``[tomogram]`` or ``[even, odd]``: arrays or :class:`~tomorestore.io.Volume`.
    mask : array-like, optional
        Where sub-tomograms may be centred (non-zero = allowed; same shape). Default: the
        automatic :func:`~tomorestore.data.foreground_mask`.
    voxel_size : float or tuple, optional
        Å per voxel (Z, Y, X), stored in the model (default: from a ``Volume`` input).
    checkpoint_path : path, optional
        Where checkpoints are written (every ``checkpoint_every`` steps, on a stop and at
        the end). None: no file is written.
    resume_from : path, optional
        A checkpoint to continue from (step count, weights, optimizer state, history).
    should_stop : callable, optional
        Polled before every step; True stops cleanly (checkpoint, then
        ``Finished(stopped=True)``).

    Yields
    ------
    Started, Step, Validated, Preview, Checkpointed, Finished
        In that order per step; ``Finished`` (last) carries the
        :class:`~tomorestore.training.bundle.RestorationModel`.

    Raises
    ------
    InputError
        On bad input, before any event is yielded and before anything is written.

    Examples
    --------
    >>> config = TrainConfig(method="n2v", steps=10)  # doctest: +SKIP
    >>> for event in train_events(config, [tomogram]):  # doctest: +SKIP
    ...     print(event)
    """
    run = _prepare(
        config,
        halves,
        mask=mask,
        voxel_size=voxel_size,
        checkpoint_path=checkpoint_path,
        resume_from=resume_from,
    )
    yield from _loop(run, should_stop)


def _loop(run: _Run, should_stop: Callable[[], bool] | None) -> Iterator[Event]:
    import torch

    config, method, sampler, device = run.config, run.method, run.sampler, run.device
    network, optimizer, history = run.network, run.optimizer, run.history
    total = int(config.steps)  # type: ignore[arg-type]
    batch_size = int(config.batch_size)  # type: ignore[arg-type]
    peak_lr = float(config.learning_rate)  # type: ignore[arg-type]
    model = _fast_network(network, device, config.fast)
    rng = np.random.default_rng([config.seed, run.start_step])
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + run.start_step)
    step, stopped, saved_step = run.start_step, False, -1
    best = _BestWeights()

    def bundle(weights: torch.nn.Module, at_step: int, best_step: int | None) -> RestorationModel:
        return RestorationModel(
            network=weights,
            config=config,
            normalization=run.normalization,
            voxel_size=run.voxel_size,
            step=at_step,
            history=history,
            best_step=best_step,
        )

    def best_model() -> RestorationModel:
        """The weights to restore with: the best validated ones, else the current ones."""
        if best.state is None:
            return bundle(network, step, None)
        from ..models import build_network

        copy = build_network(config.network)
        copy.load_state_dict(best.state)
        copy.eval()
        return bundle(copy, int(best.step), best.step)  # type: ignore[arg-type]

    def save() -> tuple[Path, Path]:
        from .checkpoint import last_checkpoint_path, save_checkpoint

        assert run.checkpoint_path is not None
        last = save_checkpoint(
            last_checkpoint_path(run.checkpoint_path),
            bundle(network, step, None).to_payload(optimizer_state=optimizer.state_dict()),
        )
        return save_checkpoint(run.checkpoint_path, best_model().to_payload()), last

    def validate() -> float:
        network.eval()
        crops = sampler.validation_batch()
        weighted = 0.0
        with torch.no_grad():
            for start in range(0, len(crops), batch_size):
                chunk = torch.from_numpy(crops[start : start + batch_size]).to(device)
                weighted += float(method.validation_loss(model, chunk)) * len(chunk)
        network.train()
        return weighted / max(1, len(crops))

    def preview() -> np.ndarray:
        image = preview_slice(
            network,
            method,
            _unpadded(sampler),
            device=device,
            fast=config.fast,
            normalization=run.normalization,
            depth=int(config.patch_size),  # type: ignore[arg-type]
        )
        return from_method_frame(image, config.wedge)

    yield Started(total_steps=total, start_step=run.start_step, device=str(device))
    network.train()
    try:
        while step < total:
            if should_stop is not None and should_stop():
                stopped = True
                break
            step += 1
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(step, total, peak_lr, config.schedule)
            batch = torch.from_numpy(sampler.train_batch(batch_size, rng)).to(device)
            loss = method.training_loss(model, batch, generator=generator)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise InputError(
                    f"training diverged at step {step} (loss {value}); lower the learning "
                    f"rate (now {peak_lr:g}, try {peak_lr / 4:g}) or check the input."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            history.record_step(step, value)
            yield Step(step=step, total_steps=total, loss=value)
            # nothing trains on a refresh after the last step; after a refresh that
            # replaced the data (dewedge's refill) older validation losses do not compare
            if step < total and method.refresh(model, sampler, step=step, device=device):
                best.forget()
            if step % config.validate_every == 0 or step == total:
                val_loss = validate()
                history.record_validation(step, val_loss)
                if config.keep_best and sampler.n_validation:
                    best.offer(network, step, val_loss)
                yield Validated(step=step, val_loss=val_loss)
            if config.preview_every and step % config.preview_every == 0:
                yield Preview(step=step, image=preview())
            every = config.checkpoint_every
            if run.checkpoint_path is not None and every and step % every == 0 and step < total:
                saved_step = step
                path, last = save()
                yield Checkpointed(step=step, path=path, last_path=last)
    except GeneratorExit:
        # The consumer closed the generator (e.g. a napari worker quit): keep the progress.
        if run.checkpoint_path is not None and step > max(saved_step, run.start_step):
            with contextlib.suppress(Exception):
                save()
        raise
    network.eval()
    path = last = None
    if run.checkpoint_path is not None:
        path, last = save()
        yield Checkpointed(step=step, path=path, last_path=last)
    result = best_model()
    yield Finished(
        step=step,
        stopped=stopped,
        checkpoint_path=path,
        model=result,
        best_step=result.best_step,
        last_checkpoint_path=last,
    )


class _BestWeights:
    """A copy of the network weights with the lowest validation loss seen so far."""

    def __init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        """Drop what was kept (the training data changed: old losses do not compare)."""
        self.loss = math.inf
        self.step: int | None = None
        self.state: dict | None = None

    def offer(self, network: Any, step: int, loss: float) -> None:
        """Keep ``network``'s weights if ``loss`` is the lowest so far."""
        if math.isfinite(loss) and loss < self.loss:
            self.loss, self.step = loss, step
            self.state = {k: v.detach().clone() for k, v in network.state_dict().items()}


def _unpadded(sampler: PatchSampler) -> list[np.ndarray]:
    z, y, x = sampler.original_shape
    return [half[:z, :y, :x] for half in sampler.halves]
