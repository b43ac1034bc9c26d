"""The napari forms are generated from the pydantic configs; the Train widget's config.

GUI tests: ``xvfb-run -a pytest tests/test_widget_forms.py``.
"""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, Field

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, SpinBox  # noqa: E402

from tomorestore._napari._widgets import TrainWidget  # noqa: E402
from tomorestore._napari._widgets.config_form import ConfigForm  # noqa: E402
from tomorestore._napari._widgets.field_widgets import Auto, AutoNumber  # noqa: E402
from tomorestore.errors import InputError  # noqa: E402
from tomorestore.methods import MethodParams  # noqa: E402

pytestmark = pytest.mark.gui


class Inner(BaseModel):
    size: int = Field(3, ge=1, le=9, description="Inner size.")


class Sample(BaseModel):
    label: str = Field("x", description="Some text.")
    pair: tuple[int, int] = Field((1, 2), description="Not shown: no widget for tuples.")
    count: int = Field(5, gt=0, lt=100, description="How many.")
    rate: float = Field(1e-3, gt=0.0, le=1.0, description="A small rate.")
    weight: float = Field(2.0, ge=0.0, le=1000.0, description="A weight.")
    flag: bool = Field(True, description="A switch.")
    kind: Literal["a", "b"] = Field("b", description="A choice.")
    depth: int | None = Field(None, ge=1, le=5, description="None: automatic.")
    inner: Inner = Field(default_factory=Inner, description="Nested settings.")


def test_fields_become_widgets_with_the_models_bounds_defaults_and_help(qtbot):
    form = ConfigForm(Sample, auto={"depth": Auto("auto (3)", 3)})
    qtbot.addWidget(form.native)
    names = ("label", "count", "rate", "weight", "flag", "kind", "depth", "inner")
    assert form.field_names == names and form.skipped == ("pair",)
    assert form["label"].value == "x"  # (form.label is the container's own label)
    count = form["count"]  # (form.count is the container's list method)
    assert isinstance(count, SpinBox)
    assert (count.min, count.max, count.value) == (1, 99, 5)  # gt/lt are exclusive
    assert isinstance(form.rate, FloatSpinBox)
    assert 0 < form.rate.min < 1e-5 and form.rate.max == 1.0
    assert form.rate.value == pytest.approx(1e-3)
    assert form.rate.native.decimals() >= 5  # enough for learning rates such as 2.5e-4
    assert isinstance(form.flag, CheckBox) and form.flag.value is True
    assert isinstance(form.kind, ComboBox) and form.kind.choices == ("a", "b")
    assert isinstance(form.depth, AutoNumber) and form.depth.value is None
    assert (form.depth.number.min, form.depth.number.max) == (1, 5)
    assert count.tooltip == "How many." and form.inner.tooltip == "Nested settings."
    assert isinstance(form.inner, ConfigForm) and form.inner.size.value == 3
    assert Sample(**form.values()) == Sample()  # the defaults round-trip


def test_form_values_round_trip_through_the_model(qtbot):
    form = ConfigForm(Sample)  # no Auto for depth: None is a "default" tick
    qtbot.addWidget(form.native)
    assert form.depth.value is None and form.depth.auto.text == "default"
    form.set_values({"rate": 2.5e-4, "kind": "a", "depth": 2, "inner": {"size": 7}})
    model = Sample(**form.values())
    assert model.rate == pytest.approx(2.5e-4) and model.kind == "a"
    assert model.depth == 2 and model.inner.size == 7
    form.set_values({"inner": Inner(size=4)})
    assert form.values()["inner"] == {"size": 4}
    with pytest.raises(KeyError):
        form.set_values({"colour": 1})
    with pytest.raises(ValueError):
        form.set_values({"count": 100})  # lt=100


@pytest.fixture
def train(make_napari_viewer):
    """A Train widget on a viewer with one 32³ tomogram."""
    import numpy as np

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32, 32), np.float32), name="tomo")
    return TrainWidget(viewer)


def _cpu_only(monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_custom_network_keeps_the_methods_norm(train, monkeypatch):
    """n2n with a set depth or channel count still trains without normalisation."""
    from tomorestore.methods import get_method

    _cpu_only(monkeypatch)
    train.set_parameters(method="n2n", depth=2, base_channels=8, device="cpu")
    network = train.config().network
    assert (network.depth, network.base_channels) == (2, 8)
    assert network.norm == "none" == get_method("n2n").network_norm
    train.set_parameters(method="n2v", depth=2)
    network = train.config().network
    assert network.norm == get_method("n2v").network_norm
    assert network.n2v2 is get_method("n2v").n2v2_network


def test_auto_channels_follow_the_resolved_device(train, monkeypatch):
    _cpu_only(monkeypatch)
    train.set_parameters(method="n2n", depth=2, base_channels=None, device="auto")
    assert train.config().network.base_channels == 16  # auto device is the CPU here
    train.set_parameters(depth=0)  # both automatic: the core picks the network
    assert train.config().network is None


def test_method_parameters_are_set_from_the_form(train):
    train.set_parameters(method="dewedge", wedge_weight=5.0, refill_every=0)
    assert "wedge_weight" in train.form.params.field_names
    params = train.config().params
    assert (params.wedge_weight, params.refill_every) == (5.0, 0)
    train.set_parameters(method="ei", params={"blind_spot": {"mask_percent": 0.5}})
    assert train.config().params.blind_spot.mask_percent == 0.5
    with pytest.raises(InputError, match="wedge_weight"):
        train.set_parameters(wedge_weight=-1.0)  # out of EIParams' range
    with pytest.raises(InputError, match="unknown parameter"):
        train.set_parameters(colour="red")
    with pytest.raises(InputError, match="unknown method"):
        train.set_parameters(method="magic")
    train.set_parameters(method="n2v", neighbourhood=12)  # in range, but must be odd
    with pytest.raises(InputError, match="neighbourhood"):
        train.config()  # the model's own rule, reported (start() shows it as a notification)


def test_a_registered_method_appears_with_its_parameters(make_napari_viewer):
    """The method list and the Advanced parameters come from the registry."""
    from tomorestore.methods import Method, register_method, unregister_method

    class ToyParams(MethodParams):
        strength: float = Field(0.5, ge=0.0, le=2.0, description="How strong.")
        shape: Literal["round", "square"] = Field("round", description="Which shape.")

    class Toy(Method):
        name = "toy"
        title = "a test method"
        params_type = ToyParams
        accepts_single = True
        needs_wedge = False
        default_steps = 7
        default_batch_size = 1
        default_patch_size = 16
        default_learning_rate = 1e-3

        def training_loss(self, model, batch, *, generator):
            return model(batch[:, :1]).mean()

    register_method(Toy)
    try:
        viewer = make_napari_viewer()
        train = TrainWidget(viewer)
        combo = train.form.main.method
        assert "toy" in combo.choices
        assert Toy.label() in [combo.native.itemText(i) for i in range(len(combo))]
        train.set_parameters(method="toy", strength=1.5)
        assert train.form.main.steps.value == 7
        assert train.form.params.field_names == ("strength", "shape")
        assert train.form.params.strength.tooltip == "How strong."
        assert "toy parameters" in train.form.params_title.value
        import numpy as np

        viewer.add_image(np.zeros((32, 32, 32), np.float32), name="tomo")
        config = train.config()
        assert config.method == "toy" and config.params == ToyParams(strength=1.5)
    finally:
        unregister_method("toy")
