"""``tomorestore restore --device A,B``: the files of a data set spread over several workers.

On CPU with ``--device cpu,cpu`` (two workers on one device), 32³ volumes, a tiny network.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import mrcfile
import numpy as np
import pytest

import tomorestore
from tomorestore.cli import main
from tomorestore.errors import Cancelled, InputError
from tomorestore.io import Volume, read_volume, write_volume
from tomorestore.training.device_workers import parse_devices, run_on_devices

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


def _volume(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (2.0 + rng.standard_normal(SHAPE)).astype(np.float32)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "n2v.ckpt"
    tomorestore.train("n2v", input=_volume(1), steps=2, config=TINY, progress=False, out=path)
    return path


@pytest.fixture
def inputs(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "data"
    folder.mkdir()
    paths = [folder / f"t{k}.mrc" for k in range(3)]
    for k, path in enumerate(paths):
        write_volume(path, Volume(data=_volume(10 + k), voxel_size=(4.0, 5.0, 6.0)))
    return paths


def _restore(model: Path, *args: str | Path) -> int:
    return main(["restore", "--model", str(model), "--tile", "32", "--quiet",
                 *[str(a) for a in args]])  # fmt: skip


def _read(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(read_volume(p).data) for p in sorted(folder.iterdir())}


def test_two_workers_restore_what_one_worker_restores(model_path, inputs, tmp_path, capsys):
    one, two = tmp_path / "one", tmp_path / "two"
    assert _restore(model_path, "--input", *inputs, "--out-dir", one, "--device", "cpu") == 0
    single = capsys.readouterr().out
    assert " on 2 workers" not in single and single.count("with n2v (step 2) in ") == 3
    code = _restore(model_path, "--input", *inputs, "--out-dir", two, "--device", "cpu,cpu")
    assert code == 0
    captured = capsys.readouterr().out
    assert "restored 3 of 3 with n2v on 2 workers (cpu, cpu)" in captured
    assert captured.count("restored 32x32x32 with n2v (step 2) on cpu") == 3
    first, second = _read(one), _read(two)
    assert sorted(first) == sorted(second) == [f"t{k}_restored.mrc" for k in range(3)]
    for name in first:
        assert np.abs(first[name] - np.asarray(read_volume(inputs[0]).data)).max() > 0
        np.testing.assert_allclose(second[name], first[name], rtol=0, atol=1e-5)
    assert read_volume(two / "t1_restored.mrc").voxel_size == (4.0, 5.0, 6.0)


def test_a_failing_file_does_not_stop_the_other_worker(model_path, inputs, tmp_path, capsys):
    bad = _volume(3)
    bad[1, 2, 3] = np.nan  # passes the start-up check (header only), fails when restored
    with mrcfile.new(inputs[1], overwrite=True) as mrc:
        mrc.set_data(bad)
    out = tmp_path / "out"
    code = _restore(model_path, "--input", *inputs, "--out-dir", out, "--device", "cpu,cpu")
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["t0_restored.mrc", "t2_restored.mrc"]
    captured = capsys.readouterr()
    assert "restored 2 of 3 with n2v on 2 workers" in captured.out
    assert "1 failed:" in captured.out
    listed = [line for line in captured.err.splitlines() if line.startswith("  ")]
    assert len(listed) == 1 and "t1.mrc" in listed[0] and "NaN" in listed[0]


def test_done_files_are_skipped_with_several_workers(model_path, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    write_volume(out / "t0_restored.mrc", np.zeros(SHAPE, np.float32))
    code = _restore(model_path, "--input", *inputs, "--out-dir", out, "--device", "cpu,cpu")
    assert code == 0
    assert "skipped 1 already done" in capsys.readouterr().out
    assert not np.asarray(read_volume(out / "t0_restored.mrc").data).any()
    assert np.asarray(read_volume(out / "t2_restored.mrc").data).any()


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("cpu,cuda:7", "'cuda:7' is not available on this machine; use 'auto' or one of: cpu"),
        ("cpu,", "has an empty entry"),
        ("cpu,tpu9", "unknown device 'tpu9'"),
    ],
)
def test_bad_device_lists_exit_2_and_write_nothing(
    model_path, inputs, tmp_path, capsys, device, message
):
    out = tmp_path / "out"
    code = _restore(model_path, "--input", *inputs, "--out-dir", out, "--device", device)
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_unreadable_input_exits_2_before_any_worker_starts(model_path, inputs, tmp_path, capsys):
    inputs[2].write_bytes(b"not an mrc file" * 100)
    out = tmp_path / "out"
    code = _restore(model_path, "--input", *inputs, "--out-dir", out, "--device", "cpu,cpu")
    assert code == 2
    assert "t2.mrc" in capsys.readouterr().err
    assert not out.exists()


def test_parse_devices():
    assert [str(d) for d in parse_devices("cpu, cpu,cpu")] == ["cpu", "cpu", "cpu"]
    assert [str(d) for d in parse_devices(None)] == [str(parse_devices("auto")[0])]
    with pytest.raises(InputError, match="in the device list 'cpu,cuda:3'"):
        parse_devices("cpu,cuda:3")


def test_each_worker_gets_its_own_replica_and_every_item_runs_once():
    seen: list[tuple[int, str, str]] = []

    def work(replica, item, device, should_stop):
        time.sleep(0.01)
        seen.append((item, replica, threading.current_thread().name))
        if item == 3:
            raise ValueError("item 3 is bad")
        return item * 10

    outcomes = run_on_devices(list(range(8)), ["cpu", "cpu"], work, replicas=["r0", "r1"])
    assert [o.index for o in outcomes] == list(range(8))
    assert [o.result for o in outcomes] == [0, 10, 20, None, 40, 50, 60, 70]
    assert isinstance(outcomes[3].error, ValueError)
    assert sorted(item for item, _, _ in seen) == list(range(8))
    threads = {replica: {t for _, r, t in seen if r == replica} for replica in ("r0", "r1")}
    assert all(len(names) == 1 for names in threads.values())  # a replica stays in its thread
    assert threads["r0"] != threads["r1"]  # and both workers took items


def test_a_cancelled_job_stops_the_other_workers():
    started: list[int] = []

    def work(replica, item, device, should_stop):
        started.append(item)
        if item == 0:
            raise Cancelled("stop")
        for _ in range(200):
            if should_stop():
                raise Cancelled("stopped by the other worker")
            time.sleep(0.005)
        return item

    with pytest.raises(Cancelled):
        run_on_devices(list(range(20)), ["cpu", "cpu"], work)
    assert len(started) < 20


def test_one_worker_runs_in_the_calling_thread():
    names = []
    run_on_devices([1, 2], ["cpu"], lambda r, i, d, s: names.append(threading.current_thread()))
    assert names == [threading.current_thread()] * 2
