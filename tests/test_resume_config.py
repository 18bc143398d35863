"""--resume compares the checkpoint's recipe with config.yaml's (issue 13): an edit refuses,
a setting added to dllab since the checkpoint (at its default) does not."""

import json

import pytest

from dllab.config import load_recipe
from dllab.errors import CheckpointError
from dllab.experiment import build_task, check_same_config, config_record, resolved_recipe


def _record(*overrides):
    return config_record(resolved_recipe(build_task(load_recipe("quickstart", list(overrides)))))


def _without(record, section, key):
    recipe = json.loads(record["recipe"])
    del recipe[section][key]
    return {"sha256": "from-an-older-dllab", "recipe": json.dumps(recipe)}


def test_a_setting_added_since_the_checkpoint_is_not_an_edit(tmp_path):
    now = _record()
    check_same_config(_without(now, "data", "split_seed"), now, tmp_path)  # no error


def test_an_edited_value_is_refused_even_beside_an_added_setting(tmp_path):
    saved = _without(_record("optim.lr=0.01"), "data", "split_seed")
    with pytest.raises(CheckpointError, match=r"optim\.lr: 0\.01 -> 0\.003") as e:
        check_same_config(saved, _record(), tmp_path)
    assert "split_seed" not in str(e.value)


def test_a_changed_default_value_is_still_an_edit(tmp_path):
    saved = _record("data.split_seed=3")
    with pytest.raises(CheckpointError, match=r"data\.split_seed: 3 -> null"):
        check_same_config(saved, _record(), tmp_path)
