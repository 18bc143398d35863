"""Grader for distillation_loss: Hinton's KD loss and dL/dstudent against torch and autograd.

The reference, in float64:

    kl   = F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean")
    loss = alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(s, labels)

and the gradient with respect to the student's logits `s` from `loss.backward()`. Every third
case has logits of size 1e3 and more, where a softmax that does not subtract the max overflows.
T is never 1 and alpha never 0 or 1, so every known mistake changes the numbers.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dllab.lab.checks import Case, assert_close, call, text, unpack

NO_T2 = text(
    "Multiply the KL term by T^2: softening by T shrinks its gradients by 1/T^2, and T^2 "
    "restores their size so that alpha keeps its meaning whatever T is (Hinton et al. 2015).",
    "KL 项要乘以 T^2：用 T 软化会让它的梯度缩小 1/T^2，乘以 T^2 才能恢复，"
    "这样无论 T 取多少，alpha 的含义都不变（Hinton 等 2015）。",
)
SWAPPED = text(
    "The KL goes from the teacher to the student: KL(p_teacher || p_student) = sum p_t * "
    "(log p_t - log p_s), weighted by the TEACHER's probabilities (F.kl_div takes the "
    "student's log-probabilities as its input and the teacher's probabilities as its target).",
    "KL 的方向是从教师到学生：KL(p_teacher || p_student) = sum p_t * (log p_t - log p_s)，"
    "用教师的概率加权（F.kl_div 的 input 是学生的对数概率，target 是教师的概率）。",
)
MEAN = text(
    "reduction='batchmean': sum the KL over the classes and divide by the batch size only, "
    "not by batch size times classes.",
    "reduction='batchmean'：KL 在类别上求和，只除以批大小，而不是批大小乘以类别数。",
)
TEACHER_T = text(
    "Soften the teacher too: its probabilities are softmax(teacher_logits / T), with the same "
    "T as the student's.",
    "教师也要软化：它的概率是 softmax(teacher_logits / T)，T 与学生的相同。",
)
ALPHA = text(
    "alpha weighs the distillation (KL) term and 1 - alpha the cross-entropy with the labels, "
    "not the other way round.",
    "alpha 是蒸馏（KL）项的权重，1 - alpha 是与标签的交叉熵的权重，不要反过来。",
)
CHAIN = text(
    "The KL term's gradient is alpha * T * (p_s - p_t) / N: T**2 from the loss times 1/T from "
    "the chain rule through s / T.",
    "KL 项的梯度是 alpha * T * (p_s - p_t) / N：损失里的 T**2 乘以经过 s / T 的链式法则带来的 "
    "1/T。",
)
CE_T = text(
    "The cross-entropy with the true labels uses the student's plain logits, without T.",
    "与真实标签的交叉熵使用学生的原始 logits，不除以 T。",
)


def _kd(s, t, labels, T, alpha, *, t2=True, swap=False, mean=False, teacher_t=True,
        flip=False, ce_t=False):  # fmt: skip
    """(loss, dL/ds) by autograd, with a known mistake switched on."""
    z = torch.tensor(s, requires_grad=True)
    log_ps = F.log_softmax(z / T, dim=1)
    log_pt = F.log_softmax(torch.tensor(t) / (T if teacher_t else 1.0), dim=1)
    a, b = (log_ps, log_pt) if swap else (log_pt, log_ps)  # KL(exp(a) || exp(b))
    kl = (a.exp() * (a - b)).sum() / (z.numel() if mean else len(s))
    ce = F.cross_entropy(z / T if ce_t else z, torch.tensor(labels))
    w = 1 - alpha if flip else alpha
    loss = w * (T**2 if t2 else 1.0) * kl + (1 - w) * ce
    loss.backward()
    return loss.item(), z.grad.numpy()


def _chain(s, t, labels, T, alpha) -> list:
    """Gradients whose KL term has T**2 but misses the 1/T of the chain rule, or has neither."""
    n = len(s)
    p_s, p_t = (torch.softmax(torch.tensor(v) / T, dim=1).numpy() for v in (s, t))
    d_ce = torch.softmax(torch.tensor(s), dim=1).numpy()
    d_ce[np.arange(n), labels] -= 1.0
    return [(alpha * f * (p_s - p_t) / n + (1 - alpha) * d_ce / n, CHAIN) for f in (T**2, 1.0)]


def _reference(s, t, labels, T, alpha):
    z = torch.tensor(s, requires_grad=True)
    kl = F.kl_div(F.log_softmax(z / T, dim=1), F.softmax(torch.tensor(t) / T, dim=1),
                  reduction="batchmean")  # fmt: skip
    loss = alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(z, torch.tensor(labels))
    loss.backward()
    return loss.item(), z.grad.numpy()


def make_case(index: int, rng: np.random.Generator) -> Case:
    n, c = (4, 5) if index == 0 else map(int, rng.integers([1, 2], [12, 12]))
    scale = 5e3 if index % 3 == 1 else float(rng.uniform(0.5, 4.0))  # large: needs stability
    student = rng.normal(size=(n, c)) * scale
    teacher = student * rng.uniform(0.5, 1.5) + rng.normal(size=(n, c)) * scale  # related
    labels = rng.integers(0, c, size=n)
    T = float(rng.choice([2.0, 3.0, 4.0, 5.0, 1.5]))
    alpha = float(rng.choice([0.5, 0.7, 0.9, 0.3]))

    def check(module):
        reply = call(module, "kd_loss", student.copy(), teacher.copy(), labels.copy(), T, alpha)
        loss, dstudent = unpack("kd_loss", reply, 2)
        ref_loss, ref_grad = _reference(student, teacher, labels, T, alpha)
        variants = [
            (dict(t2=False), NO_T2),
            (dict(swap=True), SWAPPED),
            (dict(mean=True), MEAN),
            (dict(teacher_t=False), TEACHER_T),
            (dict(flip=True), ALPHA),
            (dict(ce_t=True), CE_T),
        ]
        wrong = [(_kd(student, teacher, labels, T, alpha, **kw), why) for kw, why in variants]
        assert_close("loss", loss, ref_loss, mistakes=[(w[0], why) for w, why in wrong])
        assert_close("dstudent", dstudent, ref_grad,
                     mistakes=[(w[1], why) for w, why in wrong] + _chain(student, teacher,
                                                                        labels, T, alpha))  # fmt: skip

    return Case(
        text(
            f"student_logits and teacher_logits {(n, c)} (scale {scale:g}), labels ({n},), "
            f"T {T:g}, alpha {alpha:g}",
            f"student_logits 与 teacher_logits {(n, c)}（尺度 {scale:g}），labels ({n},)，"
            f"T {T:g}，alpha {alpha:g}",
        ),
        check,
    )
