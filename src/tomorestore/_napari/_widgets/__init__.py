"""tomorestore's napari dock widgets: "Data and wedge", "Train" and "Restore".

They stay thin: the data selection, training and restoration all run in the core
(:mod:`tomorestore.training`, :class:`~tomorestore.training.RestorationModel`), in napari
thread workers. The three widgets of a viewer share one
:class:`~.shared_state.Session` (data choice and current model) and each also works alone.
"""

from __future__ import annotations

from .data_widget import DataWedgeWidget
from .restore_widget import RestoreWidget
from .train_widget import TrainWidget

__all__ = ["DataWedgeWidget", "RestoreWidget", "TrainWidget"]
