"""Run folders written before task options had their own recipe section (git 71fff46) still
evaluate, predict, export and resume; an old-style recipe is refused with the new key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

OLD = Path(__file__).resolve().parents[1] / "fixtures" / "old-runs"


@pytest.fixture
def old(tmp_path):
    shutil.copytree(OLD, tmp_path / "runs")
    return tmp_path / "runs"


def test_the_fixtures_are_in_the_old_format():
    config = yaml.safe_load((OLD / "sentiment-killed" / "config.yaml").read_text())
    assert config["task"] == "sentiment" and config["model"]["kwargs"]["min_freq"] == 200


def test_old_runs_evaluate_and_predict(old, dllab):
    out = dllab("eval", str(old / "sentiment-finished"), cwd=old)
    assert out.returncode == 0, out.stderr
    assert "test/accuracy" in out.stdout
    out = dllab("predict", str(old / "sentiment-finished"), "这个手机很好用", cwd=old)
    assert out.returncode == 0, out.stderr
    assert "positive" in out.stdout or "negative" in out.stdout

    image = old / "digit.png"
    from PIL import Image

    Image.new("L", (8, 8), 128).save(image)
    out = dllab("predict", str(old / "quickstart-finished"), str(image), cwd=old)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("run", ["sentiment-finished", "quickstart-finished"])
def test_old_runs_export(old, dllab, run):
    out = dllab("export", str(old / run), cwd=old)
    assert out.returncode == 0, out.stderr
    meta = json.loads((old / run / "export" / "model.json").read_text())
    assert meta["recipe"] in {"sentiment-zh-fasttext", "quickstart"}


def test_an_old_killed_run_resumes_and_is_rewritten_in_the_new_format(old, dllab):
    out = dllab("run", "sentiment-zh-fasttext", "--resume", str(old / "sentiment-killed"), cwd=old)
    assert out.returncode == 0, out.stderr
    summary = json.loads((old / "sentiment-killed" / "summary.json").read_text())
    assert summary["steps"] == 12 and summary["task"] == "sentiment"
    config = yaml.safe_load((old / "sentiment-killed" / "config.yaml").read_text())
    assert config["task"]["name"] == "sentiment" and config["task"]["min_freq"] == 200
    assert "min_freq" not in config["model"]["kwargs"]


def test_an_old_style_recipe_names_the_new_key(tmp_path, dllab):
    out = dllab("run", "sentiment-zh-fasttext", "model.kwargs.min_freq=3", cwd=tmp_path)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
    assert "model.kwargs.min_freq" in out.stderr and "task.min_freq" in out.stderr
    assert not (tmp_path / "runs").exists()
