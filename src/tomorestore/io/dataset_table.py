"""Data-set tables: one row per tomogram, in YAML or CSV, for ``tomorestore train --dataset``.

YAML: a list of rows, or a mapping with a ``tomograms`` list::

    tomograms:
      - input: TS_01.mrc
        tilt_range: [-48, 62]
      - even: TS_02_even.mrc
        odd: TS_02_odd.mrc
        tilt_angles: TS_02.tlt

CSV: a header line with the columns ``input`` or ``even``/``odd``, and optionally
``tilt_min``/``tilt_max``, ``tilt_angles`` and ``mask``::

    even,odd,tilt_min,tilt_max
    TS_01_even.mrc,TS_01_odd.mrc,-48,62

Relative paths are taken from the table's folder. Every row gives one tomogram or one
even/odd pair (all rows the same kind), at most one of a tilt range and a tilt-angle file.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError

TABLE_SUFFIXES = (".yaml", ".yml", ".csv")
_KEYS = {"input", "even", "odd", "tilt_range", "tilt_min", "tilt_max", "tilt_angles", "mask"}


@dataclass(frozen=True)
class DatasetRow:
    """One tomogram of a data-set table (paths resolved against the table's folder)."""

    input: Path | None = None
    even: Path | None = None
    odd: Path | None = None
    tilt_range: tuple[float, float] | None = None
    tilt_angles: Path | None = None
    mask: Path | None = None

    @property
    def halves(self) -> list[Path]:
        """``[input]`` or ``[even, odd]``."""
        return [self.input] if self.input is not None else [self.even, self.odd]  # type: ignore[list-item]

    @property
    def name(self) -> str:
        """The file name of the tomogram (the even half's for a pair)."""
        return self.halves[0].name


def read_dataset_table(path: str | os.PathLike[str]) -> list[DatasetRow]:
    """The rows of a data-set table (YAML or CSV), checked.

    Raises
    ------
    InputError
        If the file is missing, not YAML/CSV, empty, has unknown columns, a row without
        ``input`` or ``even``+``odd`` (or with both), a bad tilt range, both a range and a
        tilt-angle file, a mix of single tomograms and pairs, or names a missing file.
    """
    table = Path(path)
    if table.suffix.lower() not in TABLE_SUFFIXES:
        raise InputError(
            f"{table}: a data-set table must be YAML (.yaml, .yml) or CSV (.csv), one row "
            "per tomogram."
        )
    try:
        text = table.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the data-set table {table}: {exc}") from exc
    records = _csv_records(text) if table.suffix.lower() == ".csv" else _yaml_records(text, table)
    if not records:
        raise InputError(f"{table} lists no tomogram; give one row per tomogram.")
    rows = [_row(record, table, index + 1) for index, record in enumerate(records)]
    if len({len(row.halves) for row in rows}) > 1:
        raise InputError(
            f"{table} mixes single tomograms (input) and even/odd pairs: give all rows the "
            "same kind."
        )
    return rows


def _yaml_records(text: str, table: Path) -> list[dict[str, Any]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{table} is not valid YAML: {exc}") from exc
    if isinstance(data, dict) and set(data) == {"tomograms"}:
        data = data["tomograms"]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise InputError(
            f"{table}: expected a list of rows (or 'tomograms:' with a list), each a mapping "
            "such as {input: TS_01.mrc, tilt_range: [-60, 60]}."
        )
    return data


def _csv_records(text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(line for line in text.splitlines() if line.strip())
    return [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]


def _row(record: dict[str, Any], table: Path, number: int) -> DatasetRow:
    where = f"{table}, row {number}"
    values = {key: value for key, value in record.items() if value not in (None, "")}
    unknown = sorted(set(values) - _KEYS)
    if unknown:
        raise InputError(
            f"{where}: unknown column(s) {', '.join(unknown)}; use {', '.join(sorted(_KEYS))}."
        )
    single, pair = "input" in values, "even" in values or "odd" in values
    if single == pair or (pair and not ("even" in values and "odd" in values)):
        raise InputError(f"{where}: give either 'input' or both 'even' and 'odd'.")
    paths = {
        key: _existing(table.parent / str(values[key]), where)
        for key in ("input", "even", "odd", "tilt_angles", "mask")
        if key in values
    }
    tilt_range = _tilt_range(values, where)
    if tilt_range is not None and "tilt_angles" in paths:
        raise InputError(f"{where}: give a tilt range or a tilt-angle file, not both.")
    return DatasetRow(tilt_range=tilt_range, **paths)


def _existing(path: Path, where: str) -> Path:
    if not path.is_file():
        raise InputError(f"{where}: {path} does not exist (paths are relative to the table).")
    return path


def _tilt_range(values: dict[str, Any], where: str) -> tuple[float, float] | None:
    if "tilt_range" in values:
        raw = values["tilt_range"]
        items = raw.replace(",", " ").split() if isinstance(raw, str) else raw
    elif "tilt_min" in values or "tilt_max" in values:
        items = [values.get("tilt_min"), values.get("tilt_max")]
    else:
        return None
    try:
        low, high = (float(v) for v in items)
    except (TypeError, ValueError):
        raise InputError(
            f"{where}: the tilt range must be two numbers MIN MAX in degrees, got {items!r}."
        ) from None
    return low, high
