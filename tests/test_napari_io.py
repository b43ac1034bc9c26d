"""napari contributions: reader, writer and sample data through the npe2 manifest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from tomorestore._napari._reader import get_reader
from tomorestore.io import read_volume, write_volume


def test_manifest_is_valid_and_its_commands_import():
    import npe2

    manifest = npe2.PluginManifest.from_distribution("tomorestore")
    assert manifest.name == "tomorestore"
    assert manifest.display_name == "tomorestore"
    manifest.validate_imports()
    assert {r.command for r in manifest.contributions.readers} == {"tomorestore.get_reader"}
    assert manifest.contributions.writers[0].layer_types == ["image"]


def test_napari_modules_import_without_torch_or_qt():
    code = (
        "import sys\n"
        "import tomorestore._napari._reader, tomorestore._napari._writer\n"
        "import tomorestore._napari._sample_data\n"
        "heavy = sorted(m for m in ('torch', 'napari', 'PyQt6', 'qtpy') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("name", ["a.mrc", "a.REC", "a.st", "a.map", "a.ali", "a.tif", "a.tiff"])
def test_get_reader_claims_tomogram_files(name):
    assert callable(get_reader(name))


@pytest.mark.parametrize("path", ["a.png", "a.npy", ["a.mrc", "b.zarr"], []])
def test_get_reader_declines_other_files(path):
    assert get_reader(path) is None


def test_reader_function_returns_layer_with_geometry(mrc_path, tiny_volume):
    layers = get_reader([str(mrc_path)])([str(mrc_path)])
    assert len(layers) == 1
    data, kwargs, layer_type = layers[0]
    assert layer_type == "image"
    np.testing.assert_array_equal(data, tiny_volume)
    assert kwargs["name"] == "tiny"
    assert kwargs["scale"] == (3.0, 2.0, 1.0)
    assert kwargs["translate"] == (30.0, 20.0, 10.0)
    assert kwargs["units"] == ("angstrom",) * 3
    assert kwargs["metadata"]["voxel_size"] == (3.0, 2.0, 1.0)
    assert kwargs["metadata"]["source_path"] == str(mrc_path)


@pytest.mark.gui
def test_viewer_opens_mrc_with_scale_units_and_name(make_napari_viewer, mrc_path, tiny_volume):
    viewer = make_napari_viewer()
    layers = viewer.open(mrc_path, plugin="tomorestore")
    assert len(layers) == 1
    layer = layers[0]
    assert layer.name == "tiny"
    np.testing.assert_allclose(layer.scale, (3.0, 2.0, 1.0))
    np.testing.assert_allclose(layer.translate, (30.0, 20.0, 10.0))
    assert [str(u) for u in layer.units] == ["angstrom"] * 3
    np.testing.assert_array_equal(np.asarray(layer.data), tiny_volume)


@pytest.mark.gui
def test_viewer_opens_imagej_tiff_in_angstrom(make_napari_viewer, tmp_path, rng):
    path = tmp_path / "stack.tif"
    data = rng.integers(0, 255, size=(6, 10, 8)).astype(np.uint8)
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(1 / 1.5, 1 / 1.5),
        metadata={"spacing": 2.0, "unit": "nm"},
    )
    viewer = make_napari_viewer()
    [layer] = viewer.open(path, plugin="tomorestore")
    np.testing.assert_allclose(layer.scale, (20.0, 15.0, 15.0))


@pytest.mark.gui
def test_viewer_saves_layer_as_mrc_with_voxel_size(make_napari_viewer, tmp_path, tiny_volume):
    viewer = make_napari_viewer()
    viewer.add_image(tiny_volume, name="restored", scale=(3.0, 2.0, 1.0), translate=(6, 4, 2))
    target = tmp_path / "restored.mrc"
    written = viewer.layers.save(str(target), plugin="tomorestore")
    assert [Path(p) for p in written] == [target]
    volume = read_volume(target)
    np.testing.assert_array_equal(volume.data, tiny_volume)
    assert volume.voxel_size == (3.0, 2.0, 1.0)
    assert volume.origin == (6.0, 4.0, 2.0)


@pytest.mark.gui
def test_viewer_round_trip_open_then_save(make_napari_viewer, tmp_path, mrc_path):
    viewer = make_napari_viewer()
    viewer.open(mrc_path, plugin="tomorestore")
    target = tmp_path / "copy.rec"
    viewer.layers.save(str(target), selected=True, plugin="tomorestore")
    original, copy = read_volume(mrc_path), read_volume(target)
    assert copy.voxel_size == original.voxel_size
    assert copy.origin == original.origin
    np.testing.assert_array_equal(copy.data, original.data)


def test_writer_converts_layer_units_to_angstrom(tmp_path, tiny_volume):
    from tomorestore._napari._writer import write_mrc_layer

    target = tmp_path / "nm.mrc"
    meta = {"scale": (0.3, 0.2, 0.1), "translate": (1.0, 0.0, 0.0), "units": ("nm",) * 3}
    assert write_mrc_layer(str(target), tiny_volume, meta) == [str(target)]
    volume = read_volume(target)
    assert volume.voxel_size == pytest.approx((3.0, 2.0, 1.0))
    assert volume.origin == pytest.approx((10.0, 0.0, 0.0))
    pixels = write_mrc_layer(str(tmp_path / "px.mrc"), tiny_volume, {"units": ("pixel",) * 3})
    assert read_volume(pixels[0]).voxel_size == (1.0, 1.0, 1.0)


def test_writer_rejects_a_2d_layer(tmp_path):
    from tomorestore._napari._writer import write_mrc_layer
    from tomorestore.errors import InputError

    with pytest.raises(InputError, match="expected a 3D volume"):
        write_mrc_layer(str(tmp_path / "x.mrc"), np.zeros((4, 4)), {"name": "flat"})


@pytest.mark.gui
def test_sample_data_gives_four_layers_with_scale(make_napari_viewer):
    viewer = make_napari_viewer()
    layers = viewer.open_sample("tomorestore", "synthetic_tomogram")
    names = [layer.name for layer in layers]
    assert names == [
        "synthetic full",
        "synthetic even",
        "synthetic odd",
        "synthetic ground truth",
    ]
    for layer in layers:
        assert layer.data.ndim == 3
        assert layer.data.dtype == np.float32
        np.testing.assert_allclose(layer.scale, (10.0, 10.0, 10.0))  # simulator default
        assert [str(u) for u in layer.units] == ["angstrom"] * 3
    assert layers[0].data.shape == layers[3].data.shape
    assert not np.array_equal(layers[1].data, layers[2].data)


def test_write_volume_file_is_readable_by_reader(tmp_path, tiny_volume):
    path = write_volume(tmp_path / "w.map", tiny_volume, voxel_size=(4.0, 5.0, 6.0))
    [(data, kwargs, _)] = get_reader(str(path))(str(path))
    assert kwargs["scale"] == (4.0, 5.0, 6.0)
    np.testing.assert_array_equal(data, tiny_volume)
