"""Capstones grade a learner's own run: recomputed on the canonical test split, refused when the
run could have seen that split (trained on it, chosen a checkpoint with it, or is not the run
its files say it is).

Real runs of the quickstart recipe (seconds) stand in for the projects: the `digits` warm-up
capstone goes through every check and the scoring; the Fashion-MNIST capstone's refusals are
shown on run folders that fail before any data is read.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from dllab.config import load_recipe, recipe_to_yaml
from dllab.course.capstone import (
    CAPSTONES,
    CapstoneError,
    CapstoneRefused,
    capstone,
    grade_capstone,
    load_capstones,
)
from dllab.course.capstone_checks import setting
from dllab.data.catalog import CATALOG
from dllab.errors import DllabError
from dllab.experiment import build_task, resolved_recipe, run_recipe


def _train(root: Path, *overrides: str) -> Path:
    recipe = load_recipe("quickstart", ["train.max_epochs=3", *overrides])
    return run_recipe(recipe, run_dir=root / "run", echo=lambda _: None, progress=False)


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished quickstart run on the canonical split, as `dllab run` leaves it."""
    return _train(tmp_path_factory.mktemp("honest"))


@pytest.fixture(scope="module")
def other_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A quickstart run on another split: some canonical test digits were training digits."""
    return _train(tmp_path_factory.mktemp("other"), "data.split_seed=3", "train.max_epochs=2")


@pytest.fixture
def copy(honest: Path, tmp_path: Path):
    """A copy of a run folder to tamper with."""

    def make(source: Path = honest) -> Path:
        return Path(shutil.copytree(source, tmp_path / "copy"))

    return make


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text("utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _edit_config(run: Path, change) -> None:
    data = yaml.safe_load((run / "config.yaml").read_text("utf-8"))
    change(data)
    (run / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _refused(run: Path, tmp_path: Path, name: str = "digits") -> str:
    with pytest.raises(CapstoneRefused) as info:
        grade_capstone(name, run, tmp_path / "ws")
    message = str(info.value)
    assert "\n" not in message
    assert not (tmp_path / "ws" / ".capstones.json").exists()  # nothing recorded
    return message


# ---------------------------------------------------------------- an honest run
def test_an_honest_run_is_scored_again_and_recorded_signed(honest: Path, tmp_path: Path):
    result = grade_capstone("digits", honest, tmp_path / "ws")
    summary = json.loads((honest / "summary.json").read_text("utf-8"))
    assert result.score == pytest.approx(summary["test"]["test/accuracy"], abs=1e-6)
    assert result.passed and result.score >= CAPSTONES["digits"].bar
    entry = load_capstones(tmp_path / "ws")["digits"]
    assert entry.passed and not entry.edited and entry.gradings == 1
    assert entry.best_score == pytest.approx(result.score)


def test_a_hand_edited_record_is_reported_and_not_inherited(honest: Path, tmp_path: Path):
    grade_capstone("digits", honest, tmp_path / "ws")
    path = tmp_path / "ws" / ".capstones.json"
    _edit_json(path, lambda d: d["capstones"]["digits"].update(best_score=1.0))
    assert load_capstones(tmp_path / "ws")["digits"].edited
    grade_capstone("digits", honest, tmp_path / "ws")  # a real grading signs it again
    entry = load_capstones(tmp_path / "ws")["digits"]
    assert not entry.edited and entry.best_score < 1.0


def test_the_command_prints_the_checks_the_score_and_the_record(honest: Path, tmp_path: Path):
    app = typer.Typer()
    app.command()(capstone)
    ws = tmp_path / "ws"
    out = CliRunner().invoke(app, ["digits", str(honest), "--dir", str(ws), "--lang", "zh"])
    assert out.exit_code == 0, out.output
    assert "毕业项目 digits：通过" in out.output and "已核对" in out.output
    assert str(ws) in out.output


# ---------------------------------------------------------------- runs that could have seen test
def test_a_split_seed_edited_back_after_training_is_refused(other_split: Path, copy, tmp_path):
    run = copy(other_split)
    assert "split_seed is 3" in _refused(run, tmp_path)
    _edit_config(run, lambda c: c["data"].update(split_seed=None))  # made to look canonical
    message = _refused(run, tmp_path)
    assert "not trained with this config.yaml" in message and "data.split_seed" in message


def test_a_best_checkpoint_from_another_run_is_refused(other_split: Path, copy, tmp_path):
    run = copy()
    shutil.copy(other_split / "checkpoints" / "best.safetensors", run / "checkpoints")
    assert "different runs" in _refused(run, tmp_path)


def test_checkpoints_of_another_split_under_this_config_are_refused(other_split, copy, tmp_path):
    run = copy()
    for name in ("best.safetensors", "last.safetensors"):
        shutil.copy(other_split / "checkpoints" / name, run / "checkpoints")
    assert "not trained with this config.yaml" in _refused(run, tmp_path)


def test_monitoring_a_test_metric_is_refused(copy, tmp_path: Path):
    run = copy()
    _edit_config(run, lambda c: c["train"].update(monitor="test/accuracy"))
    assert "other than validation" in _refused(run, tmp_path)


def test_a_checkpoint_that_was_not_the_best_on_validation_is_refused(copy, tmp_path: Path):
    run = copy()
    lines = (run / "metrics.jsonl").read_text("utf-8").splitlines()
    lines.append(json.dumps({"step": 10**6, "val/loss": 1e-9}))  # a better validation
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert "not the checkpoint chosen on validation" in _refused(run, tmp_path)


def test_a_test_score_edited_into_summary_json_is_refused(copy, tmp_path: Path):
    run = copy()
    _edit_json(run / "summary.json", lambda s: s["test"].update({"test/accuracy": 0.5}))
    assert "summary.json was edited" in _refused(run, tmp_path)


def test_a_summary_json_of_another_checkpoint_is_refused(copy, tmp_path: Path):
    run = copy()
    _edit_json(run / "summary.json", lambda s: s["best"].update(step=1))
    assert "does not describe this run's checkpoint" in _refused(run, tmp_path)


def test_env_json_checksums_of_other_data_are_refused(copy, tmp_path: Path):
    run = copy()
    _edit_json(run / "env.json", lambda e: e.update(data_checksums={"digits.csv": "0" * 64}))
    assert "differ from the digits files found now" in _refused(run, tmp_path)


def test_a_config_edited_after_training_disagrees_with_env_json(copy, tmp_path: Path):
    run = copy()
    _edit_config(run, lambda c: (c["train"].update(seed=5), c["data"].update(split_seed=0)))
    assert "edited after training" in _refused(run, tmp_path)


# ---------------------------------------------------------------- Fashion-MNIST, without training
def _fashion_folder(honest: Path, tmp_path: Path, checksums: dict[str, str], **train) -> Path:
    """A run folder claiming the fashion-mnist recipe (its checkpoints are the quickstart's)."""
    run = Path(shutil.copytree(honest, tmp_path / "fashion"))
    recipe = resolved_recipe(build_task(load_recipe("fashion-mnist")))
    for key, value in train.items():
        setattr(recipe.train, key, value)
    (run / "config.yaml").write_text(recipe_to_yaml(recipe), encoding="utf-8")
    _edit_json(run / "env.json", lambda e: e.update(data_checksums=checksums))
    return run


def _catalog(name: str) -> dict[str, str]:
    return {f.name: f.sha256 for f in CATALOG[name].files}


def test_fashion_mnist_with_other_files_than_the_catalogs_is_refused(honest, tmp_path):
    wrong = {name: "0" * 64 for name in _catalog("fashion-mnist")}
    run = _fashion_folder(honest, tmp_path, wrong)
    assert "not the catalog's fashion-mnist files" in _refused(run, tmp_path, "fashion-mnist")


def test_fashion_mnist_selected_on_test_accuracy_is_refused(honest, tmp_path):
    run = _fashion_folder(honest, tmp_path, _catalog("fashion-mnist"), monitor="test/accuracy")
    assert "val/ metric" in _refused(run, tmp_path, "fashion-mnist")


def test_fashion_mnist_checkpoint_of_another_recipe_is_refused(honest, tmp_path):
    run = _fashion_folder(honest, tmp_path, _catalog("fashion-mnist"))
    message = _refused(run, tmp_path, "fashion-mnist")
    assert "not trained with this config.yaml" in message and "data.name" in message


def test_a_run_of_another_project_is_refused(honest: Path, tmp_path: Path):
    assert "grades task classification on fashion-mnist" in _refused(
        honest, tmp_path, "fashion-mnist"
    )


# ---------------------------------------------------------------- bad requests
def test_an_unknown_capstone_lists_them(honest: Path, tmp_path: Path):
    with pytest.raises(CapstoneError, match="fashion-mnist, sentiment, ner, forecasting"):
        grade_capstone("fashion", honest, tmp_path / "ws")


def test_a_folder_that_is_not_a_run_is_one_line(tmp_path: Path):
    with pytest.raises(DllabError, match="not a dllab run folder"):
        grade_capstone("digits", tmp_path, tmp_path / "ws")


def test_an_unfinished_run_is_refused_until_it_finishes(copy, tmp_path: Path):
    run = copy()
    (run / "summary.json").unlink()
    assert "has not finished" in _refused(run, tmp_path)


# ---------------------------------------------------------------- the table
@pytest.mark.parametrize("name", sorted(CAPSTONES))
def test_each_capstone_matches_the_recipe_it_suggests(name: str):
    cap = CAPSTONES[name]
    recipe = load_recipe(cap.recipe)
    assert (recipe.task.name, recipe.data.name) == (cap.task, cap.dataset)
    assert recipe.target is not None and recipe.target.metric == cap.metric
    assert recipe.train.monitor.startswith("val/")
    for key, value in cap.split:
        assert setting(recipe, key) == value, key
    for key, value in cap.meta:
        assert recipe.task.options[key] == value


def test_every_sentiment_zh_recipe_trains_on_the_capstones_split():
    from dllab.config import recipe_names

    split = dict(CAPSTONES["sentiment"].split)
    for name in (n for n in recipe_names() if n.startswith("sentiment-zh")):
        recipe = load_recipe(name)
        assert recipe.data.test_fraction == split["data.test_fraction"], name
        assert recipe.split_seed == split["split_seed"], name
