"""benchmarks/real_data_figure.py: method parameters and per-method budgets reach training,
and ``--reuse`` redraws only restorations made with the same settings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tomorestore.io import write_volume

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(*options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / "real_data_figure.py"), *options],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_overrides_read_json_values_and_refuse_a_missing_parameter(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from overrides import overrides

    parsed = overrides(
        ['ei.filling={"rotations": "z"}', 'n2v.replacement="median"', "ei.order=joint"]
    )
    assert parsed == {"ei": {"filling": {"rotations": "z"}, "order": "joint"},
                      "n2v": {"replacement": "median"}}  # fmt: skip
    with pytest.raises(SystemExit, match="METHOD.PARAM=VALUE"):
        overrides(["ei=3"])


def test_method_parameters_and_steps_reach_training_and_reuse_checks_them(tmp_path):
    volume = np.random.default_rng(0).standard_normal((24, 32, 32)).astype(np.float32)
    source = write_volume(tmp_path / "crop.mrc", volume, voxel_size=(2.0, 2.0, 2.0))
    work, out = tmp_path / "work", tmp_path / "figure.png"
    common = ["--input", str(source), "--methods", "n2v", "--patch", "16", "--workdir",
              str(work), "--out", str(out), "--steps", "5"]  # fmt: skip
    done = _run(*common, "--method-steps", "n2v=3", "--set", 'n2v.replacement="median"')
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert out.exists() and "of 3" in (work / "n2v.txt").read_text()
    settings = json.loads((work / "n2v.json").read_text())
    assert settings["steps"] == 3 and settings["params"] == {"replacement": "median"}
    from tomorestore import load_model

    assert load_model(work / "n2v.ckpt").config.params.replacement == "median"
    # the same settings are reused (no training), other ones train again
    again = _run(*common, "--method-steps", "n2v=3", "--set", 'n2v.replacement="median"', "--reuse")
    assert again.returncode == 0 and "weights of step" not in again.stdout
    other = _run(*common, "--reuse")
    assert other.returncode == 0, other.stdout[-3000:] + other.stderr[-3000:]
    assert "of 5" in (work / "n2v.txt").read_text()
