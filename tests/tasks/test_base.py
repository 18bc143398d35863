"""The task section of a recipe: short and long form, strict typed options, old recipes."""

from __future__ import annotations

import pytest
from pydantic import Field, model_validator

from dllab.config import load_recipe, recipe_from_dict, recipe_to_yaml
from dllab.errors import ConfigError
from dllab.tasks.base import BaseTask, TaskOptions, parse_options


class Opts(TaskOptions):
    min_freq: int = Field(2, ge=1)  # a typed, bounded option
    tokenizer: str = "char"


class OptsTask(BaseTask):
    name = "opts-toy"
    Options = Opts


def test_short_and_long_forms_are_the_same_task():
    short = recipe_from_dict({"name": "r", "task": "ner"})
    long = recipe_from_dict({"name": "r", "task": {"name": "ner", "min_freq": 3}})
    assert short.task.name == long.task.name == "ner"
    assert short.task.options == {} and long.task.options == {"min_freq": 3}
    assert "min_freq: 3" in recipe_to_yaml(long)


def test_options_are_typed_and_unknown_keys_name_the_closest():
    assert parse_options(Opts, {"min_freq": 5}, "t").min_freq == 5
    with pytest.raises(ConfigError, match=r"did you mean 'task\.min_freq'\?"):
        parse_options(Opts, {"min_frq": 5}, "t")
    with pytest.raises(ConfigError, match=r"valid keys: task\.min_freq, task\.tokenizer$"):
        parse_options(Opts, {"zzz": 5}, "t")
    with pytest.raises(ConfigError, match=r"task\.min_freq: .*greater than or equal to 1"):
        parse_options(Opts, {"min_freq": 0}, "t")
    with pytest.raises(ConfigError, match="takes no options"):
        parse_options(TaskOptions, {"x": 1}, "classification")


class Paired(TaskOptions):
    low: int = 0
    high: int = 1

    @model_validator(mode="after")
    def _ordered(self) -> Paired:
        if self.low > self.high:
            raise ValueError("task.low must not exceed task.high")
        return self


def test_a_check_across_options_is_its_own_sentence_without_the_section_dumped():
    with pytest.raises(ConfigError) as err:
        parse_options(Paired, {"low": 3}, "t")
    assert str(err.value) == "task: task.low must not exceed task.high"


def test_an_option_left_in_model_kwargs_is_refused_with_its_new_key():
    recipe = recipe_from_dict({"name": "r", "model": {"kwargs": {"min_freq": 3, "width": 8}}})
    with pytest.raises(ConfigError) as err:
        OptsTask(recipe)
    assert "model.kwargs.min_freq" in str(err.value) and "task.min_freq" in str(err.value)


def test_an_old_run_folders_recipe_is_migrated():
    old = recipe_from_dict(
        {"name": "r", "task": "opts-toy", "model": {"kwargs": {"min_freq": 3, "width": 8}}}
    )
    new = OptsTask.migrate(old)
    assert new.model.kwargs == {"width": 8} and new.task.options == {"min_freq": 3}
    task = OptsTask(new)
    assert task.options.min_freq == 3 and task.model_kwargs() == {"width": 8}


def test_overrides_reach_the_task_section_even_from_the_short_form():
    r = load_recipe("quickstart", ["task.depth=3", "task.sampling.seed=4"])
    assert r.task.name == "classification"
    assert r.task.options == {"depth": 3, "sampling": {"seed": 4}}
    with pytest.raises(ConfigError, match="takes no options"):
        BaseTask(r)
