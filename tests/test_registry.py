"""The method registry is the one list of methods: CLI, configuration and checkpoints use it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tomorestore.cli import build_parser, main
from tomorestore.errors import InputError
from tomorestore.methods import METHODS, Method, get_method, method_names, register_method
from tomorestore.training import RestorationModel, TrainConfig, make_config


def test_builtin_methods_in_menu_order() -> None:
    assert method_names() == ("n2v", "n2n", "dewedge", "ei")
    assert all(issubclass(cls, Method) for cls in METHODS.values())
    assert get_method("dewedge").label().startswith("dewedge: ")


def test_registration_checks_the_class(toy_method) -> None:
    with pytest.raises(ValueError, match="already registered"):

        class Other(toy_method):
            pass

        register_method(Other)
    with pytest.raises(TypeError, match="lacks"):
        register_method(type("Bare", (), {"name": "bare"}))


def _choices(parser, dest: str) -> tuple:
    sub = next(a for a in parser._actions if a.dest == "command").choices["train"]
    return next(a for a in sub._actions if a.dest == dest).choices, sub.format_help()


def test_a_registered_method_appears_in_the_cli_and_the_config(toy_method, tmp_path: Path):
    choices, help_text = _choices(build_parser(), "method")
    assert "toy" in choices and "a toy for tests" in help_text
    assert "--gain" in help_text and "[toy] Scale of the target. (>= 0.5, <= 2)" in help_text
    config = make_config(method="toy", params={"gain": 1.5})
    assert type(config.params).__name__ == "ToyParams" and config.params.gain == 1.5
    assert TrainConfig.from_yaml(config.to_yaml()) == config
    with pytest.raises(InputError, match="gain"):
        make_config(method="toy", params={"gain": 5.0})  # bounds from the params model


def test_a_registered_method_trains_from_the_cli(toy_method, tmp_path: Path, rng) -> None:
    from tomorestore.io import write_volume

    for name in ("even", "odd"):
        write_volume(tmp_path / f"{name}.mrc", rng.standard_normal((32, 32, 32)).astype("f4"))
    out = tmp_path / "toy.ckpt"
    even, odd = str(tmp_path / "even.mrc"), str(tmp_path / "odd.mrc")
    args = ["train", "--method", "toy", "--even", even, "--odd", odd, "--gain", "0.75",
            "--flip", "--quiet", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    model = RestorationModel.load(out)
    assert model.method_name == "toy" and model.config.params.gain == 0.75
    assert model.config.params.flip is True
    assert model.config.network.norm == "none"  # the method's network_norm
    halves = [rng.standard_normal((32, 32, 32)).astype("f4") for _ in range(2)]
    assert model.restore(halves, tile=32).shape == (32, 32, 32)


def test_a_flag_of_another_method_is_refused(tmp_path: Path, rng, capsys) -> None:
    from tomorestore.io import write_volume

    write_volume(tmp_path / "t.mrc", rng.standard_normal((32, 32, 32)).astype("f4"))
    args = ["train", "--method", "n2v", "--input", str(tmp_path / "t.mrc"),
            "--wedge-weight", "20", "--out", str(tmp_path / "m.ckpt")]  # fmt: skip
    assert main(args) == 2
    assert "--wedge-weight is a parameter of dewedge, ei, not of n2v" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tmp_path / "t.mrc"]


def test_unknown_method_in_a_config_names_the_registered_ones() -> None:
    with pytest.raises(InputError, match="choose one of n2v, n2n, dewedge, ei"):
        make_config(method="careamics")


def test_format_1_configurations_still_read() -> None:
    legacy = {"method": "dewedge", "n2v": {}, "n2n": {}, "dewedge": {"wedge_weight": 7.0}, "ei": {}}
    config = TrainConfig.model_validate(legacy)
    assert config.params.wedge_weight == 7.0
    assert "dewedge" not in config.model_dump()
