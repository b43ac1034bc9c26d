"""Equivariant imaging (EI / robust EI) for one tomogram or even/odd halves."""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from ..data.normalization import Normalization
from ..errors import InputError
from ..models.staged import StagedUNet, find_staged, routed
from ..physics import MissingWedge, cube_rotations
from .augment import random_swap, random_wedge_preserving_flips
from .base import Method, validation_generator
from .dewedge import Dewedge
from .ei_staged import WedgeFromFiller, make_denoised_pair, stage_position, switch_step
from .losses import fourier_filter, fourier_weighted_mse
from .masking import blind_spot_inputs, blind_spot_loss
from .n2n import MAX_ROW_CORRELATION, N2N, row_noise_correlation
from .n2v import N2V
from .params import EIParams, N2NParams
from .registry import register_method
from .rotation_draws import draw_cube_indices, rotate_by_cube


@functools.lru_cache(maxsize=16)
def wedge_moving_rotations(wedge: MissingWedge, kind: str = "cube") -> tuple[int, ...]:
    """Indices of :func:`tomorestore.physics.cube_rotations` whose rotated mask differs.

    Parameters
    ----------
    wedge : MissingWedge
        The tilt range.
    kind : {"cube", "y90"}
        ``"cube"``: every cube rotation with ``M(A k) ≠ M(k)``; ``"y90"``: only the quarter
        turns about Y.

    Returns
    -------
    tuple of int
        Rotation indices; rotations that keep the wedge (identity, half turns for a
        symmetric range) teach nothing and are left out.
    """
    mats = cube_rotations()
    size = (16, 16, 16)
    base = wedge.mask(size)
    moving = []
    for index, a in enumerate(mats):
        if kind == "y90" and not (a[1, 1] == 1 and a[0, 0] == 0):
            continue
        if not torch.equal(wedge.mask(size, rotation=a), base):
            moving.append(index)
    return tuple(moving)


def _param(params: Any, name: str) -> Any:
    """``params.name``, or the field's default when ``params`` is None."""
    return getattr(params, name, EIParams.model_fields[name].default)


#: Steps and denoising share of ``denoise_first`` with the n2n denoiser at its own settings
#: (one tomogram): 600 n2n steps, then 300 of the filler. Measured (docs/quality.md,
#: session 13; r w/o Z profile / in-wedge w/o line / measured): sparse 0.793 / 0.676 /
#: 0.854, dense 0.523 / 0.049 / 0.762, against the n2v denoiser's 200 + 300 (0.734 /
#: 0.425 / 0.837 and 0.427 / 0.020 / 0.671).
OWN_DENOISER_STEPS = 900
OWN_DENOISE_FRACTION = 2 / 3
#: ... and with the shared settings (the n2v denoiser, or n2n on halves): 200 + 300.
SHARED_DENOISE_FRACTION = 0.4
#: Share of the filler's wedge prediction that restoring adds on one tomogram
#: (``wedge_share`` None; on even/odd halves all of it, as measured before the share).
#: Measured on one tomogram (docs/quality.md, session 14; mean of 4 dense and 3 sparse
#: runs, r w/o Z profile / in-wedge w/o line): share 1: dense 0.543 / 0.104, sparse
#: 0.793 / 0.607; 0.75: dense 0.553 / 0.116, sparse 0.792 / 0.600; 0.5: dense 0.560 /
#: 0.132, sparse 0.785 / 0.575.
WEDGE_SHARE = 0.75
#: Largest edge of the central crop whose rows are checked before choosing the denoiser.
ROW_CHECK_EDGE = 64


