"""Training on several processes (torch DDP, gloo on the CPU), launched as users launch it.

The command-line runs go through torchrun (``tomorestore train --nproc 2`` and
``torchrun … -m tomorestore -- train``); the stop and sampling checks start two processes
with torch.multiprocessing and the torchrun environment variables, so that they run the
same code path as a torchrun job.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from tomorestore.cli import main
from tomorestore.cli.torchrun_launch import check_nproc, torchrun_command, without_option
from tomorestore.errors import InputError
from tomorestore.training.distributed import ProcessGroup, check_device_choice

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def halves(tmp_path: Path) -> tuple[Path, Path]:
    """A 32³ even/odd pair: smooth structure plus independent noise, voxel size 4 Å."""
    rng = np.random.default_rng(7)
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, 32)] * 3, indexing="ij")
    clean = (np.sin(4 * x) * np.cos(3 * y) + (x**2 + y**2 + z**2 < 0.3)).astype(np.float32)
    paths = []
    for name in ("even", "odd"):
        path = tmp_path / f"{name}.mrc"
        with mrcfile.new(path) as mrc:
            mrc.set_data(clean + rng.standard_normal(clean.shape).astype(np.float32))
            mrc.voxel_size = 4.0
        paths.append(path)
    return paths[0], paths[1]


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parents[1] / "src"), env.get("PYTHONPATH", "")]
    )
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=cwd, env=_environment(), capture_output=True, text=True, timeout=300
    )


def test_nproc_two_trains_one_model_that_restores(halves, tmp_path: Path) -> None:
    even, odd = halves
    out = tmp_path / "model.ckpt"
    result = _run(
        [sys.executable, "-m", "tomorestore", "train", "--nproc", "2", "--device", "cpu",
         "--method", "n2n", "--even", str(even), "--odd", str(odd), "--steps", "6",
         "--patch", "24", "--batch", "2", "--out", str(out), "--quiet"],
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summaries = [line for line in result.stdout.splitlines() if line.startswith("trained n2n")]
    assert len(summaries) == 1, result.stdout  # rank 0 alone prints
    assert "for 6 steps" in summaries[0] and "on 2 processes (gloo" in summaries[0]
    assert "global batch 4" in result.stderr
    import torch

    payload = torch.load(out, weights_only=True)
    assert payload["processes"] == 2 and payload["backend"] == "gloo"
    assert payload["step"] == 6
    assert sorted(p.name for p in tmp_path.glob("*.ckpt")) == ["model.ckpt", "model.last.ckpt"]

    restored = tmp_path / "restored.mrc"
    result = _run(
        [sys.executable, "-m", "tomorestore", "restore", "--model", str(out), "--even",
         str(even), "--odd", str(odd), "--out", str(restored), "--device", "cpu", "--quiet"],
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with mrcfile.open(restored) as mrc:
        assert mrc.data.shape == (32, 32, 32)
        assert np.isfinite(mrc.data).all()
        assert float(mrc.voxel_size.x) == pytest.approx(4.0)

    # torchrun itself, with the "--" that keeps it off tomorestore's options: resume
    more = _run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
         "2", "-m", "tomorestore", "--", "train", "--device", "cpu", "--method", "n2n",
         "--even", str(even), "--odd", str(odd), "--steps", "9", "--out", str(out),
         "--resume", str(out), "--quiet"],
        tmp_path,
    )  # fmt: skip
    assert more.returncode == 0, more.stderr
    assert "for 3 steps" in more.stdout and "on 2 processes" in more.stdout
    assert torch.load(out.with_name("model.last.ckpt"), weights_only=True)["step"] == 9


def test_one_process_under_torchrun_still_trains_through_ddp(halves, tmp_path: Path) -> None:
    """What a one-GPU machine can check: the process group and DDP with one rank."""
    even, odd = halves
    out = tmp_path / "one.ckpt"
    result = _run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
         "1", "-m", "tomorestore", "--", "train", "--device", "cpu", "--method", "n2n",
         "--even", str(even), "--odd", str(odd), "--steps", "3", "--patch", "24",
         "--out", str(out), "--quiet"],
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "on 1 process (gloo, cpu)" in result.stdout
    import torch

    payload = torch.load(out, weights_only=True)
    assert payload["processes"] == 1 and payload["backend"] == "gloo"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rank_main(rank: int, port: int, folder: str, even: str, odd: str) -> None:
    """One of two training processes, as torchrun would start it."""
    os.environ.update(
        WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
    )  # fmt: skip
    import torch

    from tomorestore.data import PatchSampler
    from tomorestore.io import read_volume
    from tomorestore.training import TrainConfig, make_wedge, train_events
    from tomorestore.training.events import Finished, Step

    torch.set_num_threads(1)
    drawn: list[float] = []
    original = PatchSampler.train_batch

    def recording(self, batch_size, rng):
        batch = original(self, batch_size, rng)
        drawn.append(float(np.asarray(batch).sum()))
        return batch

    PatchSampler.train_batch = recording  # type: ignore[method-assign]
    config = TrainConfig(
        method="dewedge", steps=40, batch_size=1, patch_size=24, device="cpu",
        validate_every=2, params={"refill_every": 2}, wedge=make_wedge((-60.0, 60.0)),
    )  # fmt: skip
    steps = []
    finished = None
    for event in train_events(
        config,
        [read_volume(even), read_volume(odd)],
        checkpoint_path=Path(folder) / f"rank{rank}.ckpt",
        should_stop=lambda: rank == 1 and len(steps) >= 5,
    ):
        if isinstance(event, Step):
            steps.append(event.step)
        if isinstance(event, Finished):
            finished = event
    assert finished is not None
    # rank 1 validates nothing: its model holds the last weights (rank 0's may be the best)
    state = finished.model.network.state_dict()
    weights = torch.cat([v.detach().flatten().float() for v in state.values()])
    np.save(Path(folder) / f"rank{rank}.npy", {
        "steps": steps, "stopped": finished.stopped, "drawn": drawn[:3],
        "weights": weights[:200].numpy(),
    }, allow_pickle=True)  # fmt: skip


def test_a_stop_on_one_rank_stops_all_and_rank_0_alone_writes(halves, tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    even, odd = halves
    mp.spawn(
        _rank_main,
        args=(_free_port(), str(tmp_path), str(even), str(odd)),
        nprocs=2,
        join=True,
    )
    ranks = [np.load(tmp_path / f"rank{r}.npy", allow_pickle=True).item() for r in (0, 1)]
    # rank 1 asked to stop after 5 steps: both stopped there, together
    assert ranks[0]["steps"] == ranks[1]["steps"] == [1, 2, 3, 4, 5]
    assert ranks[0]["stopped"] and ranks[1]["stopped"]
    # rank 0 alone wrote its checkpoints
    assert (tmp_path / "rank0.ckpt").is_file() and (tmp_path / "rank0.last.ckpt").is_file()
    assert not list(tmp_path.glob("rank1*.ckpt"))
    import torch

    payload = torch.load(tmp_path / "rank0.last.ckpt", weights_only=True)
    assert payload["step"] == 5 and payload["processes"] == 2
    # DDP kept the weights identical; each process drew its own sub-tomograms
    last = torch.cat([v.flatten().float() for v in payload["state_dict"].values()])
    np.testing.assert_allclose(last[:200].numpy(), ranks[1]["weights"], rtol=1e-5, atol=1e-6)
    assert ranks[0]["drawn"] != ranks[1]["drawn"]


def test_nproc_argument_handling(monkeypatch) -> None:
    argv = ["train", "--nproc", "2", "--method", "n2n", "--nproc=3", "--steps", "5"]
    assert without_option(argv, "--nproc") == ["train", "--method", "n2n", "--steps", "5"]
    command = torchrun_command(["train", "--even", "e.mrc"], 4)
    assert command[1:] == [
        "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "4",
        "-m", "tomorestore", "--", "train", "--even", "e.mrc",
    ]  # fmt: skip
    with pytest.raises(InputError, match="at least 1"):
        check_nproc(0, "cpu")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(InputError, match="torchrun already started"):
        check_nproc(2, "cpu")


def test_cuda_nproc_beyond_the_gpus_is_refused() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(InputError, match="0 CUDA device"):
        check_nproc(2, "cuda")


def test_several_processes_cannot_share_a_numbered_gpu() -> None:
    with pytest.raises(InputError, match="cuda:LOCAL_RANK"):
        check_device_choice("cuda:1", ProcessGroup(size=2, rank=0, backend="nccl"))
    check_device_choice("cuda:1", ProcessGroup())  # one process: any device


def test_single_process_group_reduces_to_itself() -> None:
    group = ProcessGroup()
    assert not group.several and group.is_main
    assert group.any(True) and not group.any(False)
    assert group.mean(2.5) == 2.5


def test_a_leading_double_dash_is_dropped(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--", "train", "--help"])
    assert info.value.code == 0
    assert "--nproc" in capsys.readouterr().out


def test_torchrun_environment_without_a_master_is_a_clear_error(monkeypatch) -> None:
    from tomorestore.training.distributed import process_group

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    with pytest.raises(InputError, match="MASTER_ADDR"), process_group("cpu"):
        pass


@pytest.mark.parametrize("fails", [False, True])
def test_leaving_the_group_meets_the_others_only_after_a_normal_end(monkeypatch, fails) -> None:
    """A run that ended normally waits for every rank before the group goes (so no rank
    exits while another still talks to it); a failed run does not wait (the others may be
    gone), and either way the group is destroyed while Python still runs."""
    import torch.distributed as dist

    from tomorestore.training.distributed import process_group

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name, value in {"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0",
                        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    calls: list[str] = []
    barrier, destroy = dist.barrier, dist.destroy_process_group
    monkeypatch.setattr(dist, "barrier", lambda *a, **k: (calls.append("barrier"), barrier())[1])
    monkeypatch.setattr(
        dist, "destroy_process_group", lambda *a, **k: (calls.append("destroy"), destroy())[1]
    )
    with pytest.raises(RuntimeError) if fails else contextlib.nullcontext():  # noqa: SIM117
        with process_group("cpu") as group:
            assert group.joined and group.backend == "gloo" and dist.is_initialized()
            if fails:
                raise RuntimeError("a rank failed")
    assert calls == (["destroy"] if fails else ["barrier", "destroy"])
    assert not dist.is_initialized()


def _broadcast_main(rank: int, port: int, folder: str) -> None:
    """One of two processes: rank 0's weights reach rank 1."""
    os.environ.update(
        WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
    )  # fmt: skip
    import torch

    from tomorestore.training.distributed import process_group

    module = torch.nn.Linear(3, 2)
    with torch.no_grad():
        module.weight.fill_(float(rank + 1))
    with process_group("cpu") as group:
        group.broadcast_module(module)
    np.save(Path(folder) / f"weights{rank}.npy", module.weight.detach().numpy())


def test_broadcast_gives_every_process_rank_0s_weights(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    mp.spawn(_broadcast_main, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        np.testing.assert_array_equal(np.load(tmp_path / f"weights{rank}.npy"), 1.0)
