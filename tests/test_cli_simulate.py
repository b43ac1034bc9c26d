"""End-to-end tests of ``tomorestore simulate``."""

from __future__ import annotations

import numpy as np
import pytest

from tomorestore.cli import main
from tomorestore.io import read_volume

EXPECTED = {
    "full.mrc",
    "even.mrc",
    "odd.mrc",
    "ground_truth.mrc",
    "wedge_only.mrc",
    "tilt_angles.tlt",
}


def test_simulate_writes_the_files_with_the_voxel_size(tmp_path, capsys):
    outdir = tmp_path / "sim"
    status = main(
        [
            "simulate",
            str(outdir),
            "--shape",
            "32,48,48",
            "--tilt-range",
            "-48",
            "62",
            "--tilt-step",
            "2",
            "--voxel-size",
            "13.5",
            "--seed",
            "2",
        ]
    )
    assert status == 0
    assert {p.name for p in outdir.iterdir()} == EXPECTED
    for name in ("full", "even", "odd", "ground_truth", "wedge_only"):
        volume = read_volume(outdir / f"{name}.mrc")
        assert volume.shape == (32, 48, 48)
        assert volume.voxel_size == pytest.approx((13.5, 13.5, 13.5))
    angles = np.loadtxt(outdir / "tilt_angles.tlt")
    np.testing.assert_allclose(angles, np.arange(-48.0, 62.1, 2.0))
    summary = capsys.readouterr().out.strip().splitlines()
    assert len(summary) == 1 and "full.mrc" in summary[0] and str(outdir) in summary[0]


def test_simulate_defaults_for_everything_but_the_shape(tmp_path):
    assert main(["simulate", str(tmp_path), "--shape", "16,32,32"]) == 0
    volume = read_volume(tmp_path / "full.mrc")
    assert volume.voxel_size == pytest.approx((10.0, 10.0, 10.0))
    assert len(np.loadtxt(tmp_path / "tilt_angles.tlt")) == 41  # -60..60 step 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--shape", "32,48"], "--shape"),
        (["--shape", "32,48,abc"], "--shape"),
        (["--shape", "8,48,48"], "at least 16"),
        (["--tilt-range", "60", "-60"], "--tilt-range"),
        (["--tilt-range", "-90", "60"], "--tilt-range"),
        (["--tilt-range", "-60", "91"], "--tilt-range"),
        (["--tilt-step", "0"], "--tilt-step"),
        (["--tilt-step", "500"], "--tilt-step"),
        (["--snr", "-0.1"], "--snr"),
        (["--voxel-size", "0"], "--voxel-size"),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(tmp_path, capsys, extra, message):
    outdir = tmp_path / "sim"
    status = main(["simulate", str(outdir), "--shape", "32,48,48", *extra])
    assert status == 2
    assert not outdir.exists()
    error = capsys.readouterr().err
    assert "error" in error and message in error


def test_outdir_that_is_a_file_is_rejected(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    assert main(["simulate", str(target), "--shape", "16,16,16"]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert target.read_text() == "not a folder"
