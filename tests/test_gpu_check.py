"""benchmarks/gpu_check.py: its CPU fallback runs every section, and it reports what it
cannot run (missing packages, a failing section) without stopping."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
SECTIONS = ["environment", "auto_tile", "train_steps", "restore", "oom_retry", "ddp_torchrun"]


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("gpu_check", None)


def test_cpu_smoke_runs_every_section_and_ends_with_a_json_line(tmp_path):
    json_out = tmp_path / "check.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--cpu-smoke", "--json-out", str(json_out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert json.loads(json_out.read_text()) == report
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert report["mode"] == "cpu-smoke" and report["device"] == "cpu"
    assert report["failed"] == [] and report["missing"] == []
    sections = report["sections"]
    assert list(sections) == SECTIONS
    for name, figures in sections.items():
        assert figures["status"] in ("ok", "skipped: no CUDA"), (name, figures["status"])
    assert "[restore] ok" in done.stdout  # the table

    from tomorestore.training.restoration_model import default_tile

    assert sections["auto_tile"]["tile"] == default_tile("cpu")
    assert sections["auto_tile"]["free_gib"] is None  # no GPU memory to fit
    (row,) = sections["train_steps"]["configs"].values()
    assert row["steps_per_s"] > 0 and row["loss_finite"]
    assert sections["restore"]["voxels_per_s"] > 0 and sections["restore"]["finite"]
    oom = sections["oom_retry"]
    assert oom["simulated"] and oom["out_of_memory_errors"] >= 1 and oom["finite"]
    assert oom["attempts"][0].endswith("out of memory") and oom["attempts"][-1].endswith("ok")
    ddp = sections["ddp_torchrun"]
    assert (ddp["processes"], ddp["backend"]) == (2, "gloo")
    assert "on 2 processes (gloo" in ddp["summary"]


def test_a_failing_section_is_reported_and_a_missing_package_named(gpu_check, monkeypatch):
    ctx = gpu_check.Context(
        device="cpu", cuda=False, sizes=gpu_check.SMOKE_SIZES, work_dir=Path("."), child_env={}
    )

    def broken(ctx):
        raise ValueError("no luck")

    def needs_pydantic(ctx):
        raise ModuleNotFoundError("No module named 'pydantic'", name="pydantic")

    monkeypatch.setitem(gpu_check.SECTIONS, "broken", broken)
    monkeypatch.setitem(gpu_check.SECTIONS, "needs", needs_pydantic)
    assert gpu_check.run_section("broken", ctx)["status"] == "failed: ValueError: no luck"
    assert "needs the package 'pydantic'" in gpu_check.run_section("needs", ctx)["status"]


def test_missing_dependencies_are_listed_with_a_way_to_carry_them(gpu_check, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        gpu_check.importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("mrcfile", "yaml") else real(name, *a),
    )
    missing = gpu_check.missing_dependencies()
    assert missing == ["mrcfile", "pyyaml"]
    hint = gpu_check.carry_hint(missing)
    assert "pip download" in hint and "mrcfile pyyaml" in hint and "--no-index" in hint
