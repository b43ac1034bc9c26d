"""The Python API: :func:`train`, :func:`restore` and :func:`load_model`.

Each takes arrays, :class:`~tomorestore.io.Volume` objects or file paths, validates
everything before anything is written, and keeps the voxel size and origin of the input.

Examples
--------
>>> import tomorestore
>>> model = tomorestore.train(  # doctest: +SKIP
...     "dewedge", even="even.mrc", odd="odd.mrc", tilt_range=(-60, 60), out="model.ckpt"
... )
>>> restored = tomorestore.restore(  # doctest: +SKIP
...     model, even="even.mrc", odd="odd.mrc", out="restored.mrc"
... )
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from .errors import InputError
from .inference.tiling import DEFAULT_OVERLAP
from .io import Volume
from .training.config import (
    TrainConfig,
    WedgeConfig,
    make_config,
    make_wedge,
    read_config_mapping,
    upgrade_config_mapping,
)
from .training.restoration_model import RestorationModel

PathLike = str | os.PathLike[str]


def _input_volumes(input: Any, even: Any, odd: Any) -> list[Volume]:
    """``[tomogram]`` or ``[even, odd]`` as Volumes (paths are memory-mapped, not loaded)."""
    from .io import as_volume, choose_inputs

    return [as_volume(item) for item in choose_inputs(input, even, odd)]


def _training_data(
    input: Any,
    even: Any,
    odd: Any,
    inputs: Any,
    evens: Any,
    odds: Any,
    dataset: Any,
    tilt_angles: Any,
    tilt_axis: str,
) -> Any:
    """``[tomogram]``, ``[even, odd]`` or a list of ``Tomogram`` for the engine."""
    from .io import choose_inputs
    from .training.dataset import Tomogram, build_dataset, open_halves

    several = inputs is not None or evens is not None or odds is not None or dataset is not None
    if several and (input is not None or even is not None or odd is not None):
        raise InputError(
            "give one tomogram (input=, or even= and odd=) or a data set (inputs=, evens= "
            "and odds=, or dataset=), not both."
        )
    if isinstance(dataset, (list, tuple)) and all(isinstance(t, Tomogram) for t in dataset):
        return list(dataset)
    if not several:
        items = choose_inputs(input, even, odd)
        if tilt_angles is None:
            return open_halves(items)  # bare arrays stay bare: no 1 Å placeholder
        inputs, evens, odds = (items, None, None) if len(items) == 1 else (None, [even], [odd])
    return build_dataset(
        inputs=inputs,
        evens=evens,
        odds=odds,
        table=dataset,
        tilt_range=None,  # the configuration's wedge applies to rows without their own
        tilt_angles=tilt_angles,
        tilt_axis=tilt_axis,
    )


def _output_path(out: PathLike | None, *, suffixes: tuple[str, ...] | None = None) -> Path | None:
    from .training.checkpoint import check_writable

    if out is None:
        return None
    path = check_writable(out)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise InputError(
            f"cannot write {path.name}: use one of the suffixes {' '.join(suffixes)} "
            "(e.g. restored.mrc)."
        )
    return path


def build_config(
    method: str | None,
    *,
    config: TrainConfig | dict[str, Any] | PathLike | None = None,
    tilt_range: Any = None,
    tilt_axis: str | None = None,
    method_params: dict[str, Any] | None = None,
    **fields: Any,
) -> TrainConfig:
    """A :class:`TrainConfig` from a base configuration plus explicit settings.

    The base may be partial (a YAML file with only ``checkpoint_every: 20``, say): it is
    merged with the explicit settings, which win, and validated once.

    Parameters
    ----------
    method : str or None
        A registered method name (``n2v``, ``n2n``, ``dewedge``, ``ei``); None takes the
        base configuration's.
    config : TrainConfig, dict or path to a YAML file, optional
        Base configuration; explicit settings (not None) override it.
    tilt_range : (float, float), optional
        Tilt range in degrees.
    tilt_axis : {"Y", "X"}, optional
        Tilt axis of the tilt series (default: the base configuration's, else Y).
    method_params : dict, optional
        Fields of the method's parameter model (e.g. ``wedge_weight=20``), merged into the
        base configuration's ``params``.
    **fields
        Other :class:`TrainConfig` fields; None values are ignored.

    Returns
    -------
    TrainConfig

    Raises
    ------
    InputError
        On unknown, missing or out-of-range settings, or a base configuration whose
        method parameters belong to another method.
    """
    if config is None:
        base: dict[str, Any] = {}
    elif isinstance(config, TrainConfig):
        base = config.model_dump()
    elif isinstance(config, dict):
        base = dict(config)
    else:
        base = read_config_mapping(Path(config))
    base = upgrade_config_mapping(base)
    if method is not None:
        name = str(method).lower()
        stored = base.get("method")
        if stored is not None and str(stored).lower() != name and base.get("params"):
            raise InputError(
                f"the configuration's parameters are for {stored!r}, not {name!r}: remove "
                "its 'params' section or its 'method', or choose the same method."
            )
        base["method"] = name
    base.update({name: value for name, value in fields.items() if value is not None})
    if tilt_range is not None:
        axis = tilt_axis or (base.get("wedge") or {}).get("tilt_axis", "Y")
        base["wedge"] = make_wedge(tilt_range, axis).model_dump()  # type: ignore[union-attr]
    elif tilt_axis is not None:
        if not base.get("wedge"):
            raise InputError(
                "a tilt axis was given without a tilt range: give the range too, e.g. "
                "--tilt-range -60 60 --tilt-axis X (tilt_range=(-60, 60), tilt_axis='X')."
            )
        base["wedge"] = {**dict(base["wedge"]), "tilt_axis": str(tilt_axis).upper()}
    if method_params:
        params = base.get("params") or {}
        if isinstance(params, BaseModel):
            params = params.model_dump()
        base["params"] = {**params, **method_params}
    return make_config(**base)


def train(
    method: str,
    *,
    input: Any = None,
    even: Any = None,
    odd: Any = None,
    inputs: Sequence[Any] | None = None,
    evens: Sequence[Any] | None = None,
    odds: Sequence[Any] | None = None,
    dataset: Any = None,
    tilt_range: tuple[float, float] | None = None,
    tilt_angles: Any = None,
    tilt_axis: str | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    patch_size: int | None = None,
    learning_rate: float | None = None,
    device: str | None = None,
    out: PathLike | None = None,
    seed: int | None = None,
    mask: Any = None,
    resume_from: PathLike | None = None,
    init: PathLike | None = None,
    progress: bool | Callable[[Any], None] = True,
    config: TrainConfig | dict[str, Any] | PathLike | None = None,
    should_stop: Callable[[], bool] | None = None,
    **method_params: Any,
) -> RestorationModel:
    """Train a self-supervised restoration model on one tomogram or its even/odd halves.

    Parameters
    ----------
    method : str
        A registered method (:func:`tomorestore.methods.method_names`): ``n2v``
        blind-spot denoising (one tomogram), ``n2n`` even/odd denoising, ``dewedge``
        even/odd denoising and missing-wedge filling, ``ei`` equivariant imaging (one
        tomogram or halves; fills the wedge).
    input : array, Volume or path, optional
        One tomogram ``(Z, Y, X)``.
    even, odd : array, Volume or path, optional
        Half tomograms (same shape); required by ``n2n`` and ``dewedge``.
    inputs : sequence of array, Volume or path, optional
        A data set of single tomograms: one model trains on all of them.
    evens, odds : sequence of array, Volume or path, optional
        A data set of even/odd pairs, matched by position.
    dataset : path or list of Tomogram, optional
        A data-set table (YAML or CSV, one row per tomogram with ``input`` or
        ``even``/``odd`` and ``tilt_range`` or ``tilt_angles``; see
        :func:`tomorestore.io.read_dataset_table`), or
        :class:`~tomorestore.training.dataset.Tomogram` objects.
    tilt_range : (float, float), optional
        Tilt range in degrees (e.g. ``(-60, 60)``; asymmetric allowed); required by
        ``dewedge`` and ``ei``.
    tilt_angles : path or sequence of paths, optional
        IMOD ``.tlt``/``.rawtlt`` or SerialEM ``.mdoc`` files instead of ``tilt_range``:
        one for all tomograms or one per tomogram.
    tilt_axis : {"Y", "X"}, optional
        Tilt axis of the tilt series (default Y, the second array axis).
    steps, batch_size, patch_size, learning_rate : optional
        Training budget; None takes the method's defaults.
    device : str, optional
        ``"auto"`` (default: cuda, then mps, then cpu), ``"cpu"``, ``"cuda:1"``, ...
    out : path, optional
        Checkpoint file, written during training (every ``checkpoint_every`` steps) and at
        the end.
    seed : int, optional
        Random seed (default 0, or the configuration's).
    mask : array, Volume or path, optional
        Where to sample training sub-tomograms (non-zero = allowed; same shape).
        Default: found automatically.
    resume_from : path, optional
        A checkpoint to continue training from (its run: steps, optimiser, data).
    init : path, optional
        A trained model to fine-tune on this data (same method; its network is used; a
        fresh optimiser and step count).
    progress : bool or callable
        True draws a progress bar on stderr; a callable receives every training event.
    config : TrainConfig, dict or YAML path, optional
        Base configuration; explicit arguments override it.
    should_stop : callable, optional
        Polled before each step; True stops cleanly (checkpoint written).
    **method_params
        Parameters of the method (e.g. ``wedge_weight=20`` for dewedge).

    Returns
    -------
    RestorationModel
        The trained model (``model.restore(...)``, ``model.save(path)``).

    Raises
    ------
    InputError
        On bad input (before anything is written).

    Examples
    --------
    >>> import tomorestore
    >>> sim = tomorestore.simulate_tomogram((32, 64, 64), seed=0)  # doctest: +SKIP
    >>> model = tomorestore.train(  # doctest: +SKIP
    ...     "n2n", even=sim.even, odd=sim.odd, steps=200, out="model.ckpt"
    ... )
    >>> volume = tomorestore.restore(model, even=sim.even, odd=sim.odd)  # doctest: +SKIP
    """
    from .io import as_volume
    from .training.engine import train_events
    from .training.events import Finished

    if tilt_angles is not None and tilt_range is not None:
        raise InputError("give tilt_range= or tilt_angles=, not both.")
    resolved = build_config(
        method,
        config=config,
        tilt_range=tilt_range,
        tilt_axis=None if tilt_angles is not None else tilt_axis,
        method_params=method_params,
        steps=steps,
        batch_size=batch_size,
        patch_size=patch_size,
        learning_rate=learning_rate,
        device=device,
        seed=seed,
    )
    axis = tilt_axis or (resolved.wedge.tilt_axis if resolved.wedge is not None else "Y")
    halves = _training_data(input, even, odd, inputs, evens, odds, dataset, tilt_angles, axis)
    mask_array = None if mask is None else as_volume(mask).data
    checkpoint = _output_path(out)
    callback = progress if callable(progress) else None
    bar = None
    if progress is True:
        from .training.progress import TrainProgress

        bar = TrainProgress(desc=f"training {resolved.method}")
    finished = None
    try:
        for event in train_events(
            resolved,
            halves,
            mask=mask_array,
            checkpoint_path=checkpoint,
            resume_from=resume_from,
            should_stop=should_stop,
            init_from=init,
        ):
            if bar is not None:
                bar(event)
            if callback is not None:
                callback(event)
            if isinstance(event, Finished):
                finished = event
    finally:
        if bar is not None:
            bar.close()
    assert finished is not None
    return finished.model


def load_model(path: PathLike) -> RestorationModel:
    """Load a trained model from a checkpoint file.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.ckpt`` file written by :func:`train` or ``tomorestore train``.

    Returns
    -------
    RestorationModel

    Raises
    ------
    CheckpointError
        If the file is missing, corrupt, not a tomorestore checkpoint or from an
        incompatible version.

    Examples
    --------
    >>> model = load_model("model.ckpt")  # doctest: +SKIP
    >>> model.method_name, model.step  # doctest: +SKIP
    ('dewedge', 600)
    """
    return RestorationModel.load(path)


def restore(
    model: RestorationModel | PathLike,
    *,
    input: Any = None,
    even: Any = None,
    odd: Any = None,
    out: PathLike | None = None,
    tile: int | None = None,
    overlap: float = DEFAULT_OVERLAP,
    device: str = "auto",
    progress: bool | Callable[[int, int], None] = True,
    should_stop: Callable[[], bool] | None = None,
    tilt_range: tuple[float, float] | None = None,
    tilt_angles: Any = None,
    tilt_axis: str | None = None,
) -> Volume:
    """Restore a tomogram (or its even/odd halves) with a trained model.

    Parameters
    ----------
    model : RestorationModel or path
        A trained model or its checkpoint file.
    input : array, Volume or path, optional
        One tomogram.
    even, odd : array, Volume or path, optional
        Half tomograms (restored separately and combined, e.g. averaged).
    out : path, optional
        Write the result as float32 MRC (atomically) with the input's voxel size and origin.
        The restoration is then accumulated in the file itself (memory-mapped) and never
        held in memory: use it, with file inputs, for tomograms of any size.
    tile : int, optional
        Largest tile edge in voxels (default 128; lowered on out-of-memory).
    overlap : float
        Fraction of each tile shared with its neighbours, in [0, 1).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda:0"``, ...
    progress : bool or callable
        True draws a progress bar over tiles; a callable gets ``(done, total)``.
    should_stop : callable, optional
        Returns True to cancel (raises :class:`~tomorestore.errors.Cancelled`).
    tilt_range : (float, float), optional
        Tilt range (degrees) of this tomogram when it differs from the training data's:
        dewedge and ei models wedge-filter each tile with it. Default: the model's.
    tilt_angles : path or sequence of float, optional
        Instead of ``tilt_range``: this tomogram's ``.tlt``/``.rawtlt``/``.mdoc`` file (or
        its angles); the range is their minimum and maximum.
    tilt_axis : {"Y", "X"}, optional
        Tilt axis of this tomogram (default: the model's, else Y). Without
        ``tilt_range`` it needs a model trained with a tilt range.

    Returns
    -------
    Volume
        float32 data in the input's intensity units, with the input's voxel size and
        origin (for a bare array: the model's training voxel size, else 1 Å). With ``out``
        the data is the written file, memory-mapped read-only.

    Examples
    --------
    >>> volume = restore("model.ckpt", input="tomo.mrc", out="restored.mrc")  # doctest: +SKIP
    >>> volume.voxel_size  # doctest: +SKIP
    (10.0, 10.0, 10.0)
    """
    from .io import WRITE_SUFFIXES, read_volume
    from .training.progress import tile_progress

    if not isinstance(model, RestorationModel):
        model = load_model(model)
    raw_inputs = [input] if input is not None else [even, odd]
    volumes = _input_volumes(input, even, odd)
    target = _output_path(out, suffixes=tuple(WRITE_SUFFIXES))
    wedge = restore_wedge(
        model, tilt_range=tilt_range, tilt_angles=tilt_angles, tilt_axis=tilt_axis
    )
    first = volumes[0]
    voxel_size = first.voxel_size
    if isinstance(raw_inputs[0], np.ndarray) and model.voxel_size is not None:
        voxel_size = model.voxel_size
    settings: dict[str, Any] = {
        "tile": tile,
        "overlap": overlap,
        "device": device,
        "should_stop": should_stop,
        "wedge": wedge,
    }
    with tile_progress(enabled=progress is True) as bar:
        callback = progress if callable(progress) else bar
        halves = [v.data for v in volumes]
        if target is None:
            data = model.restore(halves, progress=callback, **settings)
            return Volume(data=data, voxel_size=voxel_size, origin=first.origin)
        model.restore_to_file(
            halves, target, voxel_size=voxel_size, origin=first.origin, progress=callback,
            **settings,
        )  # fmt: skip
    written = read_volume(target)
    return Volume(data=written.data, voxel_size=voxel_size, origin=first.origin)


def restore_wedge(
    model: RestorationModel,
    *,
    tilt_range: Any = None,
    tilt_angles: Any = None,
    tilt_axis: str | None = None,
) -> WedgeConfig | None:
    """The tilt range and axis :func:`restore` uses for one tomogram (None: the model's).

    Parameters
    ----------
    model : RestorationModel
        The trained model (its wedge fills in what is not given).
    tilt_range : (float, float), optional
        Tilt range in degrees.
    tilt_angles : path or sequence of float, optional
        Instead of ``tilt_range``: an IMOD ``.tlt``/``.rawtlt`` or SerialEM ``.mdoc`` file,
        or the angles themselves; the range is their minimum and maximum.
    tilt_axis : {"Y", "X"}, optional
        Default: the model's, else Y.

    Returns
    -------
    WedgeConfig or None
        None when nothing is given (the model's own wedge applies).

    Raises
    ------
    InputError
        Both ``tilt_range`` and ``tilt_angles``; a bad range or angle file; a tilt axis
        alone for a model trained without a tilt range.
    """
    if tilt_angles is not None:
        from .io import read_tilt_angles, tilt_range_from_angles

        if tilt_range is not None:
            raise InputError("give tilt_range= or tilt_angles=, not both.")
        if isinstance(tilt_angles, (str, os.PathLike)):
            tilt_range = tilt_range_from_angles(read_tilt_angles(tilt_angles), source=tilt_angles)
        else:
            tilt_range = tilt_range_from_angles(tilt_angles)
    if tilt_range is None and tilt_axis is None:
        return None
    stored = model.config.wedge
    if tilt_range is None:
        if stored is None:
            raise InputError(
                f"a tilt axis was given without a tilt range and the {model.method_name} "
                "model has none: give the range too, e.g. --tilt-range -60 60 --tilt-axis X "
                "(tilt_range=(-60, 60), tilt_axis='X')."
            )
        tilt_range = (stored.tilt_min, stored.tilt_max)
    axis = tilt_axis or (stored.tilt_axis if stored is not None else "Y")
    return make_wedge(tilt_range, str(axis).upper())
