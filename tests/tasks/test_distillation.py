"""Knowledge distillation: the loss and its gradient, a student trained from a real teacher run
that comes out as a plain classifier, and teachers that do not fit refused in one line."""

from __future__ import annotations

import csv
import json

import pytest
import torch
import torch.nn.functional as F

from dllab.tasks.distillation import distillation_loss
from dllab.train.checkpoint import load_checkpoint

# The student: fashion-mnist-distill's recipe on quickstart's digits (8x8), with quickstart's
# split so that its normalisation equals the teacher's.
DIGITS = [
    "data.name=digits",
    "data.val_fraction=0.1",
    "data.test_fraction=0.2",
    "data.batch_size=32",
    "data.augment=none",
    "model.kwargs.width=4",
    "train.max_time=null",
    "train.max_epochs=1",
    "train.precision=fp32",
    "train.channels_last=false",
    "schedule.follow_time=false",
    "train.log_every=10",
]


def test_loss_is_hintons_mix_and_its_soft_gradient_is_the_softmax_gap():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(6, 5, generator=g, requires_grad=True)
    t, y, temp = torch.randn(6, 5, generator=g) * 3, torch.tensor([0, 1, 2, 3, 4, 0]), 3.0
    loss, soft, hard = distillation_loss(s, t, y, temperature=temp, alpha=0.7)
    p_t = F.softmax(t / temp, 1)
    by_hand = (p_t * (p_t.log() - F.log_softmax(s / temp, 1))).sum(1).mean() * temp**2
    torch.testing.assert_close(soft, by_hand)
    torch.testing.assert_close(hard, F.cross_entropy(s, y))
    torch.testing.assert_close(loss, 0.7 * by_hand + 0.3 * F.cross_entropy(s, y))
    # d soft / d s = T (softmax(s/T) - softmax(t/T)) / B: the T² keeps it the size of CE's
    (grad,) = torch.autograd.grad(soft, s)
    torch.testing.assert_close(grad, temp * (F.softmax(s / temp, 1) - p_t) / 6)
    # a student equal to its teacher has nothing left to learn from it
    assert distillation_loss(t, t, y, temperature=temp, alpha=1.0)[0].abs() < 1e-6


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, dllab):
    root = tmp_path_factory.mktemp("distill")
    out = dllab("run", "quickstart", "train.max_epochs=2", "--run-dir", "teacher", cwd=root)
    assert out.returncode == 0, out.stderr
    return root / "teacher"


@pytest.fixture(scope="module")
def student(teacher, dllab):
    args = ["run", "fashion-mnist-distill", f"task.teacher={teacher}", *DIGITS]
    out = dllab(*args, "--run-dir", "student", cwd=teacher.parent)
    assert out.returncode == 0, out.stderr
    return teacher.parent / "student"


def test_student_learns_from_the_teacher_and_is_saved_as_a_plain_classifier(
    teacher, student, dllab
):
    root = teacher.parent
    state = load_checkpoint(root / "student" / "checkpoints" / "best.safetensors")
    assert state["meta"]["task"] == "classification"
    assert state["meta"]["distilled_from"] == str(teacher)
    logged = [json.loads(line) for line in (root / "student" / "metrics.jsonl").open()]
    assert any("soft_loss" in r and "hard_loss" in r for r in logged), logged[:3]
    # predict needs no teacher: the student stands alone
    teacher.rename(root / "gone")
    try:
        from PIL import Image
        from sklearn.datasets import load_digits

        Image.fromarray((load_digits().images[0] * 255 / 16).astype("uint8")).save(root / "d.png")
        pred = dllab("predict", "student", "d.png", cwd=root)
        assert pred.returncode == 0, pred.stderr
    finally:
        (root / "gone").rename(teacher)


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ("data.image_size=16", "image_size"),
        ("data.val_fraction=0.3", "normalises with mean"),
        ("task.teacher=missing", "task.teacher"),
    ],
)
def test_a_teacher_that_does_not_fit_is_one_line(teacher, dllab, override, says):
    args = ["run", "fashion-mnist-distill", f"task.teacher={teacher}", *DIGITS, override]
    out = dllab(*args, "--run-dir", f"bad-{says[:5]}", cwd=teacher.parent)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], out.stderr


def test_deploy_benchmark_puts_int8_and_the_student_beside_their_references(
    teacher, student, benchmark_script, tmp_path
):
    """benchmarks/deploy.py on these tiny runs: every table and every goal, met or not."""
    out = tmp_path / "out"
    argv = ["--run", str(teacher), "--teacher", str(teacher), "--student", str(student)]
    argv += ["--out", str(out), "--threads", "1", "--iterations", "2", "--no-compile"]
    assert benchmark_script("deploy").main(argv) == 0
    rows = list(csv.DictReader((out / "deploy.csv").open(encoding="utf-8")))
    models = [r["model"] for r in rows if r["section"] == "compress"]
    assert models[:2] == ["pytorch eager fp32", "onnx fp32"]
    assert any(m.startswith("onnx int8 static") for m in models)
    assert "pt2e int8 reference graph" in models
    students = [r["model"] for r in rows if r["section"] == "distillation"]
    assert students[0].startswith("teacher (quickstart-cnn") and students[1].startswith(
        "distilled student (bn-cnn"
    )
    rounds = [r["b1 p50 ms, each round"].split() for r in rows if r["section"] == "distillation"]
    assert [len(r) for r in rounds] == [5, 5]  # interleaved rounds; the median is the p50
    goals = [r for r in rows if r["section"] == "goal"]
    assert len(goals) == 5 and {g["met"] for g in goals} <= {"yes", "no"}
    assert "## Goals" in (out / "deploy.md").read_text("utf-8")
