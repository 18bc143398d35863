"""The detection capstone scores a run on scenes drawn at check time with a fresh seed, never
the run's own test scenes, and refuses a run that trained on other data or other scenes.

A two-step run of the `detection-scenes` recipe (its canonical scenes, few of them) stands in
for a learner's run: far below the bar, as it should be, and graded end to end. The scenes
paste Fashion-MNIST items, so these tests need Fashion-MNIST (skipped without it).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import yaml

from dllab.config import load_recipe
from dllab.course import capstone_fresh
from dllab.course.capstone import CAPSTONES, CapstoneRefused, grade_capstone, load_capstones
from dllab.data import get_spec
from dllab.data.search import find_folder
from dllab.experiment import run_recipe

pytestmark = pytest.mark.skipif(
    find_folder(get_spec("fashion-mnist"))[0] is None,
    reason="the detection scenes paste Fashion-MNIST items: `dllab data download fashion-mnist`",
)

FEW_SCENES = 8  # fresh test scenes per grading here (the capstone draws 500)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two steps of `detection-scenes` on its canonical scenes (16 train, 4 val, 4 test)."""
    recipe = load_recipe(
        "detection-scenes",
        [
            "task.train_scenes=16",
            "task.val_scenes=4",
            "task.test_scenes=4",
            "data.batch_size=8",
            "data.eval_batch_size=8",
            "train.max_epochs=1",
            "train.threads=1",
        ],
    )
    root = tmp_path_factory.mktemp("detection")
    return run_recipe(recipe, run_dir=root / "run", echo=lambda _: None, progress=False)


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Few fresh scenes per grading, and a record of every seed and pool they were drawn from."""
    import dllab.data.scenes as scenes

    calls: list[dict] = []
    render = scenes.render_scenes

    def spy(pool, spec, *, seed, count):
        calls.append({"seed": seed, "count": count, "pool": len(pool), "spec": spec})
        return render(pool, spec, seed=seed, count=count)

    monkeypatch.setattr(capstone_fresh, "FRESH_SCENES", FEW_SCENES)
    monkeypatch.setattr(scenes, "render_scenes", spy)
    return calls


def _refused(run: Path, tmp_path: Path) -> str:
    with pytest.raises(CapstoneRefused) as info:
        grade_capstone("detection", run, tmp_path / "ws")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "ws" / ".capstones.json").exists()  # nothing recorded
    return str(info.value)


def _copy(run: Path, tmp_path: Path, config=None, env=None) -> Path:
    copy = Path(shutil.copytree(run, tmp_path / "copy"))
    if config is not None:
        data = yaml.safe_load((copy / "config.yaml").read_text("utf-8"))
        config(data)
        (copy / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    if env is not None:
        data = json.loads((copy / "env.json").read_text("utf-8"))
        env(data)
        (copy / "env.json").write_text(json.dumps(data), "utf-8")
    return copy


def test_each_grading_draws_new_test_scenes_and_records_the_score(run, drawn, tmp_path):
    ws = tmp_path / "ws"
    first = grade_capstone("detection", run, ws)
    cap = CAPSTONES["detection"]
    assert 0.0 <= first.score < cap.bar and not first.passed  # two steps are far from the bar
    # the pass path, with the bar lowered to what two steps reach
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(CAPSTONES, "detection", dataclasses.replace(cap, bar=0.0))
        second = grade_capstone("detection", run, ws)
    assert second.passed
    seeds = [first.seed, second.seed]
    assert seeds[0] != seeds[1] and min(seeds) >= capstone_fresh.FIRST_SEED  # not a run's seed
    assert [c["seed"] for c in drawn] == seeds  # the scenes scored were drawn with those seeds
    test_pool = 10_000 + 270  # Fashion-MNIST's test items and the digits split_seed 0 holds out
    assert all(c["count"] == FEW_SCENES and c["pool"] == test_pool for c in drawn)
    assert drawn[0]["spec"].clutter == 4 and drawn[0]["spec"].image_size == 128
    assert any(str(first.seed) in line for line in first.checks)
    entry = load_capstones(ws)["detection"]
    assert entry.gradings == 2 and entry.passed and not entry.edited


def test_a_run_on_other_data_is_refused(run, tmp_path):
    other = _copy(run, tmp_path, config=lambda c: c["data"].update(name="yolo"))
    assert "grades task detection on scenes; this run is task detection on yolo" in _refused(
        other, tmp_path
    )


def test_a_run_on_scenes_drawn_otherwise_is_refused(run, tmp_path):
    other = _copy(run, tmp_path, config=lambda c: c["task"].update(clutter=0))
    message = _refused(other, tmp_path)
    assert "task.clutter is 0, not the canonical 4" in message and "fresh test scenes" in message


def test_objects_from_other_files_are_refused(run, drawn, tmp_path):
    other = _copy(run, tmp_path, env=lambda e: e.update(data_checksums={"x": "0" * 64}))
    assert "differ from the Fashion-MNIST files found now" in _refused(other, tmp_path)
    assert drawn == []  # refused before any scene was drawn
