"""benchmarks/generative.py: the five-model table from run folders, scored one way for all.

The runs are made here in-process on the tiny Fashion-MNIST (a child process would not see
the unpinned catalog), so the benchmark reuses them and only samples, times and scores.
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import pytest

from dllab.config import load_recipe, load_resolved
from dllab.errors import InputError
from dllab.experiment import run_recipe

REPO = Path(__file__).resolve().parents[2]
RUNS = {
    "gan-conditional": ["train.max_steps=2", "train.val_every=0", "task.quality_samples=20"],
    "vae-fashion": ["train.max_steps=2", "task.sample_images=8", "model.kwargs.width=8"],
    "ddpm-fashion": [
        "train.max_steps=2",
        "train.val_every=0",
        "task.timesteps=12",
        "task.ddim_steps=4",
        "task.ddpm_images=2",
        "task.sample_images=4",
        "model.kwargs.width=8",
    ],
}


def _benchmark():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(
            "bench_generative", REPO / "benchmarks/generative.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(REPO / "benchmarks"))


@pytest.fixture(scope="module")
def work(tmp_path_factory, fashion_root, classifier_run, unpin_catalog):
    mp = pytest.MonkeyPatch()
    unpin_catalog(mp)  # held for the module: the benchmark reads the tiny files too
    root = tmp_path_factory.mktemp("bench-generative")
    common = [
        f"data.data_dir={fashion_root}",
        "data.batch_size=16",
        "data.val_fraction=0.2",
        "data.eval_batch_size=100",
        "train.threads=1",
        "train.checkpoint_every=0",
    ]
    for recipe, tiny in RUNS.items():
        extra = [f"task.feature_run={classifier_run}"] if recipe == "gan-conditional" else []
        run_recipe(
            load_recipe(recipe, [*common, *tiny, *extra]),
            run_dir=root / recipe,
            echo=lambda s: None,
            progress=False,
        )
    yield root
    mp.undo()


def test_the_table_scores_every_model_with_the_same_features(work, classifier_run, tmp_path):
    bench = _benchmark()
    out = tmp_path / "out"
    args = [
        "--work",
        str(work),
        "--out",
        str(out),
        "--feature-run",
        str(classifier_run),
        "--samples",
        "30",
        "--ddpm-images",
        "2",
        "--threads",
        "1",
        "--recipes",
        *RUNS,
    ]
    assert bench.main(args) == 0
    rows = {r["recipe"]: r for r in csv.DictReader((out / "generative.csv").open())}
    assert list(rows) == list(RUNS)
    for r in rows.values():
        assert float(r["FID"]) >= 0 and float(r["s per 1000 samples"]) > 0
        histogram_top = float(r["top class share"])
        assert histogram_top * 30 == pytest.approx(round(histogram_top * 30), abs=0.02)  # k of 30
        assert r["train CPU s"] == "-"  # trained here, not by the benchmark's child
    assert rows["gan-conditional"]["asked-class accuracy"] != "-"
    assert rows["vae-fashion"]["asked-class accuracy"] == "-"
    assert "full DDPM" in rows["ddpm-fashion"]["sampler"]
    md = (out / "generative.md").read_text("utf-8")
    assert "NOT comparable" in md and "Floor (real train vs real test images" in md


def test_a_run_of_another_task_is_refused_in_one_line(work, classifier_run, tmp_path):
    bench = _benchmark()
    args = [
        "--work",
        str(tmp_path),
        "--feature-run",
        str(classifier_run),
        "--samples",
        "10",
        "--recipes",
        "vae-fashion",
    ]
    (tmp_path / "vae-fashion").mkdir()  # an unfinished run: never trained over
    with pytest.raises(InputError, match="unfinished run"):
        bench.main(args)
    with pytest.raises(InputError, match="is a 'classification' run"):
        from dllab.experiment import load_trained

        model, meta = load_trained(classifier_run)
        bench.sampler_for(
            classifier_run, model, meta, load_resolved(classifier_run / "config.yaml")
        )
