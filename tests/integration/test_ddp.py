"""`torchrun --nproc_per_node=2 -m dllab run quickstart` trains with DDP and writes one run."""

import json
import sys
from pathlib import Path

from ._torchrun import free_port, run_torchrun


def test_torchrun_two_processes_write_one_run_folder(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [
        str(torchrun),
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        "-m",
        "dllab",
        "run",
        "quickstart",
        "train.max_epochs=2",
        "train.threads=1",
        "--run-dir",
        "runs/ddp",
    ]
    out = run_torchrun(cmd, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["ddp"]
    env = json.loads((tmp_path / "runs/ddp/env.json").read_text())
    assert env["world_size"] == 2
    summary = json.loads((tmp_path / "runs/ddp/summary.json").read_text())
    # Each rank sees half the data per epoch: half the optimizer steps of one process.
    assert summary["steps"] == 2 * 21
    assert summary["test"]["test/accuracy"] > 0.8
