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
from .distributed import ProcessGroup, process_group, wrap_network
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
class _Part:
    """One tomogram of the data set, ready to sample from."""

    sampler: PatchSampler
    method: Any
    weight: float
    name: str


@dataclass
class _Run:
    """Everything the loop needs, built and validated before the first event."""

    config: TrainConfig
    parts: list[_Part]
    network: Any
    optimizer: Any
    device: Any
    normalization: Normalization
    voxel_size: tuple[float, float, float] | None
    start_step: int
    history: TrainingHistory
    checkpoint_path: Path | None
    notes: tuple[str, ...] = ()
    group: ProcessGroup = ProcessGroup()


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


#: Voxels of the tomogram the methods' default budgets were tuned on (64 x 128 x 128).
REFERENCE_VOXELS = 64 * 128 * 128
#: The budget grows with the data up to this factor ...
MAX_DATA_FACTOR = 8.0
#: ... and is this many times larger on a GPU (steps there take a fraction of a second).
GPU_FACTOR = 4


def default_budget(
    method_steps: int, shapes: Sequence[tuple[int, ...]], device_type: str
) -> tuple[int, str]:
    """The default number of steps for this much data on this device, and why.

    The methods' budgets were tuned on one 64 x 128 x 128 tomogram on a 2-core CPU (about
    10 minutes). More data takes more steps to see (up to :data:`MAX_DATA_FACTOR` times),
    and a GPU runs :data:`GPU_FACTOR` times as many in a similar time; keep_best (the
    held-out validation) guards against over-fitting a long run.

    Returns
    -------
    steps : int
    reason : str
        A sentence for the user ("" when the method's budget is kept).
    """
    voxels = sum(math.prod(shape) for shape in shapes)
    data_factor = min(MAX_DATA_FACTOR, max(1.0, voxels / REFERENCE_VOXELS))
    device_factor = GPU_FACTOR if device_type == "cuda" else 1
    steps = int(round(method_steps * data_factor * device_factor / 50.0) * 50) or method_steps
    if steps == method_steps:
        return method_steps, ""
    parts = []
    if data_factor > 1:
        parts.append(f"x{data_factor:.2g} for {voxels / 1e6:.3g} M voxels of data")
    if device_factor > 1:
        parts.append(f"x{device_factor} on a GPU")
    return steps, (
        f"budget {steps} steps (the method's {method_steps} for a 64x128x128 tomogram on a "
        f"CPU, {', '.join(parts)}; the weights of the lowest validation loss are kept)"
    )


def _fine_tuning(config: TrainConfig, stored: TrainConfig, source: Any) -> TrainConfig:
    """``config`` with the network of the model fine-tuned from (same method required)."""
    if config.method != stored.method:
        raise InputError(
            f"{source} was trained with {stored.method!r}, not {config.method!r}: fine-tune "
            f"with --method {stored.method}, or train a new model."
        )
    if config.network is not None and config.network != stored.network:
        raise InputError(
            f"{source} has the network {stored.network}, not {config.network}: fine-tuning "
            "keeps the trained network's shape; leave the network settings out."
        )
    return config.model_copy(update={"network": stored.network})


def _estimated_wedge(volume: Any, name: str, notes: list[str]) -> Any:
    """The tilt range estimated from ``volume``'s power spectrum, with a note saying so.

    Raises
    ------
    InputError
        When the data show no clear missing wedge (the estimate would be a guess).
    """
    from ..physics.wedge_estimate import LOW_CONFIDENCE, describe_estimate, estimate_tilt_range
    from .config import make_wedge

    estimate = estimate_tilt_range(volume)
    sentence = describe_estimate(estimate, name)
    if estimate.confidence < LOW_CONFIDENCE:
        raise InputError(
            f"no tilt range was given and the data do not show it clearly: {sentence} "
            "(e.g. --tilt-range -60 60; tilt_range=(-60, 60) in Python)."
        )
    notes.append(sentence)
    return make_wedge(estimate.tilt_range)


def _fitting_patch(requested: int, shapes: list[tuple[int, ...]], divisor: int) -> int:
    """The largest multiple of ``divisor`` up to ``requested`` that fits every volume."""
    smallest = min(min(shape) for shape in shapes)
    fitting = min(requested, smallest) // divisor * divisor
    if fitting < 8:
        raise InputError(
            f"the smallest tomogram axis has {smallest} voxels: too thin for training patches "
            "of at least 8 voxels; use a thicker volume."
        )
    return fitting


