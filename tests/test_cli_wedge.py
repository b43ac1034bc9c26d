"""``tomorestore wedge``: the tilt range estimated from a tomogram file."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from tomorestore.cli import main
from tomorestore.io import write_volume
from tomorestore.physics import MissingWedge

TILT_RANGE = (-48.0, 62.0)


@pytest.fixture(scope="module")
def tomogram(tmp_path_factory):
    """An MRC file of white noise through the wedge -48..62 (64³)."""
    noise = torch.as_tensor(
        np.random.default_rng(3).standard_normal((64, 64, 64)), dtype=torch.float32
    )
    path = tmp_path_factory.mktemp("wedge") / "T.mrc"
    write_volume(path, MissingWedge(*TILT_RANGE).apply(noise).numpy(), voxel_size=10.0)
    return path


@pytest.fixture(scope="module")
def noise_file(tmp_path_factory):
    """An MRC file of white noise: no missing wedge at all."""
    data = np.random.default_rng(4).standard_normal((48, 48, 48)).astype(np.float32)
    path = tmp_path_factory.mktemp("noise") / "noise.mrc"
    write_volume(path, data, voxel_size=10.0)
    return path


def test_json_last_line_is_the_estimate(tomogram, capsys):
    assert main(["wedge", str(tomogram), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    record = json.loads(lines[-1])
    assert set(record) == {"tilt_min", "tilt_max", "confidence"}
    assert record["tilt_min"] == pytest.approx(TILT_RANGE[0], abs=1.0)
    assert record["tilt_max"] == pytest.approx(TILT_RANGE[1], abs=1.0)
    assert 0.9 < record["confidence"] <= 1.0


def test_human_output_names_file_range_and_confidence(tomogram, noise_file, capsys):
    assert main(["wedge", str(tomogram), str(noise_file)]) == 0
    first, second = capsys.readouterr().out.strip().splitlines()
    pattern = r": tilt range -4\d\.\d to 6\d\.\d degrees \(confidence (0\.9\d|1\.00)\)"
    assert re.fullmatch(re.escape(str(tomogram)) + pattern, first), first
    assert second.startswith(f"{noise_file}: tilt range")
    assert "no clear missing wedge" in second


def test_json_for_several_files_is_one_object_per_line(tomogram, noise_file, capsys):
    assert main(["wedge", str(tomogram), str(noise_file), "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["file"] for r in records] == [str(tomogram), str(noise_file)]
    assert records[0]["confidence"] > 0.9 > 0.2 > records[1]["confidence"]


def test_tilt_axis_x(tomogram, tmp_path, capsys):
    from tomorestore.io import read_volume

    swapped = tmp_path / "swapped.mrc"
    write_volume(swapped, np.ascontiguousarray(read_volume(tomogram).data.transpose(0, 2, 1)))
    assert main(["wedge", str(swapped), "--tilt-axis", "x", "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["tilt_min"] == pytest.approx(TILT_RANGE[0], abs=1.0)
    assert record["confidence"] > 0.9


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("absent.mrc", None, "no such file"),
        ("angles.tlt", "-60\n60\n", "unsupported file type"),
        ("broken.mrc", "not an mrc file", "broken.mrc"),
    ],
)
def test_bad_or_missing_file_exits_2_with_a_message(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    assert main(["wedge", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("tomorestore wedge: error: ")
    assert message in captured.err


def test_command_line_process_exit_status_and_last_line(tomogram):
    result = subprocess.run(
        [sys.executable, "-m", "tomorestore", "wedge", str(tomogram), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(record) == ["tilt_min", "tilt_max", "confidence"]
    assert record["tilt_max"] == pytest.approx(TILT_RANGE[1], abs=1.0)
