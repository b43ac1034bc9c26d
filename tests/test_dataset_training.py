"""One model trains on a data set: several tomograms, each with its own wedge and statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tomorestore
from tomorestore.errors import InputError
from tomorestore.io import Volume, write_volume
from tomorestore.training import Started, WedgeConfig, make_config, train_events
from tomorestore.training.dataset import Tomogram, build_dataset

TINY = {
    "network": {"depth": 2, "base_channels": 8},
    "fast": False,
    "batch_size": 1,
    "patch_size": 16,
    "validate_every": 1,
    "preview_every": 0,
    "checkpoint_every": 0,
}


def _pair(rng: np.random.Generator, shape=(32, 32, 32), scale=1.0) -> list[np.ndarray]:
    base = rng.standard_normal(shape).astype(np.float32)
    return [scale * (base + rng.standard_normal(shape).astype(np.float32)) for _ in range(2)]


def _write(folder: Path, name: str, data: np.ndarray, voxel=(10.0, 10.0, 10.0)) -> Path:
    path = folder / name
    write_volume(path, Volume(data=data, voxel_size=voxel))
    return path


def test_several_tomograms_train_one_model_each_with_its_statistics(rng, tmp_path: Path):
    a = _write(tmp_path, "a.mrc", _pair(rng)[0])
    b = _write(tmp_path, "b.mrc", _pair(rng, shape=(32, 48, 40), scale=1e-3)[0])  # AreTomo scale
    events: list = []
    model = tomorestore.train(
        "n2v", inputs=[a, b], steps=4, config=TINY, progress=events.append, out=tmp_path / "m.ckpt"
    )
    started = events[0]
    assert isinstance(started, Started)
    assert any("2 tomograms" in note and "a.mrc" in note for note in started.notes)
    assert model.voxel_size == (10.0, 10.0, 10.0)
    assert np.isfinite(model.history.losses).all() and len(model.history.val_losses) == 4


def test_pairs_with_their_own_tilt_ranges(rng, tmp_path: Path) -> None:
    halves = [_pair(rng), _pair(rng)]
    data = [
        Tomogram(halves=halves[0], wedge=WedgeConfig(tilt_min=-60, tilt_max=60), name="one"),
        Tomogram(halves=halves[1], wedge=WedgeConfig(tilt_min=-45, tilt_max=62), name="two"),
    ]
    config = make_config(method="dewedge", steps=3, **TINY)
    events = list(train_events(config, data))
    model = events[-1].model
    assert model.config.wedge.tilt_min == -60  # the first tomogram's wedge is the model's
    wedges = {(p.wedge.tilt_min, p.wedge.tilt_max) for p in _parts_wedges(config, data)}
    assert wedges == {(-60.0, 60.0), (-45.0, 62.0)}


def _parts_wedges(config, data):
    from tomorestore.training.engine import _prepare

    run = _prepare(config, data, mask=None, voxel_size=None, checkpoint_path=None, resume_from=None)
    return [part.method for part in run.parts]


def test_tilt_angle_files_one_per_tomogram(rng, tmp_path: Path) -> None:
    evens = [_write(tmp_path, f"e{i}.mrc", _pair(rng)[0]) for i in range(2)]
    odds = [_write(tmp_path, f"o{i}.mrc", _pair(rng)[1]) for i in range(2)]
    (tmp_path / "a.tlt").write_text("-50\n0\n55\n")
    (tmp_path / "b.mdoc").write_text(
        "[ZValue = 0]\nTiltAngle = -40.5\n[ZValue = 1]\nTiltAngle = 61\n"
    )
    data = build_dataset(
        evens=evens, odds=odds, tilt_angles=[tmp_path / "a.tlt", tmp_path / "b.mdoc"]
    )
    assert [(t.wedge.tilt_min, t.wedge.tilt_max) for t in data] == [(-50, 55), (-40.5, 61)]
    assert [t.name for t in data] == ["e0.mrc", "e1.mrc"]
    model = tomorestore.train(
        "dewedge", evens=evens, odds=odds, tilt_angles=tmp_path / "a.tlt", steps=2,
        config=TINY, progress=False,
    )  # fmt: skip
    assert (model.config.wedge.tilt_min, model.config.wedge.tilt_max) == (-50.0, 55.0)


def test_dataset_table_yaml_and_csv(rng, tmp_path: Path) -> None:
    for i in range(2):
        _write(tmp_path, f"e{i}.mrc", _pair(rng)[0])
        _write(tmp_path, f"o{i}.mrc", _pair(rng)[1])
    (tmp_path / "ts.tlt").write_text("-48\n62\n")
    yaml_table = tmp_path / "set.yaml"
    yaml_table.write_text(
        "tomograms:\n"
        "  - {even: e0.mrc, odd: o0.mrc, tilt_range: [-60, 60]}\n"
        "  - {even: e1.mrc, odd: o1.mrc, tilt_angles: ts.tlt}\n"
    )
    csv_table = tmp_path / "set.csv"
    csv_table.write_text("even,odd,tilt_min,tilt_max\ne0.mrc,o0.mrc,-60,60\ne1.mrc,o1.mrc,-48,62\n")
    for table in (yaml_table, csv_table):
        data = build_dataset(table=table)
        assert [(t.wedge.tilt_min, t.wedge.tilt_max) for t in data] == [(-60, 60), (-48, 62)]
    model = tomorestore.train("n2n", dataset=csv_table, steps=2, config=TINY, progress=False)
    assert model.step in (1, 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"evens": ["E0"], "odds": ["O0", "O1"]}, "1 even and 2 odd"),
        ({"inputs": ["E0"], "evens": ["E0"], "odds": ["O0"]}, "not both"),
        ({"inputs": ["E0", "BIG"]}, "different voxel sizes"),
        ({"inputs": ["E0", "MISSING"]}, "missing.mrc: no such file"),
        ({"inputs": ["E0"], "tilt_range": (-60, 60), "tilt_angles": "T"}, "not both"),
    ],
)
def test_bad_data_sets_write_nothing(rng, tmp_path: Path, kwargs: dict, match: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    paths = {
        "E0": _write(data, "e0.mrc", _pair(rng)[0]),
        "O0": _write(data, "o0.mrc", _pair(rng)[1]),
        "O1": _write(data, "o1.mrc", _pair(rng)[1]),
        "BIG": _write(data, "big.mrc", _pair(rng)[0], voxel=(20.0, 20.0, 20.0)),
        "MISSING": data / "missing.mrc",
        "T": data / "t.tlt",
    }
    (data / "t.tlt").write_text("-60\n60\n")
    resolved = {
        k: [paths[v] for v in value] if isinstance(value, list) else paths.get(value, value)
        for k, value in kwargs.items()
    }
    out = tmp_path / "out" / "m.ckpt"
    out.parent.mkdir()
    with pytest.raises(InputError, match=match):
        tomorestore.train("n2v", out=out, steps=1, config=TINY, progress=False, **resolved)
    assert list(out.parent.iterdir()) == []


def test_cli_trains_on_several_files_and_a_table(rng, tmp_path: Path, capsys) -> None:
    from tomorestore.cli import main

    evens = [str(_write(tmp_path, f"e{i}.mrc", _pair(rng)[0])) for i in range(2)]
    odds = [str(_write(tmp_path, f"o{i}.mrc", _pair(rng)[1])) for i in range(2)]
    (tmp_path / "ts.tlt").write_text("-48\n62\n")
    config = tmp_path / "tiny.yaml"
    config.write_text("network: {depth: 2, base_channels: 8}\nfast: false\nvalidate_every: 1\n")
    common = ["--steps", "2", "--patch", "16", "--batch", "1", "--config", str(config), "--quiet"]
    out = tmp_path / "m.ckpt"
    args = ["train", "--method", "dewedge", "--even", *evens, "--odd", *odds,
            "--tilt-angles", str(tmp_path / "ts.tlt"), *common, "--out", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    assert "2 tomograms" in capsys.readouterr().err
    table = tmp_path / "set.csv"
    table.write_text("input\ne0.mrc\ne1.mrc\n")
    assert main(["train", "--method", "n2v", "--dataset", str(table), *common,
                 "--out", str(out)]) == 0  # fmt: skip
    bad = ["train", "--method", "n2n", "--even", *evens, "--odd", odds[0], "--out", str(out)]
    assert main(bad) == 2 and "2 --even and 1 --odd" in capsys.readouterr().err


def test_thin_volume_gets_a_patch_that_fits(rng, tmp_path: Path) -> None:
    thin = _pair(rng, shape=(36, 64, 48))[0]
    events: list = []
    model = tomorestore.train("n2v", input=thin, steps=1, config={**TINY, "patch_size": None},
                              progress=events.append)  # fmt: skip
    assert model.config.patch_size == 36  # the largest multiple of the divisor (4) <= 36
    assert any("patch 36" in note for note in events[0].notes)
    with pytest.raises(InputError, match="patch 48 is larger"):
        tomorestore.train("n2v", input=thin, steps=1, config={**TINY, "patch_size": 48},
                          progress=False)  # fmt: skip


def test_default_budget_grows_with_data_and_device() -> None:
    from tomorestore.training.engine import default_budget

    assert default_budget(600, [(64, 128, 128)], "cpu") == (600, "")  # the tuned case
    assert default_budget(600, [(32, 32, 32)], "cpu") == (600, "")  # never below
    steps, why = default_budget(200, [(128, 256, 256)] * 3, "cpu")
    assert steps == 1600 and "x8" in why  # 24x the reference, capped at 8
    steps, why = default_budget(200, [(64, 128, 128)], "cuda")
    assert steps == 800 and "x4 on a GPU" in why


def test_fine_tuning_starts_from_the_trained_weights(rng, tmp_path: Path) -> None:
    import torch

    from tomorestore.training.engine import _prepare

    first = tmp_path / "a.ckpt"
    model = tomorestore.train(
        "n2n", even=_pair(rng)[0], odd=_pair(rng)[1], steps=2, config=TINY, progress=False,
        out=first,
    )  # fmt: skip
    new_data = _pair(rng, shape=(32, 40, 36))
    config = make_config(method="n2n", steps=3, **{**TINY, "network": None})
    run = _prepare(config, new_data, mask=None, voxel_size=None, checkpoint_path=None,
                   resume_from=None, init_from=first)  # fmt: skip
    assert run.start_step == 0 and run.config.network == model.config.network
    for name, value in model.network.state_dict().items():
        torch.testing.assert_close(run.network.state_dict()[name].cpu(), value.cpu(), msg=name)
    tuned = tomorestore.train("n2n", even=new_data[0], odd=new_data[1], steps=2, init=first,
                              config={**TINY, "network": None}, progress=False)  # fmt: skip
    assert tuned.config.network == model.config.network
    with pytest.raises(InputError, match="trained with 'n2n', not 'n2v'"):
        tomorestore.train("n2v", input=new_data[0], steps=1, init=first, progress=False)


def test_missing_tilt_range_is_estimated_from_the_data(tmp_path: Path) -> None:
    sim = tomorestore.simulate_tomogram((64, 64, 64), tilt_range=(-48, 62), seed=3)
    events: list = []
    model = tomorestore.train("dewedge", even=sim.even, odd=sim.odd, steps=1, config=TINY,
                              progress=events.append)  # fmt: skip
    note = next(n for n in events[0].notes if "estimated the tilt range" in n)
    assert "confidence" in note
    wedge = model.config.wedge
    assert abs(wedge.tilt_min + 48) <= 5 and abs(wedge.tilt_max - 62) <= 5  # and the sign


def test_one_tomogram_with_a_tilt_file_keeps_its_mask(rng, tmp_path: Path) -> None:
    volume = _pair(rng)[0]
    (tmp_path / "t.tlt").write_text("-50\n55\n")
    mask = np.zeros(volume.shape, dtype=np.uint8)
    mask[8:24, 8:24, 8:24] = 1
    model = tomorestore.train("n2v", input=volume, tilt_angles=tmp_path / "t.tlt", mask=mask,
                              steps=1, config=TINY, progress=False)  # fmt: skip
    assert (model.config.wedge.tilt_min, model.config.wedge.tilt_max) == (-50.0, 55.0)
    assert model.voxel_size is None  # a bare array: no 1 Å placeholder stored
    with pytest.raises(InputError, match="cannot apply to several tomograms"):
        tomorestore.train("n2v", inputs=[volume, volume], mask=mask, steps=1, config=TINY,
                          progress=False)  # fmt: skip
