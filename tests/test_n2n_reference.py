"""benchmarks/n2n_reference.py: the plain Noise2Noise reference and its same-run comparison
with tomorestore's n2n write one JSON part with both rows, their scores and the curve."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_plain_unet_keeps_the_shape_of_any_input(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from plain_n2n import PlainUNet

    for norm in ("instance", "batch", "none"):
        net = PlainUNet(depth=2, base=4, norm=norm, residual=norm == "none").eval()
        with torch.no_grad():
            assert net(torch.zeros(1, 1, 9, 12, 13)).shape == (1, 1, 9, 12, 13)


def test_reference_and_tomorestore_rows_in_one_part(tmp_path):
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "n2n_reference.py"), "--case", "sparse",
         "--shape", "16", "32", "32", "--steps", "4", "--patch", "16", "--score-every", "2",
         "--compare", "--train", "steps=2", "--label", "tiny", "--results", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    part = json.loads((tmp_path / "n2n_reference_sparse_tiny.json").read_text())
    reference, ours = part["rows"]
    assert reference["name"] == "plain reference (tiny)" and ours["name"] == "tomorestore n2n"
    assert [p["step"] for p in reference["curve"]] == [2, 4]
    assert reference["settings"]["norm"] == "instance" and reference["settings"]["residual"]
    assert ours["steps"] == 2 and ours["config"]["method"] == "n2n"
    for row in (reference, ours):
        for key in ("structure", "wedge_noline", "measured", "fsc_mean"):
            assert -1.0 <= row[key] <= 1.0
    assert part["meta"]["shape"] == [16, 32, 32] and "load_end" in part["meta"]