#: Under bf16 autocast the deepest level of the U-Net needs at least this many voxels a
#: side: with a 2-voxel bottleneck (a depth-3 network on 16-voxel patches) about one run in
#: four gave NaN gradients on a 2-core CPU, never with 3 or more (40 runs each).
MIN_FAST_BOTTLENECK = 3


def _precision_for_patch(config: TrainConfig, patch: int, notes: list[str]) -> TrainConfig:
    """``config`` in float32 when its patch leaves the network a bf16-unstable bottleneck."""
    divisor = config.network.divisor  # type: ignore[union-attr]
    if not config.fast or patch // divisor >= MIN_FAST_BOTTLENECK:
        return config
    notes.append(
        f"float32 training: patch {patch} leaves the {divisor}x-downsampled bottleneck "
        f"{patch // divisor} voxels wide, too small for bf16 autocast (patch >= "
        f"{MIN_FAST_BOTTLENECK * divisor} trains in bf16)"
    )
    return config.model_copy(update={"fast": False})


def _split_for_one_tomogram(config: TrainConfig, method_cls: Any, n_halves: int) -> TrainConfig:
    """``config`` with a ``tilt_axis_split`` network where the method asks for one."""
    network = config.network
    if not method_cls.splits_rows(config.params, n_halves) or network.tilt_axis_split:  # type: ignore[union-attr]
        return config
    network = network.model_copy(update={"tilt_axis_split": True})  # type: ignore[union-attr]
    return config.model_copy(update={"network": network})


def _check_method(method_cls: Any, n_halves: int, has_wedge: bool, name: str) -> None:
    problem = method_cls.input_problem(
        n_halves=n_halves,
        has_wedge=has_wedge,
        advice={
            "halves": "give the even and odd halves (--even E.mrc --odd O.mrc; even=..., "
            "odd=... in Python)",
            "wedge": "give --tilt-range MIN MAX (tilt_range=(MIN, MAX) in Python), e.g. -60 60",
        },
    )
    if problem:
        raise InputError(f"{name}: {problem}." if name else f"{problem}.")


