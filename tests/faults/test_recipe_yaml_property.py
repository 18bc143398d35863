"""Issue 13, item 5, the property for recipe YAML (the one for overrides is in
test_overrides_property.py): any recipe file, however odd its keys, types or nesting, and any
text at all, gives a Recipe or a ConfigError (one line at the CLI), never another exception.
"""

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dllab.config import Recipe, load_recipe
from dllab.errors import ConfigError

SECTIONS = {
    "data": ["name", "path", "val_fraction", "test_fraction", "batch_size", "augment"],
    "model": ["name", "kwargs"],
    "optim": ["name", "lr", "weight_decay", "betas", "momentum"],
    "schedule": ["name", "pct_start", "milestones", "follow_time", "warmup_steps"],
    "train": ["max_epochs", "max_steps", "max_time", "precision", "monitor", "monitor_mode"],
    "target": ["metric", "value", "within_seconds"],
    "task": ["name", "min_freq"],
}
TOP = ["name", "description", "imports", *SECTIONS]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    st.sampled_from(["quickstart-cnn", "digits", "adamw", "onecycle", "fp16", "val/loss"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
section = st.one_of(
    values,  # a section that is not a mapping, or a mapping of anything
    st.sampled_from(list(SECTIONS)).flatmap(
        lambda s: st.dictionaries(
            st.sampled_from(SECTIONS[s]) | st.text(max_size=6), values, max_size=4
        )
    ),
)
documents = st.one_of(
    values,  # a list, a number, a string… instead of a mapping
    st.dictionaries(st.sampled_from(TOP) | st.text(max_size=8), section, max_size=6),
    st.fixed_dictionaries({"name": st.text(max_size=8)}, optional={k: section for k in TOP[1:]}),
)


def _load(text: str):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "recipe.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            return load_recipe(str(path))
        except ConfigError as exc:
            message = str(exc)
            assert message.strip() and len(message) < 2000, message[:2000]
            return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, st.sampled_from(["block", "flow"]))
def test_any_recipe_document_gives_a_recipe_or_a_config_error(document, style):
    text = yaml.safe_dump(document, default_flow_style=style == "flow", allow_unicode=True)
    recipe = _load(text)
    assert recipe is None or isinstance(recipe, Recipe)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=80))
def test_any_text_as_a_recipe_gives_a_recipe_or_a_config_error(text):
    recipe = _load(text)
    assert recipe is None or isinstance(recipe, Recipe)
