"""End-to-end tests of ``tomorestore train`` and ``tomorestore restore`` (CPU, 32³, tiny nets)."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from tomorestore.cli import main
from tomorestore.io import Volume, read_volume, write_volume
from tomorestore.training import RestorationModel, Step, last_checkpoint_path

TINY_YAML = """\
method: n2n
network:
  depth: 2
  base_channels: 8
fast: false
validate_every: 2
preview_every: 0
checkpoint_every: 0
"""
VOXEL = (12.0, 11.0, 10.0)


@pytest.fixture
def data(tmp_path: Path, rng: np.random.Generator) -> Path:
    """even.mrc, odd.mrc, full.mrc (32³, voxel 12x11x10 Å), bad files and a tiny config."""
    folder = tmp_path / "data"
    folder.mkdir()
    signal_ = rng.standard_normal((32, 32, 32)).astype(np.float32)
    halves = {}
    for name in ("even", "odd"):
        halves[name] = signal_ + rng.standard_normal(signal_.shape).astype(np.float32)
        write_volume(folder / f"{name}.mrc", Volume(data=halves[name], voxel_size=VOXEL))
    write_volume(folder / "full.mrc", Volume(data=halves["even"] + halves["odd"], voxel_size=VOXEL))
    write_volume(folder / "small.mrc", Volume(data=halves["odd"][:, :, :24], voxel_size=VOXEL))
    nan = halves["even"].copy()
    nan[4, 5, 6] = np.nan
    with mrcfile.new(folder / "nan.mrc") as mrc:  # tomorestore refuses to write NaNs
        mrc.set_data(nan)
    (folder / "tiny.yaml").write_text(TINY_YAML)
    return folder


def _outputs(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name != "data")


def test_train_then_restore_end_to_end(data: Path, tmp_path: Path, capsys) -> None:
    ckpt = tmp_path / "model.ckpt"
    code = main(
        [
            "train", "--method", "n2n", "--even", str(data / "even.mrc"),
            "--odd", str(data / "odd.mrc"), "--steps", "2", "--patch", "16", "--batch", "1",
            "--config", str(data / "tiny.yaml"), "--device", "cpu", "--quiet",
            "--out", str(ckpt),
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "trained n2n for 2 steps" in captured.out and "on cpu" in captured.out
    assert "final loss" in captured.out and "val" in captured.out and str(ckpt) in captured.out
    model = RestorationModel.load(ckpt)
    assert model.step == 2 and model.voxel_size == VOXEL
    assert model.config.network.base_channels == 8

    restored = tmp_path / "restored.mrc"
    code = main(
        [
            "restore", "--model", str(ckpt), "--even", str(data / "even.mrc"),
            "--odd", str(data / "odd.mrc"), "--out", str(restored), "--tile", "32",
            "--overlap", "0.25", "--quiet",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "restored 32x32x32 with n2n" in captured.out
    volume = read_volume(restored)
    assert volume.shape == (32, 32, 32) and volume.voxel_size == VOXEL
    assert np.isfinite(np.asarray(volume.data)).all()


def test_train_resume_continues(data: Path, tmp_path: Path, capsys) -> None:
    ckpt = tmp_path / "model.ckpt"
    base = [
        "train", "--method", "n2v", "--input", str(data / "full.mrc"), "--patch", "16",
        "--batch", "1", "--config", str(data / "tiny.yaml"), "--quiet", "--out", str(ckpt),
    ]  # fmt: skip
    assert main([*base, "--steps", "1"]) == 0
    assert main([*base, "--steps", "3", "--resume", str(ckpt)]) == 0
    assert "trained n2v for 2 steps" in capsys.readouterr().out
    assert RestorationModel.load(last_checkpoint_path(ckpt)).step == 3  # the last state
    assert RestorationModel.load(ckpt).step <= 3  # the best validated weights


def test_ctrl_c_saves_checkpoint_and_exits_130(
    data: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tomorestore.training import progress

    original = progress.TrainProgress.__call__

    def interrupt_after_first_step(self, event) -> None:
        original(self, event)
        if isinstance(event, Step) and event.step == 1:
            signal.raise_signal(signal.SIGINT)  # as if the user pressed Ctrl-C

    monkeypatch.setattr(progress.TrainProgress, "__call__", interrupt_after_first_step)
    # a background job may start with SIGINT ignored: install Python's handler for the test
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    ckpt = tmp_path / "model.ckpt"
    code = main(
        [
            "train", "--method", "n2v", "--input", str(data / "full.mrc"), "--steps", "50",
            "--patch", "16", "--batch", "1", "--config", str(data / "tiny.yaml"), "--quiet",
            "--out", str(ckpt),
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 130
    assert "stopped at step 1 of 50" in captured.out and "--resume" in captured.out
    assert RestorationModel.load(ckpt).step == 1
    restored = signal.signal(signal.SIGINT, before)
    assert restored is signal.default_int_handler  # the command put back the handler it found


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--method", "n2n", "--even", "even.mrc", "--odd", "small.mrc"], "differ in shape"),
        (["--method", "n2v", "--input", "full.mrc", "--patch", "64"],
         r"patch 64 is larger than the volume \(32, 32, 32\); use --patch <= 32"),
        (["--method", "n2v", "--input", "nan.mrc"], "NaN"),
        (["--method", "ei", "--input", "full.mrc", "--tilt-range", "-95", "60"], "tilt range"),
        (["--method", "dewedge", "--even", "even.mrc", "--odd", "odd.mrc", "--tilt-range",
          "60", "-60"], "tilt range"),
        (["--method", "dewedge", "--input", "full.mrc", "--tilt-range", "-60", "60"],
         "dewedge needs even/odd half tomograms.*give --even E.mrc --odd O.mrc"),
        (["--method", "dewedge", "--even", "even.mrc", "--odd", "odd.mrc"], "tilt range"),
        (["--method", "n2v", "--input", "missing.mrc"], "no such file"),
        (["--method", "n2v", "--even", "even.mrc"], "1 --even and 0 --odd"),
        (["--method", "n2v", "--input", "full.mrc", "--device", "cuda:9"], "not available"),
        (["--method", "n2v", "--input", "full.mrc", "--steps", "0"], "steps"),
    ],
)  # fmt: skip
def test_train_bad_input_exit_2_nothing_written(
    data: Path, tmp_path: Path, capsys, args: list[str], match: str
) -> None:
    resolved = [str(data / a) if a.endswith(".mrc") else a for a in args]
    code = main(
        ["train", *resolved, "--config", str(data / "tiny.yaml"), "--out", str(tmp_path / "m.ckpt")]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert "tomorestore train: error:" in captured.err
    assert re.search(match, captured.err), captured.err
    assert _outputs(tmp_path) == []


def test_restore_bad_input_exit_2_nothing_written(data: Path, tmp_path: Path, capsys) -> None:
    garbage = data / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    out = tmp_path / "restored.mrc"
    code = main(
        ["restore", "--model", str(garbage), "--input", str(data / "full.mrc"), "--out", str(out)]
    )
    captured = capsys.readouterr()
    assert code == 2 and "cannot read checkpoint" in captured.err
    code = main(
        [
            "restore", "--model", str(garbage), "--input", str(data / "full.mrc"),
            "--out", str(out), "--overlap", "1.5",
        ]
    )  # fmt: skip
    assert code == 2 and "--overlap" in capsys.readouterr().err
    assert _outputs(tmp_path) == []


def test_help_lists_commands(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("train", "restore", "demo"):
        assert command in text


def test_demo_small_end_to_end(tmp_path: Path, capsys) -> None:
    outdir = tmp_path / "demo"
    code = main(["demo", str(outdir), "--shape", "32,32,32", "--steps", "1", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    match = re.search(r"raw (-?[0-9.]+) -> restored (-?[0-9.]+)", captured.out)
    assert match, captured.out
    assert all(-1.0 <= float(v) <= 1.0 for v in match.groups())
    names = {p.name for p in outdir.iterdir()}
    assert {"full.mrc", "ground_truth.mrc", "restored.mrc", "model.ckpt"} <= names
    restored = read_volume(outdir / "restored.mrc")
    assert restored.shape == (32, 32, 32)
    assert restored.voxel_size == read_volume(outdir / "full.mrc").voxel_size


def test_demo_rejects_bad_shape(tmp_path: Path, capsys) -> None:
    assert main(["demo", str(tmp_path / "d"), "--shape", "8,8"]) == 2
    assert "--shape" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_partial_yaml_config_merges_with_the_flags(data: Path, tmp_path: Path, capsys) -> None:
    partial = tmp_path / "partial.yaml"
    partial.write_text("checkpoint_every: 20\nnetwork: {depth: 2, base_channels: 8}\nfast: false\n")
    out = tmp_path / "m.ckpt"
    args = ["train", "--method", "n2n", "--even", str(data / "even.mrc"), "--odd",
            str(data / "odd.mrc"), "--config", str(partial), "--steps", "2", "--patch", "16",
            "--batch", "1", "--quiet", "--out", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    config = RestorationModel.load(out).config
    assert (config.method, config.checkpoint_every, config.steps) == ("n2n", 20, 2)  # flags win


def test_yaml_params_of_another_method_conflict_with_the_flag(
    data: Path, tmp_path: Path, capsys
) -> None:
    other = tmp_path / "n2v.yaml"
    other.write_text("method: n2v\nparams: {struct_z: 1}\n")
    out = str(tmp_path / "m.ckpt")
    args = ["train", "--method", "n2n", "--even", str(data / "even.mrc"), "--odd",
            str(data / "odd.mrc"), "--config", str(other), "--out", out]  # fmt: skip
    assert main(args) == 2
    assert "parameters are for 'n2v', not 'n2n'" in capsys.readouterr().err
    assert not (tmp_path / "m.ckpt").exists()
