"""The catalog: at least one exercise per checklist item, uniform stubs, hints in two languages."""

from __future__ import annotations

import ast

import pytest

from dllab.lab.catalog import (
    EXERCISES,
    NUMPY_BY_HAND,
    get_exercise,
    skeleton_source,
    solution_source,
)
from dllab.lab.checklist import ITEMS
from dllab.lab.errors import LabError

NAMES = [e.name for e in EXERCISES]


def test_at_least_fourteen_exercises_and_one_behind_every_checklist_item() -> None:
    assert len(EXERCISES) >= 14
    assert len(ITEMS) == 14
    assert {e.item for e in EXERCISES} == {i.key for i in ITEMS}


def test_checklist_names_the_stage_items_in_both_languages() -> None:
    words = ["backprop", "vanishing", "convolution", "attention", "tensor", "nn.module",
             "dataloader", "training loop", "resnet", "lstm", "encoder/decoder", "loss curves",
             "overfitting", "checkpoint"]  # fmt: skip
    titles = [i.title["en"].lower() for i in ITEMS]
    for word, title in zip(words, titles, strict=True):
        assert word in title
    assert all(i.title["zh"] and i.section["zh"] for i in ITEMS)


@pytest.mark.parametrize("name", NAMES)
def test_skeleton_stubs_are_one_uniform_line(name: str) -> None:
    tree = ast.parse(skeleton_source(name))
    stubs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    assert stubs
    for fn in stubs:
        body = [s for s in fn.body if not isinstance(s, ast.Expr)]  # skip the docstring
        assert ast.get_docstring(fn), f"{fn.name} has no docstring"
        assert len(body) == 1
        assert ast.unparse(body[0]) == (
            f"raise NotImplementedError('Need to implement for exercise {name}')"
        )


@pytest.mark.parametrize("name", NAMES)
def test_skeleton_and_solution_define_the_same_names(name: str) -> None:
    def public(source: str) -> set[str]:
        tree = ast.parse(source)
        return {
            n.name
            for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.ClassDef) and not n.name.startswith("_")
        }

    assert public(skeleton_source(name)) == public(solution_source(name))
    assert "TODO" in skeleton_source(name)


@pytest.mark.parametrize("exercise", EXERCISES, ids=NAMES)
def test_every_exercise_has_several_hints_in_both_languages(exercise) -> None:
    assert len(exercise.hints) >= 3
    for t in (exercise.title, *exercise.hints):
        assert t["en"].strip() and t["zh"].strip()
        assert any("\u4e00" <= ch <= "\u9fff" for ch in t["zh"])


def test_every_numpy_by_hand_name_is_an_exercise() -> None:
    # a misspelt name would silently let torch do the work in that exercise
    assert set(NAMES) >= NUMPY_BY_HAND
    for name in ("scalar_autograd", "pca_svd", "lr_schedules", "conv2d_backward", "rnn_bptt",
                 "quantize", "distillation_loss", "miou_confusion", "dice_loss",
                 "conv_transpose", "gradient_penalty", "reparam_kl", "ddpm_step", "value_iteration",
                 "q_learning_update", "gae", "ppo_clip_loss"):  # fmt: skip
        assert get_exercise(name).numpy_only


def test_an_unknown_exercise_name_suggests_the_closest() -> None:
    with pytest.raises(LabError, match="did you mean attention"):
        get_exercise("atention")