def _prepare(
    config: TrainConfig,
    halves: Any,
    *,
    mask: Any,
    voxel_size: Any,
    checkpoint_path: Any,
    resume_from: Any,
    init_from: Any = None,
    group: ProcessGroup | None = None,
) -> _Run:
    import torch

    from ..data.normalized_volume import NormalizedVolume
    from ..io import check_halves
    from ..methods import get_method
    from ..models import build_network, prepare_for_speed
    from .checkpoint import check_writable, load_checkpoint, resume_source
    from .dataset import as_tomograms, common_voxel_size
    from .device import resolve_device
    from .distributed import check_device_choice, process_device

    notes: list[str] = []
    tomograms = as_tomograms(halves, mask=mask)
    several = len(tomograms) > 1
    arrays_of = [check_halves(t.halves) for t in tomograms]
    if len({len(a) for a in arrays_of}) > 1:
        raise InputError(
            "mix of single tomograms and even/odd pairs in one data set: give all as pairs "
            "or all as single tomograms."
        )
    volume_voxel = common_voxel_size(tomograms)
    resume_path = resume_source(resume_from) if resume_from is not None else None
    payload = load_checkpoint(resume_path) if resume_path is not None else None
    if payload is not None:
        stored = TrainConfig.model_validate(payload["config"])
        config = _merge_resumed(config, stored)
    initial = None
    if init_from is not None:
        if payload is not None:
            raise InputError("give --init (fine-tune) or --resume (continue), not both.")
        initial = load_checkpoint(init_from)
        config = _fine_tuning(config, TrainConfig.model_validate(initial["config"]), init_from)
        notes.append(f"fine-tuning {Path(init_from).name} (step {initial['step']})")
    wedges = [t.wedge or config.wedge for t in tomograms]
    method_cls = get_method(config.method)
    for index, (t, arrays) in enumerate(zip(tomograms, arrays_of, strict=True)):
        if wedges[index] is None and method_cls.needs_wedge:
            wedges[index] = _estimated_wedge(arrays[0], t.name or "the tomogram", notes)
        _check_method(method_cls, len(arrays), wedges[index] is not None, t.name if several else "")
    if config.wedge is None and wedges[0] is not None:
        config = config.model_copy(update={"wedge": wedges[0]})
    arrays_of = [
        [to_method_frame(a, wedge) for a in arrays]
        for arrays, wedge in zip(arrays_of, wedges, strict=True)
    ]
    shapes = [arrays[0].shape for arrays in arrays_of]
    group = group or ProcessGroup()
    check_device_choice(config.device, group)
    device = process_device(resolve_device(config.device), group)
    steps_given = config.steps is not None
    patch_given = config.patch_size is not None
    if payload is None and initial is None:  # a checkpoint's settings stay its own
        params, chosen = method_cls.params_for_data(config.params, arrays_of[0])
        if chosen:
            notes.append(chosen)
        config = config.model_copy(update={"params": params})
    config = resolve_config(config, method_cls, device.type)
    config = _split_for_one_tomogram(config, method_cls, len(arrays_of[0]))
    patch = int(config.patch_size)  # type: ignore[arg-type]
    smallest = min(min(shape) for shape in shapes)
    if patch > smallest:
        if patch_given:
            raise InputError(
                f"patch {patch} is larger than the volume {tuple(shapes[0])}; use --patch <= "
                f"{smallest} (patch_size in Python)."
            )
        patch = _fitting_patch(patch, shapes, config.network.divisor)  # type: ignore[union-attr]
        notes.append(
            f"patch {patch} (the method's default {config.patch_size} is larger than the "
            f"smallest axis, {smallest} voxels)"
        )
        config = config.model_copy(update={"patch_size": patch})
    config = _precision_for_patch(config, patch, notes)
    if not steps_given and payload is None:
        steps, why = default_budget(int(config.steps), shapes, device.type)  # type: ignore[arg-type]
        if why:
            notes.append(why)
            config = config.model_copy(update={"steps": steps})
    target = check_writable(checkpoint_path) if checkpoint_path is not None else None
    if group.joined:
        notes.append(group.describe(int(config.batch_size)))  # type: ignore[arg-type]
        if not group.is_main:
            target = None  # rank 0 alone writes
    if payload is not None and not several:
        normalizations = [Normalization(**payload["normalization"])]
    else:
        normalizations = [Normalization.from_volumes(arrays) for arrays in arrays_of]
    parts = []
    for t, arrays, wedge, norm in zip(tomograms, arrays_of, wedges, normalizations, strict=True):
        shape = arrays[0].shape
        if t.mask is not None:
            user_mask = to_method_frame(getattr(t.mask, "data", t.mask), wedge)
            allowed = check_user_mask(user_mask, shape)
        else:
            allowed = foreground_mask(arrays[0], patch_size=patch)
        method = method_cls(config.params, wedge.method_wedge() if wedge is not None else None)
        sampler = PatchSampler(
            [NormalizedVolume(a, norm) for a in arrays],
            crop_size=method.crop_size(patch),
            mask=allowed,
            validation_fraction=config.validation_fraction,
            seed=config.seed,
        )
        weight = float(len(sampler.train_corners))
        parts.append(_Part(sampler=sampler, method=method, weight=weight, name=t.name))
    if several:
        sizes = ", ".join(
            f"{p.name or i + 1} {p.weight / sum(q.weight for q in parts):.0%}"
            for i, p in enumerate(parts)
        )
        notes.append(f"{len(parts)} tomograms, sampled in proportion to their sample: {sizes}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        network = build_network(config.network)
    optimizer_state = None
    start_step = 0
    history = TrainingHistory()
    if initial is not None:
        try:
            network.load_state_dict(initial["state_dict"])
        except RuntimeError as exc:
            raise CheckpointError(f"checkpoint {init_from} has unexpected weights: {exc}") from exc
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
    prepare_for_speed(network, device, channels_last=config.fast, training=True)
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
    if several:
        normalization = Normalization.from_volumes([a for arrays in arrays_of for a in arrays])
    else:
        normalization = normalizations[0]
    return _Run(
        config=config,
        parts=parts,
        network=network,
        optimizer=optimizer,
        device=device,
        normalization=normalization,
        voxel_size=voxel_size,
        start_step=start_step,
        history=history,
        checkpoint_path=target,
        notes=tuple(notes),
        group=group,
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
    init_from: str | os.PathLike[str] | None = None,
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
    init_from : path, optional
        Fine-tune: start from the weights of this trained model (same method; its network
        shape is used) on the given data, with a fresh optimiser, step 0 and the new data's
        statistics. Not combined with ``resume_from``.

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
    from .device import resolve_device

    with process_group(resolve_device(config.device).type) as group:
        run = _prepare(
            config,
            halves,
            mask=mask,
            voxel_size=voxel_size,
            checkpoint_path=checkpoint_path,
            resume_from=resume_from,
            init_from=init_from,
            group=group,
        )
        yield from _loop(run, should_stop)


def _loop(run: _Run, should_stop: Callable[[], bool] | None) -> Iterator[Event]:
    import torch

    config, parts, device = run.config, run.parts, run.device
    network, optimizer, history = run.network, run.optimizer, run.history
    weights = np.array([part.weight for part in parts], dtype=np.float64)
    weights /= weights.sum()
    total = int(config.steps)  # type: ignore[arg-type]
    batch_size = int(config.batch_size)  # type: ignore[arg-type]
    peak_lr = float(config.learning_rate)  # type: ignore[arg-type]
    procs = run.group
    # every process trains through DDP (gradients averaged); validation, previews and
    # dewedge's refill run the bare network, on rank 0 or on each process alone
    trained = _fast_network(wrap_network(network, device, procs), device, config.fast)
    model = _fast_network(network, device, config.fast)
    # each process draws its own sub-tomograms
    streams = [config.seed, run.start_step] + ([procs.rank] if procs.several else [])
    rng = np.random.default_rng(streams)
    generator = torch.Generator().manual_seed(
        config.seed * 1_000_003 + run.start_step + 7_919 * 1_000_003 * procs.rank
    )
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
            processes=run.group.size,
            backend=run.group.backend,
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
        """Mean validation loss over the held-out crops of every tomogram."""
        network.eval()
        weighted, count = 0.0, 0
        with torch.no_grad():
            for part in parts:
                crops = part.sampler.validation_batch()
                for start in range(0, len(crops), batch_size):
                    chunk = torch.from_numpy(crops[start : start + batch_size]).to(device)
                    weighted += float(part.method.validation_loss(model, chunk)) * len(chunk)
                count += len(crops)
        network.train()
        return weighted / max(1, count)

    def preview() -> np.ndarray:
        """The restored central slice of the first tomogram."""
        image = preview_slice(
            network,
            parts[0].method,
            parts[0].sampler.unpadded_halves(),
            device=device,
            fast=config.fast,
            normalization=run.normalization,
            depth=int(config.patch_size),  # type: ignore[arg-type]
        )
        return from_method_frame(image, config.wedge)

    for part in parts:
        part.method.prepare(model, part.sampler, start_step=run.start_step,
                            total_steps=total, device=device)  # fmt: skip
    yield Started(
        total_steps=total,
        start_step=run.start_step,
        device=str(device),
        notes=run.notes,
        processes=procs.size,
        backend=procs.backend,
    )
    network.train()
    try:
        while step < total:
            if procs.any(should_stop is not None and should_stop()):
                stopped = True
                break
            step += 1
            position = parts[0].method.schedule_position(step, total)
            peak, schedule = parts[0].method.stage_learning_rate(step) or (
                peak_lr,
                config.schedule,
            )
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(*position, peak, schedule)
            part = parts[int(rng.choice(len(parts), p=weights))] if len(parts) > 1 else parts[0]
            batch = torch.from_numpy(part.sampler.train_batch(batch_size, rng)).to(device)
            loss = part.method.training_loss(trained, batch, generator=generator)
            value = procs.mean(float(loss.detach()))
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
            if step < total and any(p.method.stage_ends(step) for p in parts):
                _continue_from_best(run, best, step, validate)
            # nothing trains on a refresh after the last step; after a refresh that
            # replaced the data (dewedge's refill) older validation losses do not compare
            if step < total and any(
                [p.method.refresh(model, p.sampler, step=step, device=device) for p in parts]
            ):
                best.forget()
            validating = step % config.validate_every == 0 or step == total
            if validating and procs.is_main:
                val_loss = validate()
                history.record_validation(step, val_loss)
                if _keeps_best(config, parts):
                    best.offer(network, step, val_loss)
                yield Validated(step=step, val_loss=val_loss)
            if config.preview_every and step % config.preview_every == 0 and procs.is_main:
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


def _keeps_best(config: TrainConfig, parts: Sequence[_Part]) -> bool:
    """Whether the run keeps its best validated weights (keep_best, and crops to validate)."""
    return bool(config.keep_best) and any(p.sampler.n_validation for p in parts)


def _continue_from_best(
    run: _Run, best: _BestWeights, step: int, validate: Callable[[], float]
) -> None:
    """A stage ends at ``step``: with keep_best, the next stage starts from its best
    validated weights (this step's compete too); every process gets rank 0's."""
    procs, network = run.group, run.network
    if not _keeps_best(run.config, run.parts):
        return
    if procs.is_main:
        best.offer(network, step, validate())
        if best.state is not None and best.step != step:
            network.load_state_dict(best.state)
    procs.broadcast_module(network)


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
