"""Grader for q_learning_update: tabular Q-learning and SARSA on a batch of transitions, in order.

The reference (computed here in torch, float64) applies the transitions one after another, as an
agent that learns online does (Sutton & Barto 2018, eq. 6.8 and 6.7):

    Q-learning: target = r + gamma * max_a' Q[s', a'] * (1 - done)
    SARSA:      target = r + gamma * Q[s', a'] * (1 - done)      (a' the action taken next)
    Q[s, a] += alpha * (target - Q[s, a])

Every case repeats some (s, a) pairs and chains transitions (one's s' is a later one's s), so
updating all rows at once from the old table gives different numbers; about a third of the
transitions end their episode.
"""

from __future__ import annotations

import numpy as np
import torch

from dllab.lab.checks import Case, assert_close, call, text

THROUGH_DONE = text(
    "When a transition ends the episode (done = 1), there is no next state to bootstrap from: "
    "target = r, without gamma * max Q[s'].",
    "当一个转移结束了回合（done = 1）时，没有可以自举的下一状态：target = r，"
    "不加 gamma * max Q[s']。",
)
SARSA_MAX = text(
    "SARSA is on-policy: it bootstraps on the action the agent actually takes next, "
    "Q[s', a'], not on max over a' (that is Q-learning).",
    "SARSA 是同策略的：它用智能体下一步实际采取的动作 Q[s', a'] 来自举，"
    "而不是对 a' 取最大值（那是 Q-learning）。",
)
Q_MEAN = text(
    "Q-learning bootstraps on the BEST next action: max over a' of Q[s', a'].",
    "Q-learning 用最好的下一动作来自举：对 a' 取 Q[s', a'] 的最大值。",
)
LR_TARGET = text(
    "The learning rate scales the ERROR, not the target: Q[s, a] += alpha * (target - Q[s, a]), "
    "which moves Q[s, a] a fraction alpha of the way towards the target.",
    "学习率乘的是误差而不是目标：Q[s, a] += alpha * (target - Q[s, a])，"
    "即让 Q[s, a] 朝目标移动 alpha 那么远的一段。",
)
AT_ONCE = text(
    "Apply the transitions ONE AFTER ANOTHER, each on the table the previous ones updated: a "
    "pair (s, a) can appear twice, and a later transition can bootstrap on a row an earlier "
    "one changed. Fancy-indexed assignment Q[s, a] = ... updates from the old table at once.",
    "要依次应用这些转移，每一个都基于前面更新过的表：同一对 (s, a) 可能出现两次，"
    "后面的转移也可能用到前面刚改过的行。花式索引赋值 Q[s, a] = ... 是基于旧表一次性更新的。",
)


def _run(Q, s, a, r, s2, a2, done, alpha, gamma, *, sarsa, through_done=False, bootstrap=None,
         lr_target=None, at_once=False):  # fmt: skip
    """The updated table, in torch, with a known mistake switched on."""
    q = torch.tensor(Q)
    old = q.clone()
    bootstrap = bootstrap or ("taken" if sarsa else "max")
    for i in range(len(s)):
        src = old if at_once else q
        nxt = {"taken": src[s2[i], a2[i]], "max": src[s2[i]].max(), "mean": src[s2[i]].mean()}
        live = 1.0 if through_done else 1.0 - float(done[i])
        target = r[i] + gamma * nxt[bootstrap] * live
        if lr_target == "add":
            q[s[i], a[i]] = src[s[i], a[i]] + alpha * target
        elif lr_target == "replace":
            q[s[i], a[i]] = alpha * target
        else:
            q[s[i], a[i]] = src[s[i], a[i]] + alpha * (target - src[s[i], a[i]])
    return q.numpy()


def make_case(index: int, rng: np.random.Generator) -> Case:
    n_s, n_a = (5, 3) if index == 0 else map(int, rng.integers([3, 2], [9, 6]))
    n = int(rng.integers(6, 16))
    Q = rng.normal(size=(n_s, n_a))
    s = rng.integers(0, n_s, size=n)
    a = rng.integers(0, n_a, size=n)
    s[n // 2], a[n // 2] = s[0], a[0]  # a repeated pair
    s2 = rng.integers(0, n_s, size=n)
    s2[: n - 1] = np.where(rng.uniform(size=n - 1) < 0.5, s[1:], s2[: n - 1])  # chains
    a2 = rng.integers(0, n_a, size=n)
    r = rng.normal(size=n)
    done = (rng.uniform(size=n) < 0.3).astype(np.float64)
    done[1], done[2] = 1.0, 0.0
    alpha, gamma = float(rng.uniform(0.1, 0.9)), float(rng.choice([0.9, 0.95, 0.99]))
    data = (s, a, r, s2, a2, done, alpha, gamma)

    def check(module):
        got = call(module, "q_learning_update", Q.copy(), s.copy(), a.copy(), r.copy(),
                   s2.copy(), done.copy(), alpha, gamma)  # fmt: skip
        ref = _run(Q, *data, sarsa=False)
        wrong = [(dict(through_done=True), THROUGH_DONE), (dict(bootstrap="mean"), Q_MEAN),
                 (dict(lr_target="add"), LR_TARGET),
                 (dict(lr_target="replace"), LR_TARGET), (dict(at_once=True), AT_ONCE)]  # fmt: skip
        mistakes = [(_run(Q, *data, sarsa=False, **kw), why) for kw, why in wrong]
        assert_close("Q (q_learning_update)", got, ref, mistakes=mistakes)
        got = call(module, "sarsa_update", Q.copy(), s.copy(), a.copy(), r.copy(), s2.copy(),
                   a2.copy(), done.copy(), alpha, gamma)  # fmt: skip
        ref = _run(Q, *data, sarsa=True)
        wrong = [(dict(through_done=True), THROUGH_DONE), (dict(bootstrap="max"), SARSA_MAX),
                 (dict(lr_target="add"), LR_TARGET), (dict(lr_target="replace"), LR_TARGET),
                 (dict(at_once=True), AT_ONCE)]  # fmt: skip
        mistakes = [(_run(Q, *data, sarsa=True, **kw), why) for kw, why in wrong]
        assert_close("Q (sarsa_update)", got, ref, mistakes=mistakes)

    return Case(
        text(
            f"Q ({n_s}, {n_a}); {n} transitions (s, a, r, s', a', done), "
            f"{int(done.sum())} ending their episode; alpha {alpha:.3g}, gamma {gamma:g}",
            f"Q ({n_s}, {n_a})；{n} 个转移 (s, a, r, s', a', done)，其中 {int(done.sum())} 个"
            f"结束回合；alpha {alpha:.3g}，gamma {gamma:g}",
        ),
        check,
    )
