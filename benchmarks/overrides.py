"""``METHOD.PARAM=VALUE`` command-line overrides for the benchmark scripts."""

from __future__ import annotations

import json
from typing import Any


def overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["dewedge.rotations=so3"]`` -> ``{"dewedge": {"rotations": "so3"}}``.

    Each value is read as JSON (numbers, booleans, quoted strings, objects for nested
    parameters such as ``ei.filling={"rotations": "z"}``), else kept as the text.
    """
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, _, text = item.partition("=")
        method, _, param = key.partition(".")
        if not method or not param or not _:
            raise SystemExit(f"expected METHOD.PARAM=VALUE, got {item!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        out.setdefault(method, {})[param] = value
    return out