def central_rows_correlation(volume: Any) -> float:
    """The largest noise correlation between neighbouring rows along Y of a central crop.

    Parameters
    ----------
    volume : array-like
        ``(Z, Y, X)`` in the methods' frame; at most a ``ROW_CHECK_EDGE``-cube is read.

    Returns
    -------
    float
        :func:`~tomorestore.methods.n2n.row_noise_correlation` of the crop; 1.0 for a
        volume too thin to measure (under 4 voxels on an axis).
    """
    shape = tuple(int(n) for n in volume.shape)
    if min(shape) < 4:
        return 1.0
    start = [(n - min(n, ROW_CHECK_EDGE)) // 2 for n in shape]
    crop = tuple(slice(a, a + min(n, ROW_CHECK_EDGE)) for a, n in zip(start, shape, strict=True))
    data = torch.from_numpy(np.array(volume[crop], dtype=np.float32))
    worst, _ = row_noise_correlation(data[None, None])
    return worst


@register_method
class EI(Method):
    """Equivariant imaging: the restoration must commute with rotations that move the wedge.

    With ``x̂ = f(y)`` (no gradient through ``x̂``) and a cube rotation ``T`` that moves the
    missing wedge, the equivariance term is ``‖T x̂ − f(A T x̂ + n)‖²`` where ``A`` is the
    wedge filter and ``n`` a noise estimate in the data's own orientation (robust EI): the
    half difference ``(v⁰ − v¹)/√2`` for even/odd data, the residual ``y − x̂`` for one
    tomogram. The data term anchors the measured region: Noise2Noise restricted to the
    measured frequencies (halves) or the blind-spot loss (one tomogram). Measurement
    consistency alone would collapse to the wedge-filtered input.

    That is the ``joint`` order. The default ``denoise_first`` order (IsoNet's,
    :mod:`.ei_staged`) trains a denoiser first (on one tomogram n2n on its even and odd
    rows along the tilt axis, at n2n's own settings, when their noise is independent, else
    n2v's blind spot; n2n on halves), denoises the data once and standardises the result,
    then trains a second, residual network to fill the wedge of the denoised volume as
    dewedge does with a pair of halves (the denoised volume as both); restoring runs both
    networks (:class:`~tomorestore.models.StagedUNet`) and keeps the denoiser's measured
    frequencies, the filler's wedge (``keep_measured``).
    """

    name: ClassVar[str] = "ei"
    title: ClassVar[str] = "equivariant imaging, denoises and fills the wedge"
    params_type: ClassVar[type[EIParams]] = EIParams
    accepts_single: ClassVar[bool] = True
    needs_wedge: ClassVar[bool] = True
    # denoise_first with the shared settings: 200 denoising steps (n2v's default budget),
    # then 300 of wedge filling; the own n2n denoiser of one tomogram: 900 (steps_default)
    default_steps: ClassVar[int] = 500
    default_batch_size: ClassVar[int] = 4
    default_patch_size: ClassVar[int] = 48
    default_learning_rate: ClassVar[float] = 2e-3

    params: EIParams

    def __init__(self, params: Any = None, wedge: MissingWedge | None = None) -> None:
        super().__init__(params, wedge)
        self.total_steps = self.steps_default(self.params)
        #: The patch the run trains on (``crop_size``'s argument); the denoiser's crops.
        self.patch_size: int | None = None
        #: True once the data are the denoised pair the filler trains on.
        self.paired = False
        self._denoisers = {"n2v": N2V(self.params.blind_spot), "n2n": N2N(N2NParams())}
        self._filler = Dewedge(self.params.filling, self.wedge)

    @classmethod
    def network_defaults(cls, params: Any = None) -> dict[str, Any]:
        """``denoise_first``: a two-stage network, its denoiser with N2V2's layout."""
        if _param(params, "order") != "denoise_first":
            return super().network_defaults(params)
        if cls._own_n2n_denoiser(params):
            return {"n2v2": False, "norm": N2N.network_norm, "filler_norm": cls.network_norm,
                    "stages": 2}  # fmt: skip
        return {"n2v2": True, "norm": cls.network_norm, "stages": 2}

    @staticmethod
    def _own_n2n_denoiser(params: Any) -> bool:
        """Whether the n2n denoiser trains with n2n's own network and learning rate."""
        own = _param(params, "denoiser_settings") == "own"
        return own and _param(params, "data_term") == "n2n"

    @classmethod
    def denoise_fraction(cls, params: Any) -> float:
        """The denoiser's share of the steps: the parameter, else 2/3 for the own n2n
        denoiser and 0.4 for the others."""
        given = _param(params, "denoise_fraction")
        if given is not None:
            return float(given)
        return OWN_DENOISE_FRACTION if cls._own_n2n_denoiser(params) else SHARED_DENOISE_FRACTION

    @classmethod
    def steps_default(cls, params: Any = None) -> int:
        """900 steps (600 + 300) with the own n2n denoiser, else ``default_steps``."""
        staged = _param(params, "order") == "denoise_first"
        return OWN_DENOISER_STEPS if staged and cls._own_n2n_denoiser(params) else cls.default_steps

    @classmethod
    def params_for_data(cls, params: Any, volumes: Sequence[Any]) -> tuple[Any, str | None]:
        """``denoise_first``: choose the denoiser and its settings for the data.

        ``data_term='auto'`` on one tomogram becomes ``'n2n'`` (the even and odd rows
        along the tilt axis) when its neighbouring rows have independent noise
        (:data:`~tomorestore.methods.n2n.MAX_ROW_CORRELATION`), else ``'n2v'``;
        ``denoiser_settings='auto'`` becomes ``'own'`` for that n2n denoiser and
        ``'shared'`` otherwise; a None ``denoise_fraction`` becomes its value, a None
        ``wedge_share`` :data:`WEDGE_SHARE` on one tomogram and 1 on halves. The
        checkpoint keeps the choices.
        """
        params = params if isinstance(params, EIParams) else EIParams.model_validate(params or {})
        if params.order != "denoise_first":
            return params, None
        updates: dict[str, Any] = {}
        note = None
        if params.data_term == "auto" and len(volumes) == 1:
            worst = central_rows_correlation(volumes[0])
            independent = worst <= MAX_ROW_CORRELATION
            updates["data_term"] = "n2n" if independent else "n2v"
            note = (
                f"ei denoises with n2n on the even and odd rows along the tilt axis (their "
                f"noise correlation {worst:.2f})"
                if independent
                else f"ei denoises with n2v's blind spot: neighbouring rows along the tilt "
                f"axis share noise (correlation {worst:.2f} > {MAX_ROW_CORRELATION}), so "
                f"they cannot be split into two halves"
            )
        if params.denoiser_settings == "auto":
            single_n2n = len(volumes) == 1 and updates.get("data_term", params.data_term) == "n2n"
            updates["denoiser_settings"] = "own" if single_n2n else "shared"
        if params.wedge_share is None:  # measured on one tomogram; halves keep all of it
            updates["wedge_share"] = WEDGE_SHARE if len(volumes) == 1 else 1.0
        params = params.model_copy(update=updates)
        if params.denoise_fraction is None:
            params = params.model_copy(update={"denoise_fraction": cls.denoise_fraction(params)})
        return params, note

    def stage_learning_rate(self, step: int) -> tuple[float, str] | None:
        """``denoiser_settings='own'`` with the n2n denoiser: n2n's rate and schedule for
        the denoising stage (the filler keeps the run's)."""
        if self.staged and self._own_n2n_denoiser(self.params) and step <= self.switch_step:
            return N2N.default_learning_rate, N2N.default_schedule
        return None

    @property
    def staged(self) -> bool:
        """Whether the run trains in the ``denoise_first`` order."""
        return self.params.order == "denoise_first"

    @property
    def switch_step(self) -> int:
        """The last step of the denoising stage (``denoise_first``)."""
        return switch_step(self.total_steps, self.denoise_fraction(self.params))

    def prepare(self, model: Any, sampler: Any, *, start_step: int, total_steps: int,
                device: Any) -> None:  # fmt: skip
        """Remember the run's length; a run resumed after the switch re-makes the pair."""
        self.total_steps = int(total_steps)
        if self.staged and start_step >= self.switch_step:
            self._make_pair(model, sampler, device=device)

    def crop_size(self, patch_size: int) -> int:
        """``denoise_first``: the filler's crops (larger for its resampled rotations; the
        denoiser trains on patch-sized crops of them)."""
        self.patch_size = int(patch_size)
        return self._filler.crop_size(patch_size) if self.staged else super().crop_size(patch_size)

    @property
    def denoiser_patch_size(self) -> int | None:
        """The denoiser's patch: the run's, at most n2n's own (32) for the own n2n
        denoiser (n2n's settings; 3.4 times fewer voxels per step than 48³)."""
        if self.patch_size is None or not self._own_n2n_denoiser(self.params):
            return self.patch_size
        return min(self.patch_size, N2N.default_patch_size)

    def _denoiser_batch(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Crops of the denoiser's patch size, at one random offset, of the run's crops (the
        filler's, larger for its resampled rotations; the own n2n denoiser's patch is
        n2n's)."""
        size = self.denoiser_patch_size
        if size is None or batch.shape[-1] <= size:
            return batch
        room = batch.shape[-1] - size + 1
        z, y, x = torch.randint(room, (3,), generator=generator, device=generator.device).tolist()
        return batch[..., z : z + size, y : y + size, x : x + size]

    def schedule_position(self, step: int, total_steps: int) -> tuple[int, int]:
        """``denoise_first``: each stage has its own learning-rate schedule."""
        if not self.staged:
            return step, total_steps
        return stage_position(step, total_steps, self.switch_step)

    def predict_input(self, x: torch.Tensor) -> torch.Tensor:
        """``denoise_first``: the identity (the raw tile is denoised, then filled)."""
        return x if self.staged else super().predict_input(x)

    def restoring_network(self, network: torch.nn.Module) -> torch.nn.Module:
        """``denoise_first`` with ``keep_measured``, once the filler trained: the denoiser's
        measured frequencies, ``wedge_share`` of the filler's wedge
        (:class:`.ei_staged.WedgeFromFiller`; all of it for models trained before the
        share existed)."""
        staged = find_staged(network) if self.staged else None
        if staged is None or not staged.filler_trained or not self.params.keep_measured:
            return network
        share = 1.0 if self.params.wedge_share is None else self.params.wedge_share
        return WedgeFromFiller(network, staged, self.wedge, share=share)

    def _network(self, model: torch.nn.Module) -> StagedUNet:
        network = find_staged(model)
        if network is None:
            raise InputError(
                "ei's denoise_first order needs its two-stage network (network.stages: 2, "
                "the default); remove the network settings, set stages: 2, or choose "
                "order='joint' (--order joint) for a single U-Net."
            )
        return network

    @contextlib.contextmanager
    def _current_stage(self, model: torch.nn.Module, n_halves: int) -> Iterator[Method]:
        """The method of the stage being trained, with ``model`` routed to its network."""
        if self.paired:
            with routed(self._network(model), "filler"):
                yield self._filler
        else:
            with routed(self._network(model), "denoiser"):
                yield self._denoisers[self.data_mode(n_halves)]

    def _make_pair(self, model: Any, sampler: Any, *, device: Any) -> None:
        network = self._network(model)
        # one standardisation for the network: the first tomogram's (or the resumed run's)
        stats = None
        if network.filler_trained:
            mean, std = network.pair_mean_std
            stats = Normalization(mean=mean, std=std)
        with routed(network, "denoiser"):
            stats = make_denoised_pair(model, sampler, device=device, stats=stats)
        network.start_filler(stats.mean, stats.std)
        self.paired = True

    def stage_ends(self, step: int) -> bool:
        """``denoise_first``: the denoiser's last step (the switch), before the pair is made."""
        return self.staged and not self.paired and step == self.switch_step

    def refresh(self, model: torch.nn.Module, sampler: Any, *, step: int, device: Any) -> bool:
        """``denoise_first``: at the switch, denoise the data into the filler's pair; then
        the filler's own wedge refill (on the pair), counted in its stage's steps."""
        if not self.staged:
            return False
        if not self.paired:
            if step < self.switch_step:
                return False
            self._make_pair(model, sampler, device=device)
            return True
        with routed(self._network(model), "filler"):
            return self._filler.refresh(model, sampler, step=step - self.switch_step, device=device)

    def validation_loss(self, model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
        """``denoise_first``: the current stage's validation loss."""
        if not self.staged:
            return super().validation_loss(model, batch)
        if not self.paired:
            batch = self._denoiser_batch(batch, validation_generator())
        with self._current_stage(model, batch.shape[1]) as method:
            return method.validation_loss(model, batch)

    def data_mode(self, n_halves: int) -> str:
        """The data term used for ``n_halves`` inputs: ``"n2n"`` or ``"n2v"``."""
        mode = self.params.data_term
        if mode == "auto":
            return "n2n" if n_halves == 2 else "n2v"
        if mode == "n2n" and n_halves != 2 and not self.staged:
            raise InputError(
                "EI's joint order with data_term='n2n' needs even and odd halves; give even= "
                "and odd=, use data_term='n2v' (or 'auto'), or the denoise_first order (its "
                "n2n denoiser trains on the even and odd rows along the tilt axis)."
            )
        return mode

    @classmethod
    def splits_rows(cls, params: EIParams, n_halves: int) -> bool:
        """``denoise_first`` on one tomogram with ``data_term='n2n'``: the denoiser trains
        on the even and odd rows along the tilt axis."""
        single_n2n = n_halves == 1 and params.data_term == "n2n"
        return single_n2n and params.order == "denoise_first"

    def training_loss(
        self, model: torch.nn.Module, batch: torch.Tensor, *, generator: torch.Generator
    ) -> torch.Tensor:
        """Data term plus ``ei_weight`` times the equivariance term (``joint``), or the
        current stage's loss (``denoise_first``)."""
        if self.staged:
            if not self.paired:
                batch = self._denoiser_batch(batch, generator)
            with self._current_stage(model, batch.shape[1]) as method:
                return method.training_loss(model, batch, generator=generator)
        batch = batch.float()
        size = batch.shape[-1]
        mask = self.wedge.mask((size,) * 3, device=batch.device, rfft=True)
        filtered = self.params.wedge_filter_input
        if self.data_mode(batch.shape[1]) == "n2n":
            pairs = random_swap(batch, generator=generator)
            pairs = random_wedge_preserving_flips(pairs, generator=generator)
            inputs = fourier_filter(pairs[:, :1], mask) if filtered else pairs[:, :1]
            prediction = model(inputs).float()
            data = fourier_weighted_mse(prediction[:, 0] - pairs[:, 1], mask)
            noise = (pairs[:, :1] - pairs[:, 1:]) / math.sqrt(2.0)
        else:
            # the struct mask as ei's own blind-spot denoiser measures it (struct_shape auto)
            offsets = self._denoisers["n2v"].measured_struct_offsets(batch)
            patches = random_wedge_preserving_flips(batch[:, :1], generator=generator)[:, 0]
            masked, coords = blind_spot_inputs(
                patches, self.params.blind_spot, generator=generator, struct_offsets=offsets
            )
            inputs = masked.unsqueeze(1)
            prediction = model(fourier_filter(inputs, mask) if filtered else inputs).float()
            # the target keeps the measured frequencies only: back-projection leaves
            # artefacts in the wedge that the network must not learn to reproduce
            target = fourier_filter(patches, mask) if filtered else patches
            data = blind_spot_loss(prediction[:, 0], target, coords)
            noise = patches.unsqueeze(1) - prediction.detach()
        if filtered:
            noise = fourier_filter(noise, mask)
        estimate = prediction.detach()
        indices = draw_cube_indices(
            estimate.shape[0],
            generator=generator,
            choices=list(wedge_moving_rotations(self.wedge, self.params.rotations)),
        )
        target, _ = rotate_by_cube(estimate, indices)
        ei_input = fourier_filter(target, mask)
        if self.params.renoise:
            ei_input = ei_input + noise
        weight = mask + self.params.wedge_weight * (1.0 - mask)
        equivariance = fourier_weighted_mse(target[:, 0] - model(ei_input)[:, 0], weight)
        return data + self.params.ei_weight * equivariance
