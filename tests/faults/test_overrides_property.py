"""Property: any overrides, however odd their keys, types or nesting, give a Recipe or a
ConfigError (one line at the CLI), never another exception."""

import json

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dllab.config import Recipe, load_recipe
from dllab.errors import ConfigError

REAL_KEYS = [
    "name", "task", "imports", "data.name", "data.batch_size", "data.val_fraction",
    "model.name", "model.kwargs", "model.kwargs.width", "optim.name", "optim.lr",
    "schedule.name", "schedule.pct_start", "train.max_epochs", "train.max_steps",
    "train.monitor", "train.monitor_mode", "train.precision", "target.metric", "target",
]  # fmt: skip

part = st.text(st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=8)
keys = st.one_of(
    st.sampled_from(REAL_KEYS),
    st.lists(part, min_size=1, max_size=4).map(".".join),
    st.tuples(st.sampled_from(REAL_KEYS), part).map(".".join),  # below a real key
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _render(value, how: str) -> str:
    """A value as a user might type it: YAML flow style, JSON, or plain text."""
    if how == "yaml":
        return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    if how == "json":
        return json.dumps(value)
    return str(value)


overrides = st.lists(
    st.tuples(keys, values, st.sampled_from(["yaml", "json", "str"])).map(
        lambda t: f"{t[0]}={_render(t[1], t[2])}"
    )
    | st.text(max_size=20),  # not even key=value
    max_size=4,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overrides)
def test_overrides_give_a_recipe_or_a_config_error(items):
    try:
        recipe = load_recipe("quickstart", items)
    except ConfigError as exc:
        assert str(exc).strip(), items  # a message a user can read
        return
    assert isinstance(recipe, Recipe)
