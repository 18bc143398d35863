"""Registries raise on duplicates and suggest close names on unknown ones."""

import pytest

from dllab.errors import ConfigError
from dllab.registry import Registry, closest


def test_duplicate_registration_raises():
    reg = Registry("thing")
    reg.register("a")(lambda: 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(lambda: 2)


def test_unknown_name_lists_the_closest():
    reg = Registry("thing")
    for name in ("resnet18", "resnet34", "vgg11"):
        reg.register(name)(lambda n=name: n)
    with pytest.raises(ConfigError, match="did you mean 'resnet18'"):
        reg.get("resnet19")
    with pytest.raises(ConfigError, match="valid names: resnet18, resnet34, vgg11"):
        reg.get("zzz")
    assert closest("qqq", ["a"]) == ""
