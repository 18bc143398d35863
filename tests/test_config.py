"""Recipes: shipped files validate, overrides are typed and strict, errors name the fix."""

import pytest

from dllab.config import load_recipe, recipe_from_dict, recipe_names, recipe_to_yaml
from dllab.errors import ConfigError


def test_every_shipped_recipe_validates():
    names = recipe_names()
    assert {"quickstart", "fashion-mnist-fast", "fashion-mnist"} <= set(names)
    for name in names:
        assert load_recipe(name).name == name


def test_overrides_are_parsed_with_types():
    r = load_recipe(
        "quickstart",
        [
            "train.max_epochs=3",
            "optim.lr=1e-2",
            "data.augment=crop",
            "train.deterministic=true",
            "model.kwargs.width=8",
        ],
    )
    assert r.train.max_epochs == 3 and isinstance(r.train.max_epochs, int)
    assert r.optim.lr == pytest.approx(0.01)
    assert r.data.augment == "crop" and r.train.deterministic is True
    assert r.model.kwargs == {"width": 8}


def test_unknown_key_names_the_closest_valid_keys():
    with pytest.raises(ConfigError, match="did you mean 'train.max_epochs'"):
        load_recipe("quickstart", ["train.max_epoch=3"])


def test_wrong_type_is_one_line_naming_the_field():
    with pytest.raises(ConfigError) as err:
        load_recipe("quickstart", ["train.max_epochs=abc"])
    assert "train.max_epochs" in str(err.value) and "\n" not in str(err.value)


def test_out_of_range_and_bad_choice_are_rejected():
    with pytest.raises(ConfigError, match="data.val_fraction"):
        load_recipe("quickstart", ["data.val_fraction=1.5"])
    with pytest.raises(ConfigError, match="schedule.name"):
        load_recipe("quickstart", ["schedule.name=cosinus"])


def test_override_without_equals_sign_is_rejected():
    with pytest.raises(ConfigError, match="key=value"):
        load_recipe("quickstart", ["train.max_epochs"])


def test_unknown_recipe_suggests_close_names():
    with pytest.raises(ConfigError, match="did you mean 'quickstart'"):
        load_recipe("quickstar")


def test_resolved_yaml_round_trips(tmp_path):
    r = load_recipe("fashion-mnist-fast", ["train.seed=7"])
    import yaml

    again = recipe_from_dict(yaml.safe_load(recipe_to_yaml(r)))
    assert again == r


def test_recipe_file_path_and_bad_yaml(tmp_path):
    good = tmp_path / "mine.yaml"
    good.write_text("name: mine\ndata: {name: digits}\n")
    assert load_recipe(str(good)).name == "mine"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(str(bad))
    extra = tmp_path / "extra.yaml"
    extra.write_text("name: x\nmodle: {name: mlp}\n")
    with pytest.raises(ConfigError, match="modle"):
        load_recipe(str(extra))
