"""Merge the JSON parts of ``benchmarks/quality.py`` into docs/quality.md and quality.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from quality_metrics import CASES, FSC_BAND, SINGLE, budget_steps

METHODS = ("n2v", "n2n", "dewedge", "ei", "ei-single", "n2n-single")
#: The parts the issue asks for: every method at its default budget on every case, and at
#: 4× the budget on the dense case.
EXPECTED = [(case, m, 1.0) for case in CASES for m in METHODS[:4]] + [
    ("dense", m, 4.0) for m in METHODS[:4]
]
START, END = "<!-- quality-table:start -->", "<!-- quality-table:end -->"


def load_parts(results: Path) -> tuple[dict[str, dict], list[dict]]:
    """Baselines by case, and the method parts (sorted by case, method, budget)."""
    baselines: dict[str, dict] = {}
    parts: list[dict] = []
    for path in sorted(results.glob("quality_*.json")):
        part = json.loads(path.read_text(encoding="utf-8"))
        part["file"] = path.name
        if path.stem.endswith("_baselines"):
            baselines[part["meta"]["case"]] = part
        else:
            parts.append(part)
    order = {name: i for i, name in enumerate(CASES)}
    parts.sort(
        key=lambda p: (
            order.get(p["meta"]["case"], 99),
            METHODS.index(p["rows"][0]["name"]),
            p["meta"]["budget"],
        )
    )
    return baselines, parts


def expected_steps(part: dict) -> int:
    """The steps of the part's budget under the product's default for its case and device
    (parts written before the rule have no ``device_type``: they ran on the CPU)."""
    meta = part["meta"]
    name = part["rows"][0]["name"]
    return budget_steps(name, meta["shape"], meta["budget"], meta.get("device_type", "cpu"),
                        _trained_params(name, part))  # fmt: skip


def _trained_params(name: str, part: dict) -> Any:
    """The method parameters the part trained with (its checkpoint config), or None."""
    from tomorestore.methods import get_method

    stored = part.get("info", {}).get("config", {}).get("params")
    if stored is None:
        return None
    try:
        return get_method(SINGLE.get(name, name)).params_type.model_validate(stored)
    except ValueError:  # written by a version whose parameters differ
        return None


def short_of_budget(part: dict) -> bool:
    """Whether the part trained for fewer steps than its budget gives (run before the
    benchmark followed the product's data-scaled default, or with ``--train steps=``)."""
    return int(part["rows"][0].get("steps", 0)) < expected_steps(part)


def _fmt(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table, primary columns first."""
    lines = [
        "| volume | **r w/o Z profile** | **in-wedge FC w/o line** | measured FC | Pearson r "
        f"| in-wedge FC (with line) | even/odd FSC=0.143 (1/voxel) | even/odd FSC mean "
        f"{FSC_BAND[0]:g}–{FSC_BAND[1]:g} | steps | time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        time_s = f"{row['time_s']:.0f} s" if row.get("time_s") else "–"
        lines.append(
            f"| {row['label']} | {_fmt(row['structure'])} | {_fmt(row['wedge_noline'])} | "
            f"{_fmt(row['measured'])} | {_fmt(row['pearson'])} | {_fmt(row['wedge'])} | "
            f"{_fmt(row.get('fsc_0143'))} | {_fmt(row.get('fsc_mean'))} | "
            f"{row.get('steps', '–')} | {time_s} |"
        )
    return "\n".join(lines)


def case_section(name: str, base: dict | None, parts: list[dict]) -> str:
    """Header, table and provenance of one case."""
    case = CASES[name]
    meta = (base or parts[0])["meta"]
    shape = " × ".join(map(str, meta["shape"]))
    out = [f"### {name}: {case.describe().replace(' × '.join(map(str, case.shape)), shape)}"]
    if base:
        out.append(f"Z profile: {base['truth_profile_share']:.0%} of the ground truth's variance.")
    rows = [{**row, "label": row["name"]} for row in (base["rows"] if base else [])]
    for part in parts:
        row = part["rows"][0]
        budget = part["meta"]["budget"]
        label = row["name"] + ("" if budget == 1 else f" ({budget:g}× budget)")
        if "fsc_edge" not in part["meta"]:
            label += " †"
        if short_of_budget(part):
            label += f" ‡ (default {expected_steps(part)} steps)"
        rows.append({**row, "label": label})
    out.append(table(rows))
    if any("fsc_edge" not in p["meta"] for p in ([base] if base else []) + parts):
        out.append("† even/odd FSC computed without the soft-edge window (an earlier version).")
    if any(short_of_budget(p) for p in parts):
        out.append(
            "‡ trained for fewer steps than its budget gives now: run before the method's "
            "default grew, or before the benchmark followed the command line's default, which "
            "grows with the voxels (`default_budget`: the steps for a 64 × 128 × 128 "
            "tomogram times the voxels over that, at most 8×)."
        )
    lines = ["Parts (file: command, commit, date, threads):"]
    for part in ([base] if base else []) + parts:
        m = part["meta"]
        lines.append(f"- `{part['file']}`: `{m['command']}`, {m['commit']}, {m['date']}, "
                     f"{m['threads']} threads")  # fmt: skip
    out.append("\n".join(lines))
    return "\n\n".join(out)


def missing(baselines: dict[str, dict], parts: list[dict]) -> list[str]:
    """The expected parts that have no JSON yet."""
    have = {
        (p["meta"]["case"], p["rows"][0]["name"], p["meta"]["budget"])
        for p in parts
        if not short_of_budget(p)
    }
    out = [f"{case} baselines" for case in CASES if case not in baselines]
    out += [f"{c} {m} {b:g}× budget" for c, m, b in EXPECTED if (c, m, b) not in have]
    return out


def write_block(path: Path, text: str) -> None:
    """Put ``text`` between the table markers of ``path`` (created if missing)."""
    block = f"{START}\n{text}\n{END}"
    if path.exists() and START in (old := path.read_text(encoding="utf-8")) and END in old:
        new = old[: old.index(START)] + block + old[old.index(END) + len(END) :]
    else:
        new = f"# Restoration quality\n\n{block}\n"
    path.write_text(new, encoding="utf-8")


def merge(results: Path, out: Path) -> None:
    """Build the tables of every case present in ``results`` into ``out/quality.md``."""
    baselines, parts = load_parts(results)
    sections = []
    for name in CASES:
        mine = [p for p in parts if p["meta"]["case"] == name]
        if name in baselines or mine:
            sections.append(case_section(name, baselines.get(name), mine))
    todo = missing(baselines, parts)
    sections.append("Missing parts: " + (", ".join(todo) if todo else "none") + ".")
    text = "\n\n".join(sections)
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    write_block(out / "quality.md", text)
    figure(results, out / "quality.png", baselines, parts)


def figure(results: Path, path: Path, baselines: dict, parts: list[dict]) -> None:
    """Central XY and XZ slices: ground truth, raw, Gaussian, methods; one column pair per case."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [c for c in CASES if c in baselines]
    if not cases:
        return
    names = ["truth", "raw", "gaussian", *METHODS]
    columns: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for case in cases:
        found = {}
        with np.load(results / baselines[case]["file"].replace(".json", ".npz")) as npz:
            for key in ("truth", "raw", "gaussian"):
                found[key] = {a: npz[f"{key}_{a}"].astype(np.float32) for a in ("xy", "xz")}
        for part in parts:
            if part["meta"]["case"] == case and part["meta"]["budget"] == 1:
                with np.load(results / part["file"].replace(".json", ".npz")) as npz:
                    found[part["rows"][0]["name"]] = {
                        a: npz[f"restored_{a}"].astype(np.float32) for a in ("xy", "xz")
                    }
        columns[case] = found
    names = [n for n in names if any(n in found for found in columns.values())]
    fig, axes = plt.subplots(len(names), 2 * len(cases), squeeze=False,
                             figsize=(2.2 * 2 * len(cases), 1.9 * len(names)))  # fmt: skip
    for j, case in enumerate(cases):
        for i, name in enumerate(names):
            for k, plane in enumerate(("xy", "xz")):
                ax = axes[i, 2 * j + k]
                ax.set_xticks([])
                ax.set_yticks([])
                if name not in columns[case]:
                    ax.axis("off")
                    continue
                image = columns[case][name][plane]
                lo, hi = np.percentile(image, [1, 99])
                ax.imshow(image, cmap="gray", vmin=lo, vmax=hi)
                if i == 0:
                    ax.set_title(f"{case} {plane.upper()}", fontsize=8)
                if k == 0:
                    ax.set_ylabel(name, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
