"""``tomorestore restore`` on a data set: several inputs, --out-dir, skips, failures, checks.

CPU, 32³ volumes, tiny networks trained for two steps.
"""

from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np
import pytest

import tomorestore
from tomorestore.cli import main
from tomorestore.cli import restore as restore_cli
from tomorestore.io import Volume, read_volume, write_volume

TINY = {
    "network": {"depth": 2, "base_channels": 8},
    "fast": False,
    "batch_size": 1,
    "patch_size": 16,
    "validate_every": 2,
    "preview_every": 0,
    "checkpoint_every": 0,
}
SHAPE = (32, 32, 32)
VOXELS = {"a": (12.0, 11.0, 10.0), "b": (5.0, 5.0, 5.0), "c": (7.0, 8.0, 9.0)}


def _volume(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (2.0 + rng.standard_normal(SHAPE)).astype(np.float32)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """n2n.ckpt and dewedge.ckpt (tilt range -60..60)."""
    folder = tmp_path_factory.mktemp("models")
    even, odd = _volume(1), _volume(2)
    tomorestore.train("n2n", even=even, odd=odd, steps=2, config=TINY, progress=False,
                      out=folder / "n2n.ckpt")  # fmt: skip
    tomorestore.train("dewedge", even=even, odd=odd, steps=2, config=TINY, progress=False,
                      tilt_range=(-60, 60), out=folder / "dewedge.ckpt")  # fmt: skip
    return {"n2n": folder / "n2n.ckpt", "dewedge": folder / "dewedge.ckpt"}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """a.mrc, b.rec, c.mrc (different voxel sizes) and even/odd pairs e1/o1, e2/o2."""
    folder = tmp_path / "data"
    folder.mkdir()
    for seed, (name, voxel) in enumerate(VOXELS.items()):
        suffix = ".rec" if name == "b" else ".mrc"
        write_volume(folder / f"{name}{suffix}", Volume(data=_volume(10 + seed), voxel_size=voxel))
    for k in (1, 2):
        write_volume(folder / f"e{k}.mrc", Volume(data=_volume(20 + k), voxel_size=VOXELS["a"]))
        write_volume(folder / f"o{k}.mrc", Volume(data=_volume(30 + k), voxel_size=VOXELS["a"]))
    return folder


def _restore(model: Path, *args: str | Path) -> int:
    return main(["restore", "--model", str(model), "--tile", "32", "--quiet",
                 *[str(a) for a in args]])  # fmt: skip


def _inputs(data: Path) -> list[Path]:
    return [data / "a.mrc", data / "b.rec", data / "c.mrc"]


def test_batch_restore_writes_one_file_per_input(models, data, tmp_path, capsys):
    out = tmp_path / "out" / "nested"  # created
    assert _restore(models["n2n"], "--input", *_inputs(data), "--out-dir", out) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "a_restored.mrc", "b_restored.mrc", "c_restored.mrc"
    ]  # fmt: skip
    model = tomorestore.load_model(models["n2n"])
    for name, voxel in VOXELS.items():
        written = read_volume(out / f"{name}_restored.mrc")
        assert written.voxel_size == voxel and written.shape == SHAPE
        source = next(p for p in _inputs(data) if p.stem == name)
        expected = model.restore(read_volume(source), tile=32, device="cpu")
        np.testing.assert_allclose(np.asarray(written.data), expected, rtol=0, atol=1e-5)
    captured = capsys.readouterr()
    assert captured.out.count("restored 32x32x32 with n2n") == 3
    assert "restored 3 of 3 with n2n" in captured.out


def test_batch_restore_of_pairs_names_outputs_after_the_even_half(models, data, tmp_path):
    out = tmp_path / "out"
    code = _restore(models["n2n"], "--even", data / "e1.mrc", data / "e2.mrc",
                    "--odd", data / "o1.mrc", data / "o2.mrc", "--out-dir", out)  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["e1_restored.mrc", "e2_restored.mrc"]
    model = tomorestore.load_model(models["n2n"])
    expected = model.restore([read_volume(data / "e2.mrc"), read_volume(data / "o2.mrc")],
                             tile=32, device="cpu")  # fmt: skip
    written = read_volume(out / "e2_restored.mrc")
    np.testing.assert_allclose(np.asarray(written.data), expected, rtol=0, atol=1e-5)
    assert written.voxel_size == VOXELS["a"]


