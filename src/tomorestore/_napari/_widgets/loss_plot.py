"""A small live loss plot (training and validation loss against step), painted with QPainter.

napari ships no plot widget; a painter keeps the plugin free of a plotting dependency and
redraws cheaply at every step. The y axis is logarithmic when all values are positive.
"""

from __future__ import annotations

import math

from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from qtpy.QtWidgets import QSizePolicy, QWidget

TRAIN_COLOR = QColor(90, 160, 255)
VALIDATION_COLOR = QColor(255, 150, 60)
AXIS_COLOR = QColor(160, 160, 160)


class LossPlot(QWidget):
    """Training loss (line) and validation loss (line with dots) against the step.

    Attributes
    ----------
    train : list of (int, float)
        The training losses received, ``(step, loss)``.
    validation : list of (int, float)
        The validation losses received, ``(step, val_loss)``.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.train: list[tuple[int, float]] = []
        self.validation: list[tuple[int, float]] = []
        self.total_steps: int | None = None
        self.setMinimumHeight(140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setToolTip("Training loss (blue) and validation loss (orange) against the step.")

    def clear(self, total_steps: int | None = None) -> None:
        """Forget all points; ``total_steps`` fixes the x range (None: follow the data)."""
        self.train.clear()
        self.validation.clear()
        self.total_steps = total_steps
        self.update()

    def add_loss(self, step: int, loss: float) -> None:
        """Append a training loss (non-finite values are skipped)."""
        if math.isfinite(loss):
            self.train.append((int(step), float(loss)))
            self.update()

    def add_validation(self, step: int, loss: float) -> None:
        """Append a validation loss (non-finite values are skipped)."""
        if math.isfinite(loss):
            self.validation.append((int(step), float(loss)))
            self.update()

    # -- painting -------------------------------------------------------------------------

    def _ranges(self) -> tuple[float, float, float, float, bool]:
        points = self.train + self.validation
        x_max = float(max(self.total_steps or 0, max(p[0] for p in points), 1))
        values = [p[1] for p in points]
        log = min(values) > 0
        if log:
            values = [math.log10(v) for v in values]
        y_min, y_max = min(values), max(values)
        if y_max - y_min < 1e-12:
            y_min, y_max = y_min - 0.5, y_max + 0.5
        pad = 0.05 * (y_max - y_min)
        return 0.0, x_max, y_min - pad, y_max + pad, log

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = QFont(painter.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        painter.setFont(font)
        metrics = painter.fontMetrics()
        left, bottom = metrics.horizontalAdvance("0.000e-00") + 6, metrics.height() + 6
        plot = QRectF(left, 6, self.width() - left - 8, self.height() - bottom - 6)
        painter.setPen(QPen(AXIS_COLOR, 1))
        painter.drawRect(plot)
        if not (self.train or self.validation):
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "loss curve appears here")
            painter.end()
            return
        x0, x1, y0, y1, log = self._ranges()

        def to_point(step: float, value: float) -> QPointF:
            v = math.log10(value) if log else value
            px = plot.left() + (step - x0) / (x1 - x0) * plot.width()
            py = plot.bottom() - (v - y0) / (y1 - y0) * plot.height()
            return QPointF(px, py)

        for series, color, dots in (
            (self.train, TRAIN_COLOR, False),
            (self.validation, VALIDATION_COLOR, True),
        ):
            if not series:
                continue
            path = QPainterPath(to_point(*series[0]))
            for step, value in series[1:]:
                path.lineTo(to_point(step, value))
            painter.setPen(QPen(color, 1.5))
            painter.drawPath(path)
            if dots or len(series) == 1:
                painter.setBrush(color)
                for step, value in series:
                    painter.drawEllipse(to_point(step, value), 2.5, 2.5)
                painter.setBrush(Qt.BrushStyle.NoBrush)

        def label(v: float) -> str:
            return f"{10**v:.3g}" if log else f"{v:.3g}"

        painter.setPen(AXIS_COLOR)
        painter.drawText(QPointF(2, plot.top() + metrics.ascent()), label(y1))
        painter.drawText(QPointF(2, plot.bottom()), label(y0))
        painter.drawText(QPointF(plot.left(), self.height() - 3), "0")
        end = f"step {int(x1)}"
        painter.drawText(
            QPointF(plot.right() - metrics.horizontalAdvance(end), self.height() - 3), end
        )
        legend = "train" + ("  ● validation" if self.validation else "")
        painter.drawText(
            QPointF(
                plot.left() + (plot.width() - metrics.horizontalAdvance(legend)) / 2,
                self.height() - 3,
            ),
            legend,
        )
        painter.end()
