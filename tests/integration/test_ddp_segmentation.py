"""`torchrun --nproc_per_node=2` trains both segmentation projects with DDP: one run folder,
each rank on its half of the training data, and validation and test metrics over the whole
split, each image or volume counted once (checked against a one-process `evaluate_run` of the
same weights)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dllab.config import load_recipe
from dllab.errors import ConfigError
from dllab.experiment import evaluate_run
from dllab.tasks import create_task
from dllab.train.batches import eval_shard

from ._torchrun import GLOO_ABORT, free_port, run_torchrun

SEGMENTATION = [
    "task.image_height=32",
    "task.image_width=64",
    "task.crop_height=16",
    "task.crop_width=32",
    "task.train_images=8",  # 4 a rank: 2 steps of 2 (one process: 4 steps)
    "task.val_images=3",  # odd: a padded share would count one image twice
    "task.test_images=3",
    "task.shifted_images=2",
    "task.show=2",
    "data.batch_size=2",
    "data.eval_batch_size=2",
    "model.kwargs.width=4",
]
MEDICAL = [
    "data.image_size=24",
    "data.batch_size=1",
    "data.eval_batch_size=1",
    "task.roi_size=16",
    "task.train_volumes=4",  # 2 a rank: 2 steps of 1 volume (one process: 4 steps)
    "task.val_volumes=3",
    "task.test_volumes=2",
    "task.objects=4",
    "task.crops_per_volume=1",
    "task.sw_batch_size=8",
    "model.name=monai-unet3d-s",
    "model.kwargs.channels=[8, 16, 32, 64]",
]
ONE_EPOCH = [
    "train.max_epochs=1",
    "train.max_time=null",
    "schedule.follow_time=false",
    "train.val_every=0",  # one validation, at the epoch's end: it picks best.safetensors
    "train.threads=1",
]


def _torchrun(cwd: Path, recipe: str, overrides: list[str]) -> Path:
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [
        str(torchrun),
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        "-m",
        "dllab",
        "run",
        recipe,
        *overrides,
        *ONE_EPOCH,
        "--run-dir",
        "runs/ddp",
    ]
    out = run_torchrun(cmd, cwd)
    assert out.returncode == 0, out.stderr[-3000:]
    assert [p.name for p in (cwd / "runs").iterdir()] == ["ddp"]
    run = cwd / "runs" / "ddp"
    assert json.loads((run / "env.json").read_text())["world_size"] == 2
    return run


def _same_as_one_process(run: Path, metrics: list[str]) -> dict:
    """summary.json of `run`, after checking its validation (best) and test metrics equal a
    one-process evaluation of the same weights on the whole splits."""
    summary = json.loads((run / "summary.json").read_text())
    again = evaluate_run(run)
    for name in metrics:
        assert summary["best"][f"val/{name}"] == pytest.approx(again[f"val/{name}"], abs=1e-5)
        assert summary["test"][f"test/{name}"] == pytest.approx(again[f"test/{name}"], abs=1e-5)
    return summary


# Slow: two processes each importing torch and dllab cost ~16 s of CPU (one core); the
# medical test below keeps the shared evaluation sharding (`eval_shard`) in `make test`.
@pytest.mark.slow
def test_segmentation_trains_under_torchrun_with_whole_split_metrics(tmp_path: Path) -> None:
    run = _torchrun(tmp_path, "segmentation-unet", SEGMENTATION)
    # not val/loss: batch Dice depends on how the images are batched, which DDP changes
    summary = _same_as_one_process(run, ["miou", "pixel_accuracy"])
    assert summary["steps"] == 2  # each rank saw half of the 8 training images
    report = (run / "report.md").read_text()
    assert report.count("(overlays.png)") == 1  # written once, by rank 0


def test_medical_trains_under_torchrun_with_whole_split_metrics(tmp_path: Path) -> None:
    pytest.importorskip("monai")
    run = _torchrun(tmp_path, "medical-3d", MEDICAL)
    summary = _same_as_one_process(run, ["dice", "hd95", "loss"])
    assert summary["steps"] == 2  # each rank saw half of the 4 training volumes
    assert (run / "slices_worst.png").exists()


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_evaluation_shards_cover_every_item_exactly_once(n: int) -> None:
    for world in range(1, n + 1):
        shares = [eval_shard(n, rank, world).tolist() for rank in range(world)]
        assert sorted(sum(shares, [])) == list(range(n))
        assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_a_validation_split_smaller_than_the_process_count_is_refused() -> None:
    task = create_task("segmentation", recipe=load_recipe("segmentation-unet", SEGMENTATION))
    task.options.val_images = 1
    with pytest.raises(ConfigError, match=r"task.val_images gives 1 item.*at least 2"):
        task.setup(rank=0, world=2)


def test_run_torchrun_tries_again_after_the_abort_only(tmp_path: Path, monkeypatch) -> None:
    """The retry hides the one known abort, never another failure, and starts clean."""
    calls: list[list[str]] = []
    results = iter([(1, f"rank 1\n{GLOO_ABORT}\n"), (0, ""), (1, "ValueError: boom\n")])

    def fake_run(cmd: list[str], **_: object) -> subprocess.CompletedProcess:
        calls.append(cmd)
        code, err = next(results)
        return subprocess.CompletedProcess(cmd, code, "", err)

    monkeypatch.setattr(subprocess, "run", fake_run)
    (tmp_path / "runs" / "ddp").mkdir(parents=True)
    cmd = ["torchrun", "--nproc_per_node=2", "--master_addr=127.0.0.1", "--master_port=1", "-m"]
    assert run_torchrun(cmd, tmp_path).returncode == 0
    assert len(calls) == 2 and calls[1][3] != "--master_port=1" and calls[1][4:] == ["-m"]
    assert not (tmp_path / "runs").exists()  # the failed try's half-written run is gone
    assert run_torchrun(cmd, tmp_path).returncode == 1  # another error: reported, no retry
    assert len(calls) == 3