def test_done_files_are_skipped_unless_overwrite(models, data, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    write_volume(out / "b_restored.mrc", np.zeros(SHAPE, np.float32))  # "done" earlier
    assert _restore(models["n2n"], "--input", *_inputs(data), "--out-dir", out) == 0
    captured = capsys.readouterr()
    assert "skipped 1 already done" in captured.out
    assert not np.asarray(read_volume(out / "b_restored.mrc").data).any()  # untouched
    assert read_volume(out / "a_restored.mrc").data.any()
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

    assert _restore(models["n2n"], "--input", *_inputs(data), "--out-dir", out) == 0
    assert "restored 0 of 3 with n2n" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps

    code = _restore(models["n2n"], "--input", *_inputs(data), "--out-dir", out, "--overwrite")
    assert code == 0
    assert np.asarray(read_volume(out / "b_restored.mrc").data).any()  # restored this time


def test_a_file_failing_during_the_run_does_not_stop_the_others(
    models, data, tmp_path, capsys, monkeypatch
):
    """b.rec passes the start-up check, then is cut short; c.mrc holds a NaN (read later)."""
    nan = _volume(3)
    nan[4, 5, 6] = np.nan
    with mrcfile.new(data / "c.mrc", overwrite=True) as mrc:  # tomorestore refuses NaNs
        mrc.set_data(nan)
    plan_jobs = restore_cli.plan_jobs

    def plan_then_truncate(args):
        jobs = plan_jobs(args)
        with open(data / "b.rec", "r+b") as handle:  # damaged after the check
            handle.truncate(4096)
        return jobs

    monkeypatch.setattr(restore_cli, "plan_jobs", plan_then_truncate)
    out = tmp_path / "out"
    assert _restore(models["n2n"], "--input", *_inputs(data), "--out-dir", out) == 1
    assert sorted(p.name for p in out.iterdir()) == ["a_restored.mrc"]  # no leftovers
    captured = capsys.readouterr()
    assert "restored 1 of 3 with n2n" in captured.out and "2 failed:" in captured.out
    listed = [line for line in captured.err.splitlines() if line.startswith("  ")]
    assert len(listed) == 2
    assert "b.rec" in listed[0] and "truncated" in listed[0]
    assert "c.mrc" in listed[1] and "NaN" in listed[1]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("--even {d}/e1.mrc {d}/e2.mrc --odd {d}/o1.mrc --out-dir {out}",
         "--even has 2 files but --odd has 1"),
        ("--input {d}/a.mrc --even {d}/e1.mrc --odd {d}/o1.mrc --out-dir {out}", "not both"),
        ("--even {d}/e1.mrc --out-dir {out}", "--odd is missing"),
        ("--input {d}/a.mrc {d}/missing.mrc --out-dir {out}", "missing.mrc: no such file"),
        ("--input {d}/a.mrc {d}/garbage.mrc --out-dir {out}", "garbage.mrc: unsupported MRC mode"),
        ("--input {d}/a.mrc {d}/b.rec --out {out}/r.mrc", "--out writes one file"),
        ("--input {d}/a.mrc --out {out}/r.mrc --out-dir {out}", "cannot be combined"),
        ("--input {d}/a.mrc", "no output given"),
        ("--input {d}/a.mrc {d}/sub/a.mrc --out-dir {out}", "would both be written"),
        ("--even {d}/e1.mrc --odd {d}/small.mrc --out-dir {out}", "differ in shape"),
        ("--input {d}/a.mrc {d}/b.rec --tilt-angles {d}/1.tlt {d}/1.tlt {d}/1.tlt "
         "--out-dir {out}", "--tilt-angles has 3 files for 2 tomograms"),
        ("--input {d}/a.mrc --tilt-angles {d}/1.tlt --tilt-range -50 50 --out-dir {out}",
         "not both"),
        ("--input {d}/a.mrc --tilt-angles {d}/bad.tlt --out-dir {out}", "bad.tlt, line 2"),
        ("--input {d}/a.mrc --tilt-axis X --out-dir {out}", "without a tilt range"),
        ("--input {d}/a.mrc --out-dir {out} --tile 2", "too small"),
        ("--input {d}/a.mrc --out-dir {out} --overlap 1", "--overlap"),
    ],
)  # fmt: skip
def test_bad_inputs_exit_2_and_write_nothing(models, data, tmp_path, capsys, arguments, message):
    (data / "garbage.mrc").write_bytes(b"not an mrc file at all" * 100)
    (data / "sub").mkdir()
    write_volume(data / "sub" / "a.mrc", _volume(5))
    write_volume(data / "small.mrc", _volume(6)[:, :, :24])
    (data / "1.tlt").write_text("-50\n0\n50\n")
    (data / "bad.tlt").write_text("-50\nzero\n50\n")
    out = tmp_path / "out"
    before = sorted(p.name for p in data.rglob("*"))
    assert _restore(models["n2n"], *arguments.format(d=data, out=out).split()) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
    assert sorted(p.name for p in data.rglob("*")) == before


