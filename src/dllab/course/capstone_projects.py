"""The capstone projects: which task and data each grades, its metric and its bar.

A capstone names the shipped recipe to start from and the recipe settings that decide which
items are test items (`split`); a run whose settings differ is refused before anything is
scored (`capstone_checks.check_recipe`). Where the data is generated (`generated`), those
settings are the generator's too, and the score comes from scenes drawn at check time
(`capstone_fresh`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dllab.errors import DllabError
from dllab.lab.checks import Text, text

CLAIM_TOLERANCE = 0.005  # summary.json's test score may differ this much from the rerun
# (another CPU may round bf16 differently); a larger gap means the file was edited


class CapstoneError(DllabError):
    """An unknown capstone, or a run folder or record that cannot be read."""


class CapstoneRefused(CapstoneError):
    """A run that cannot be graded: not on the canonical data and split, not selected on
    validation, or not the run its files say it is."""


@dataclass(frozen=True)
class Capstone:
    name: str
    title: Text
    task: str  # the task every graded run must use
    recipe: str  # the shipped recipe to start from (it trains on the canonical split)
    dataset: str  # data.name
    metric: str  # recomputed on the test split
    bar: float
    beats: bool = False  # the score must be above the bar (else at least the bar)
    split: tuple[tuple[str, Any], ...] = ()  # recipe settings that decide the test items
    meta: tuple[tuple[str, Any], ...] = ()  # checkpoint metadata that defines the problem
    practice: bool = False  # a warm-up (seconds to train), not one of the course's capstones
    generated: bool = False  # data drawn by a generator: scored on a fresh seed made at check
    # time (`capstone_fresh`), so the test scenes are ones the learner never saw


CAPSTONES: dict[str, Capstone] = {
    c.name: c
    for c in (
        Capstone(
            "fashion-mnist",
            text("Image classification on Fashion-MNIST", "Fashion-MNIST 图像分类"),
            task="classification",
            recipe="fashion-mnist",
            dataset="fashion-mnist",
            metric="test/accuracy",
            bar=0.90,
            # the test split is the dataset's own 10,000 images: the split seed only moves
            # images between training and validation
        ),
        Capstone(
            "sentiment",
            text("Chinese review sentiment", "中文评论情感分析"),
            task="sentiment",
            recipe="sentiment-zh",
            dataset="reviews-zh",
            metric="test/accuracy",
            bar=0.85,
            split=(("data.test_fraction", 0.1), ("split_seed", 0)),  # the sentiment-zh recipes'
        ),
        Capstone(
            "ner",
            text("Named entities in People's Daily", "人民日报命名实体识别"),
            task="ner",
            recipe="ner-peoples-daily",
            dataset="peoples-daily",
            metric="test/f1",
            bar=0.85,
            split=(("data.test_fraction", 0.1), ("split_seed", 0)),
        ),
        Capstone(
            "forecasting",
            text(
                "Sunspot forecasting, against seasonal naive", "太阳黑子预测（对比季节性朴素预测）"
            ),
            task="timeseries",
            recipe="sunspots-lstm",
            dataset="sunspots",
            metric="test/skill",  # 1 - MAE / MAE(seasonal naive)
            bar=0.0,
            beats=True,
            split=(("data.test_fraction", 0.2),),  # in time order: the last 62 years
            meta=(("horizon", 11),),  # one solar cycle ahead, as the baseline is scored
        ),
        Capstone(
            "detection",
            text("Object detection on synthetic scenes", "合成场景中的目标检测"),
            task="detection",
            recipe="detection-scenes",
            dataset="scenes",
            metric="test/map",  # COCO mAP@0.5:0.95 on fresh test scenes
            bar=0.35,  # the recipe: 0.511 in its 20 minutes, 0.411 in 8 (1 thread, busy CPU)
            # objects of the test pool (Fashion-MNIST's test split, the digits split_seed 0
            # holds out) in scenes drawn as the recipe draws them: the generator's settings
            split=(
                ("split_seed", 0),
                ("data.image_size", 128),
                ("task.max_objects", 6),
                ("task.min_size", 14),
                ("task.max_size", 56),
                ("task.clutter", 4),
            ),
            generated=True,
        ),
        Capstone(
            "digits",
            text("Warm-up: the quickstart digits", "热身：quickstart 手写数字"),
            task="classification",
            recipe="quickstart",
            dataset="digits",
            metric="test/accuracy",
            bar=0.95,
            split=(("data.test_fraction", 0.2), ("split_seed", 0)),
            practice=True,
        ),
    )
}


@dataclass
class CapstoneResult:
    """One grading: the score recomputed now, the bar, and where it was recorded."""

    name: str
    run_dir: Path
    metric: str
    score: float
    bar: float
    beats: bool
    passed: bool
    checks: list[str] = field(default_factory=list)  # what was verified before scoring
    seed: int | None = None  # the fresh seed of generated test data (None: the fixed test split)
    recorded_in: Path | None = None  # the workspace whose record holds it


def get_capstone(name: str) -> Capstone:
    """The capstone `name`; an unknown name lists them all."""
    if name in CAPSTONES:
        return CAPSTONES[name]
    raise CapstoneError(f"no capstone called {name!r}; the capstones are {', '.join(CAPSTONES)}")
