"""Reading tilt angles from IMOD ``.tlt``/``.rawtlt`` and SerialEM ``.mdoc`` files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tomorestore.errors import InputError
from tomorestore.io import read_tilt_angles, tilt_range_from_angles

MDOC = """\
PixelSpacing = 2.1
ImageFile = TS_01.mrc
ImageSize = 4096 4096
DataMode = 1

[T = SerialEM: Digitized on EMBL Krios                   12-Mar-24  10:11:12    ]

[T =     Tilt axis angle = 85.3, binning = 1  spot = 8  camera = 0]

[ZValue = 0]
TiltAngle = 0.0021
StagePosition = 12.3 -4.5
Magnification = 64000
ExposureDose = 3.1
DateTime = 12-Mar-24  10:12:01

[ZValue = 1]
TiltAngle = -3.0012
StagePosition = 12.3 -4.5

[ZValue = 2]
TiltAngle = 2.9987

[ZValue = 3]
TiltAngle =   -48.0003
MinMaxMean = -12 40 3.2

[ZValue = 4]
TiltAngle = 61.9994
"""


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_tlt_one_angle_per_line_blank_lines_and_crlf(tmp_path):
    path = _write(tmp_path, "TS.tlt", "-60.00\n  -57.0  \n\n-54\r\n  \n 3e1\n60.0\n\n")
    angles = read_tilt_angles(path)
    assert angles.dtype == np.float64
    np.testing.assert_allclose(angles, [-60, -57, -54, 30, 60])
    assert tilt_range_from_angles(angles) == (-60.0, 60.0)


def test_rawtlt_keeps_file_order_and_gives_an_asymmetric_range(tmp_path):
    path = _write(tmp_path, "TS.rawtlt", "0\n3\n-3\n6\n-6\n62\n-48\n")
    angles = read_tilt_angles(str(path))  # a str path works too
    np.testing.assert_allclose(angles, [0, 3, -3, 6, -6, 62, -48])
    assert tilt_range_from_angles(angles) == (-48.0, 62.0)


def test_simulator_tlt_file_round_trips(tmp_path):
    from tomorestore.simulate import simulate_tomogram, write_simulation

    sim = simulate_tomogram((16, 16, 16), tilt_range=(-48, 62), tilt_step=5, seed=0)
    written = write_simulation(sim, tmp_path / "sim")
    angles = read_tilt_angles(written["tilt_angles"])
    np.testing.assert_allclose(angles, sim.tilt_angles, atol=1e-4)


def test_mdoc_tilt_angle_of_each_zvalue_section(tmp_path):
    path = _write(tmp_path, "TS_01.mrc.mdoc", MDOC)
    angles = read_tilt_angles(path)
    np.testing.assert_allclose(angles, [0.0021, -3.0012, 2.9987, -48.0003, 61.9994])
    low, high = tilt_range_from_angles(angles, source=path)
    assert low == pytest.approx(-48.0003) and high == pytest.approx(61.9994)


def test_mdoc_ignores_tilt_angles_outside_zvalue_sections(tmp_path):
    text = "TiltAngle = 80\n[FrameSet = 0]\nTiltAngle = 85\n" + MDOC
    np.testing.assert_allclose(
        read_tilt_angles(_write(tmp_path, "a.mdoc", text))[:2], [0, -3], atol=0.01
    )


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("empty.tlt", "", ["no tilt angles"]),
        ("blank.rawtlt", "\n  \n\n", ["no tilt angles"]),
        ("word.tlt", "-60\n-57\nabc\n", ["line 3", "'abc' is not a number", "one tilt angle"]),
        ("two.tlt", "-60\n-57 -54\n", ["line 2", "not a number"]),
        ("nan.tlt", "-60\nnan\n60\n", ["line 2", "not a finite number"]),
        ("inf.rawtlt", "-60\ninf\n", ["line 2", "not a finite number"]),
        ("big.tlt", "-60\n0\n95\n", ["line 3", "outside (-90, 90)"]),
        ("edge.tlt", "-90\n0\n", ["line 1", "outside (-90, 90)"]),
        ("none.mdoc", "PixelSpacing = 2.1\nImageFile = a.mrc\n", ["no tilt angles", "ZValue"]),
        (
            "missing.mdoc",
            "[ZValue = 0]\nTiltAngle = 1\n[ZValue = 1]\nMagnification = 3\n[ZValue = 2]\n"
            "TiltAngle = 3\n",
            ["line 3", "[ZValue = 1]", "has no 'TiltAngle"],
        ),
        (
            "last.mdoc",
            "[ZValue = 0]\nTiltAngle = 1\n[ZValue = 1]\n",
            ["line 3", "[ZValue = 1]", "has no 'TiltAngle"],
        ),
        (
            "twice.mdoc",
            "[ZValue = 0]\nTiltAngle = 1\nTiltAngle = 2\n",
            ["line 3", "second TiltAngle"],
        ),
        ("bad.mdoc", "[ZValue = 0]\nTiltAngle = minus three\n", ["line 2", "one number"]),
        ("word.mdoc", "[ZValue = 0]\nTiltAngle = abc\n", ["line 2", "'abc' is not a number"]),
        ("nan.mdoc", "[ZValue = 0]\nTiltAngle = NaN\n", ["line 2", "not a finite number"]),
    ],
)
def test_malformed_files_give_a_clear_error_naming_file_and_line(tmp_path, name, text, words):
    path = _write(tmp_path, name, text)
    with pytest.raises(InputError) as info:
        read_tilt_angles(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message


def test_wrong_kind_of_file_is_refused(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_tilt_angles(tmp_path / "absent.tlt")
    with pytest.raises(InputError, match=r"unsupported tilt-angle file type '\.txt'"):
        read_tilt_angles(_write(tmp_path, "angles.txt", "-60\n60\n"))
    with pytest.raises(InputError, match="not a file"):
        read_tilt_angles(_mkdir(tmp_path / "folder.tlt"))
    with pytest.raises(InputError, match="not a text file"):
        read_tilt_angles(_write(tmp_path, "binary.tlt", b"\xff\xfe\x00\x81\x00garbage"))


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.parametrize(
    ("angles", "match"),
    [
        ([10.0], "at least two different tilt angles"),
        ([5.0, 5.0, 5.0], "at least two different tilt angles"),
        ([], "at least two different tilt angles"),
        ([-60.0, float("nan")], "finite numbers in \\(-90, 90\\)"),
        ([-60.0, 91.0], "finite numbers in \\(-90, 90\\)"),
        (["a", "b"], "must be numbers"),
    ],
)
def test_tilt_range_needs_two_distinct_valid_angles(angles, match):
    with pytest.raises(InputError, match=match):
        tilt_range_from_angles(angles, source="TS.tlt")


def test_tilt_range_error_names_its_source():
    with pytest.raises(InputError, match="^TS_07.tlt: "):
        tilt_range_from_angles([3.0], source="TS_07.tlt")