def test_out_keeps_working_for_one_input_and_replaces_the_file(models, data, tmp_path):
    target = tmp_path / "restored.mrc"
    write_volume(target, np.zeros(SHAPE, np.float32))
    assert _restore(models["n2n"], "--input", data / "a.mrc", "--out", target) == 0
    written = read_volume(target)
    assert written.voxel_size == VOXELS["a"] and np.asarray(written.data).any()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "restored.mrc"]


def test_each_tomogram_is_restored_with_its_own_tilt_angles(models, data, tmp_path, capsys):
    (data / "wide.tlt").write_text("\n".join(str(a) for a in range(-60, 61, 3)))
    narrow_tlt = data / "narrow.tlt"
    narrow_tlt.write_text("\n".join(str(a) for a in range(-40, 30, 3)))  # -40 .. 29
    inputs = [data / "a.mrc", data / "c.mrc"]
    own = tmp_path / "own"
    per_file = tmp_path / "per_file"
    assert _restore(models["dewedge"], "--input", *inputs, "--out-dir", own) == 0
    code = _restore(models["dewedge"], "--input", *inputs, "--out-dir", per_file,
                    "--tilt-angles", data / "wide.tlt", narrow_tlt)  # fmt: skip
    assert code == 0
    read = {
        (folder.name, name): np.asarray(read_volume(folder / f"{name}_restored.mrc").data)
        for folder in (own, per_file)
        for name in ("a", "c")
    }
    # a: the same range as the model's (-60..60) -> the same result; c: a narrower wedge
    np.testing.assert_array_equal(read[("own", "a")], read[("per_file", "a")])
    assert np.abs(read[("own", "c")] - read[("per_file", "c")]).max() > 1e-4
    model = tomorestore.load_model(models["dewedge"])
    expected = tomorestore.restore(model, input=data / "c.mrc", tile=32, progress=False,
                                   tilt_range=(-40, 29))  # fmt: skip
    np.testing.assert_allclose(read[("per_file", "c")], expected.data, rtol=0, atol=1e-5)


def test_the_default_tile_is_said(models, data, tmp_path, capsys):
    """Without --tile the command says which tile it chose (and an explicit one is not)."""
    arguments = ["restore", "--model", str(models["n2n"]), "--quiet", "--device", "cpu",
                 "--input", str(data / "a.mrc"), "--out", str(tmp_path / "a.mrc")]  # fmt: skip
    assert main(arguments) == 0
    assert "tile 128 on cpu (the default" in capsys.readouterr().err
    assert _restore(models["n2n"], "--input", data / "a.mrc", "--out", tmp_path / "b.mrc") == 0
    assert "the default for the device" not in capsys.readouterr().err
