"""napari sample data: a small synthetic tomogram with even/odd halves and ground truth."""

from __future__ import annotations

from typing import Any

SAMPLE_SHAPE = (48, 96, 96)

LayerData = tuple[Any, dict[str, Any], str]


def make_synthetic_tomogram() -> list[LayerData]:
    """Simulate a small tomogram (``seed=0``) as four image layers.

    Returns
    -------
    list of LayerData
        ``synthetic full``, ``synthetic even``, ``synthetic odd`` and
        ``synthetic ground truth``, each with the simulated voxel size as scale (Å).
    """
    from ..simulate import simulate_tomogram

    sim = simulate_tomogram(shape=SAMPLE_SHAPE, seed=0)
    layers = [("full", sim.full), ("even", sim.even), ("odd", sim.odd)]
    layers.append(("ground truth", sim.ground_truth))
    return [
        (
            data,
            {
                "name": f"synthetic {label}",
                "scale": tuple(sim.voxel_size),
                "units": ("angstrom",) * 3,
                "metadata": {"voxel_size": tuple(sim.voxel_size), "tilt_range": sim.tilt_range},
                "visible": label == "full",
            },
            "image",
        )
        for label, data in layers
    ]
