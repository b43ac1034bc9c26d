"""Synthetic cryo-electron tomograms with known ground truth.

:func:`simulate_tomogram` draws a cellular lamella phantom (vesicles with bilayer
membranes, microtubules, actin-like filaments, crowded macromolecular complexes), projects
it over a tilt series (tilt axis Y, the handedness of ``docs/architecture.md``) and
reconstructs the noise-free ("wedge only"), the even and odd half-dose, and the full-dose
tomograms by weighted back-projection. :func:`write_simulation` saves them as MRC files.
``sample="sparse"`` draws isolated objects in vitreous ice instead of the lamella (no
slab, no Z profile).

This package imports numpy and scipy only; torch is imported inside the projector.
"""

from __future__ import annotations

from .tomogram import SAMPLES, SimulatedTomogram, simulate_tomogram, tilt_series, write_simulation

__all__ = ["SAMPLES", "SimulatedTomogram", "simulate_tomogram", "tilt_series", "write_simulation"]
