"""Scoring on generated data: test scenes drawn at check time, from a seed nobody saw before.

A run on generated data has a test split that is a pure function of its seed, so the learner
could have looked at it, or trained on it by editing the seeds. For such a capstone the score
comes instead from scenes drawn now with a seed made from the operating system's randomness
(`secrets`), above every seed a recipe's own streams use: the same generator and settings as
the recipe (the capstone's `split`, checked before), objects from the test pool only (Fashion-
MNIST's test split and the digits that `split_seed` 0 holds out), so the scenes are new but the
problem is the one the run trained for. summary.json's own test score is not compared: it was
measured on other scenes.
"""

from __future__ import annotations

import secrets
from typing import Any

from dllab.course.capstone_checks import Run
from dllab.course.capstone_projects import Capstone, CapstoneError, CapstoneRefused

__all__ = ["FIRST_SEED", "FRESH_SCENES", "fresh_seed", "score_fresh_scenes"]

FRESH_SCENES = 500  # test scenes drawn per grading: as many as the recipe's own test split
FIRST_SEED = 2**32  # fresh seeds start here; a recipe's streams use split_seed * 3 + 0, 1, 2


def fresh_seed() -> int:
    """A seed made now from the OS's randomness, never one of a recipe's stream seeds."""
    return FIRST_SEED + secrets.randbelow(2**62)


def _fresh_batches(run: Run, spec: Any, pool: Any, seed: int, count: int) -> Any:
    """`count` scenes drawn with `seed`, as the detection task batches its test split."""
    import numpy as np
    import torch

    from dllab.data.scenes import render_scenes
    from dllab.tasks.detection import DetBatch
    from dllab.train.batches import IndexBatches

    scenes = render_scenes(pool, spec, seed=seed, count=count)
    images = torch.from_numpy(np.stack([s.image for s in scenes])).permute(0, 3, 1, 2)
    targets = [
        {"boxes": torch.from_numpy(s.boxes), "labels": torch.from_numpy(s.labels)} for s in scenes
    ]
    bs = run.recipe.data.eval_batch_size or run.recipe.data.batch_size
    plan = lambda epoch: list(torch.arange(count).split(bs))  # noqa: E731
    collate = lambda i: DetBatch(images[i].float() / 255.0, [targets[k] for k in i.tolist()], i)  # noqa: E731
    return IndexBatches(plan, collate, length=-(-count // bs))


def score_fresh_scenes(cap: Capstone, run: Run, seed: int) -> float:
    """The best checkpoint's `cap.metric` on `FRESH_SCENES` scenes drawn with `seed`, after
    checking that the run read the Fashion-MNIST files found now and learned their classes.

    The scenes go through the detection task's own test step and metric (COCO mAP through
    torchmetrics), in the precision the run trained in.
    """
    from dllab.data.scenes import SceneSpec, object_pools
    from dllab.experiment import build_task, load_trained, run_precision
    from dllab.train import distributed
    from dllab.train.trainer import Trainer

    recipe = run.recipe
    pools, checksums = object_pools(None, seed=recipe.split_seed)  # the canonical files
    if run.env.get("data_checksums") != checksums:
        raise CapstoneRefused(
            "env.json's data checksums differ from the Fashion-MNIST files found now: the run's "
            "objects came from other data (or env.json was edited); retrain on the canonical "
            "files (`dllab data verify fashion-mnist`)"
        )
    # the generator's settings, as checked against the recipe: data.image_size, task.max_size…
    spec = SceneSpec(**{k.rpartition(".")[2]: v for k, v in cap.split if k != "split_seed"})
    meta = run.best.get("meta") or {}
    if meta.get("classes") != pools["test"].classes or meta.get("image_size") != spec.image_size:
        raise CapstoneRefused(
            f"the checkpoint was trained for classes {meta.get('classes')} at "
            f"{meta.get('image_size')} px, not the scenes' {len(pools['test'].classes)} classes "
            f"at {spec.image_size} px: retrain with `dllab run {cap.recipe}`"
        )
    task = build_task(recipe, resolved=True)  # its test step and metric; no data of its own
    model, _ = load_trained(run.path)
    device = distributed.pick_device("auto")
    trainer = Trainer(device=device, precision=run_precision(run.path, recipe, device))
    trainer.task, trainer.model = task, model.to(device)
    metrics, _ = trainer.test(_fresh_batches(run, spec, pools["test"], seed, FRESH_SCENES))
    if cap.metric not in metrics:
        raise CapstoneError(f"task {cap.task} reported no {cap.metric} (it gave {list(metrics)})")
    return float(metrics[cap.metric])
