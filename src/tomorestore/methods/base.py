"""The interface every self-supervised method implements.

The training engine owns the loop (optimiser, autocast, checkpoints, events); a method only
says how to turn a batch of sub-tomograms into a loss, how large the crops must be, what
to do between steps (wedge refill) and how to restore at the end.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel

from ..errors import InputError
from .registry import METHODS

if TYPE_CHECKING:
    import torch

    from ..physics import MissingWedge

VALIDATION_SEED = 20240611
"""Seed of the fixed masks, rotations and swaps used by every ``validation_loss``."""


def validation_generator() -> torch.Generator:
    """A CPU generator with the fixed validation seed (validation losses are deterministic)."""
    import torch

    return torch.Generator().manual_seed(VALIDATION_SEED)


class Method(abc.ABC):
    """A self-supervised restoration method.

    Class attributes describe the method's needs and its default budget (tuned so that a
    64 x 128 x 128 tomogram gives a good result within 10 minutes on a 2-core CPU with the
    default CPU network).

    Parameters
    ----------
    params : pydantic.BaseModel, optional
        The method's parameter model (``params_type``); defaults when omitted.
    wedge : MissingWedge, optional
        The missing wedge of the data; required when ``needs_wedge``.
    """

    name: ClassVar[str]
    #: One line for menus and ``--help`` (what the method does).
    title: ClassVar[str]
    params_type: ClassVar[type[BaseModel]]
    #: True: works on one tomogram (every method also accepts even/odd halves).
    accepts_single: ClassVar[bool]
    needs_wedge: ClassVar[bool]
    default_steps: ClassVar[int]
    default_batch_size: ClassVar[int]
    default_patch_size: ClassVar[int]
    default_learning_rate: ClassVar[float]
    #: Learning-rate schedule after the warm-up: ``"cosine"`` decay or ``"constant"``.
    default_schedule: ClassVar[str] = "cosine"
    n2v2_network: ClassVar[bool] = False
    #: Normalisation of the method's default network (see ``NetworkConfig.norm``).
    network_norm: ClassVar[str] = "instance"

    @classmethod
    def network_defaults(cls, params: Any = None) -> dict[str, Any]:
        """``NetworkConfig`` fields of the method's default network for ``params``.

        ``n2v2`` and ``norm`` from the class attributes; a method whose network depends on
        its parameters (``ei``'s two-stage order) adds to them.
        """
        return {"n2v2": cls.n2v2_network, "norm": cls.network_norm}

    @classmethod
    def params_for_data(cls, params: Any, volumes: Sequence[Any]) -> tuple[Any, str | None]:
        """``params`` with the choices that depend on the data made; default: unchanged.

        Called by the training engine before it sizes the network, for a new run (not a
        resumed or fine-tuned one, whose settings are the checkpoint's).

        Parameters
        ----------
        params : MethodParams
            The run's parameters.
        volumes : sequence of array-like
            The first tomogram (one volume) or its even and odd halves, ``(Z, Y, X)`` in
            the methods' frame (tilt axis Y), not normalised.

        Returns
        -------
        params : MethodParams
            The parameters to train with.
        note : str or None
            What was chosen and why, for the run's notes (None when nothing was).
        """
        return params, None

    @classmethod
    def steps_default(cls, params: Any = None) -> int:
        """The training steps for ``params`` when the user gives none (``default_steps``
        unless the method's budget depends on its parameters)."""
        return cls.default_steps

    @classmethod
    def splits_rows(cls, params: Any, n_halves: int) -> bool:
        """Whether the network trains on the even and odd rows along the tilt axis
        (``NetworkConfig.tilt_axis_split``, set by the training engine). None by default."""
        return False

    def __init__(self, params: Any = None, wedge: MissingWedge | None = None) -> None:
        if params is None:
            params = self.params_type()
        elif isinstance(params, dict):
            params = self.params_type(**params)
        if not isinstance(params, self.params_type):
            raise InputError(
                f"Method {self.name!r} takes {self.params_type.__name__}, got "
                f"{type(params).__name__}; pass {self.params_type.__name__}(...) or a dict."
            )
        if self.needs_wedge and wedge is None:
            raise InputError(
                f"Method {self.name!r} needs the tilt range of the data; give tilt_range="
                "(tilt_min, tilt_max) in degrees (e.g. (-60, 60))."
            )
        self.params = params
        self.wedge = wedge

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r}, wedge={self.wedge!r})"

    @classmethod
    def data_needs(cls) -> str:
        """What the method needs, for labels: ``"one tomogram"``, ``"even/odd + tilt range"``."""
        data = "one tomogram or even/odd" if cls.accepts_single else "even/odd"
        return f"{data} + tilt range" if cls.needs_wedge else data

    @classmethod
    def label(cls) -> str:
        """``"name: title (data needs)"`` for menus and command-line help."""
        return f"{cls.name}: {cls.title} ({cls.data_needs()})"

    @classmethod
    def input_problem(
        cls, *, n_halves: int, has_wedge: bool, advice: Mapping[str, str] | None = None
    ) -> str | None:
        """Why the method cannot train on this input (None when it can).

        Parameters
        ----------
        n_halves : int
            1 (one tomogram) or 2 (even/odd halves).
        has_wedge : bool
            Whether a tilt range is known.
        advice : mapping, optional
            The caller's words for what to do, by problem: ``"halves"`` (give even/odd
            halves) and ``"wedge"`` (give the tilt range); the command line, Python and
            napari each say where.

        Returns
        -------
        str or None
            A sentence naming what is missing, followed by ``": " + advice`` when given.
        """
        advice = advice or {}
        if n_halves not in (1, 2):
            return f"give one tomogram or two halves (even, odd), got {n_halves}"
        if n_halves == 1 and not cls.accepts_single:
            singles = ", ".join(name for name, other in METHODS.items() if other.accepts_single)
            problem = (
                f"{cls.name} needs even/odd half tomograms (single-tomogram methods: {singles})"
            )
            return f"{problem}: {advice['halves']}" if "halves" in advice else problem
        if cls.needs_wedge and not has_wedge:
            problem = f"{cls.name} needs the tilt range of the tilt series"
            return f"{problem}: {advice['wedge']}" if "wedge" in advice else problem
        return None

    def crop_size(self, patch_size: int) -> int:
        """Edge of the crops the sampler must cut for training patches of ``patch_size``."""
        return int(patch_size)

    @abc.abstractmethod
    def training_loss(
        self, model: torch.nn.Module, batch: torch.Tensor, *, generator: torch.Generator
    ) -> torch.Tensor:
        """Loss of one training batch.

        Parameters
        ----------
        model : torch.nn.Module
            Maps ``(B, 1, s, s, s)`` to the same shape.
        batch : torch.Tensor
            ``(B, H, c, c, c)`` normalised float32 crops on the training device; ``H`` is 1
            (one tomogram) or 2 (even, odd); ``c = crop_size(patch_size)``.
        generator : torch.Generator
            Source of all randomness (masks, rotations, swaps).

        Returns
        -------
        torch.Tensor
            Scalar float32 loss with a gradient.
        """

    def validation_loss(self, model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
        """Deterministic loss of a validation batch (fixed seed for every random choice)."""
        import torch

        with torch.no_grad():
            return self.training_loss(model, batch, generator=validation_generator()).detach()

    def prepare(  # noqa: B027 - an optional hook
        self, model: Any, sampler: Any, *, start_step: int, total_steps: int, device: Any
    ) -> None:
        """Hook called by the engine before the first step of a run (or of a resumed one).

        ``model`` is the network as :meth:`training_loss` sees it, ``sampler`` the
        tomogram's :class:`~tomorestore.data.PatchSampler`; default: nothing.
        """

    def schedule_position(self, step: int, total_steps: int) -> tuple[int, int]:
        """``(step, total)`` the learning-rate schedule sees for ``step`` (1-based).

        Default: the run's own. A method that trains in stages may restart the schedule
        (warm-up, then decay) for each.
        """
        return step, total_steps

    def stage_learning_rate(self, step: int) -> tuple[float, str] | None:
        """``(peak, schedule)`` of ``step``'s stage when it is not the run's (default:
        None, the run's ``learning_rate`` and ``schedule``)."""
        return None

    def stage_ends(self, step: int) -> bool:
        """Whether ``step`` is the last of a training stage (default: never).

        With keep_best, the engine validates there and continues from the stage's best
        validated weights before :meth:`refresh` starts the next stage (ei's denoiser,
        whose output the filler then trains on).
        """
        return False

    def refresh(self, model: torch.nn.Module, sampler: Any, *, step: int, device: Any) -> bool:
        """Hook called by the engine after each optimiser step (default: nothing).

        Returns
        -------
        bool
            True when the hook replaced the training data (dewedge's wedge refill): the
            engine then forgets validation losses measured on the old data.
        """
        return False

    def predict_input(self, x: torch.Tensor) -> torch.Tensor:
        """Transform of each ``(B, 1, t, t, t)`` tile before the network at restore time.

        Wedge-filters the tile (``F⁻¹[M·F x]``, as the training inputs are) when the
        method's parameters have ``wedge_filter_input`` set and a wedge is known; else
        the identity.
        """
        if not getattr(self.params, "wedge_filter_input", False) or self.wedge is None:
            return x
        from .losses import fourier_filter

        mask = self.wedge.mask(tuple(x.shape[-3:]), device=x.device, rfft=True)
        return fourier_filter(x, mask).to(x.dtype)

    def restoring_network(self, network: torch.nn.Module) -> torch.nn.Module:
        """The module each tile runs through at restore time (default: ``network``).

        A method may compose the trained network's parts differently when restoring
        than when training (ei's two stages: see :mod:`.ei_staged`).
        """
        return network

    def combine(self, restored_halves: list[np.ndarray]) -> np.ndarray:
        """Combine the restored inputs (one per half) into the final volume (mean)."""
        if len(restored_halves) == 1:
            return np.asarray(restored_halves[0], dtype=np.float32)
        return np.mean(np.stack(restored_halves), axis=0).astype(np.float32)
