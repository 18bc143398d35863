"""Grader for viterbi: path scores by hand, decoding against pytorch-crf and brute force."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torchcrf import CRF

from dllab.lab.checks import Case, Failed, as_array, assert_close, call, text


def _decode(em, length, trans, start, end):
    """Brute force over all K^length paths: the definition, for tiny inputs."""
    k = em.shape[1]
    best, best_path = -np.inf, None
    for path in itertools.product(range(k), repeat=length):
        p = np.array(path)
        s = start[p[0]] + em[np.arange(length), p].sum() + trans[p[:-1], p[1:]].sum() + end[p[-1]]
        if s > best:
            best, best_path = s, list(path)
    return best_path


def _viterbi(em, length, trans, start, end):
    best, back = start + em[0], []
    for t in range(1, length):
        scores = best[:, None] + trans
        back.append(scores.argmax(0))
        best = scores.max(0) + em[t]
    path = [int((best + end).argmax())]
    for b in reversed(back):
        path.append(int(b[path[-1]]))
    return path[::-1]


def _as_paths(got, batch: int) -> list[list[int]]:
    if hasattr(got, "tolist"):
        got = got.tolist()
    if not isinstance(got, list | tuple) or len(got) != batch:
        raise Failed(
            text(
                f"viterbi_decode should return a list of {batch} lists, got {type(got).__name__}"
                + (f" of {len(got)}" if isinstance(got, list | tuple) else ""),
                f"viterbi_decode 应返回 {batch} 个列表组成的列表，实际为 {type(got).__name__}",
            )
        )
    return [[int(t) for t in (p.tolist() if hasattr(p, "tolist") else p)] for p in got]


def make_case(index: int, rng: np.random.Generator) -> Case:
    tiny = index % 2 == 0  # small enough to enumerate every path
    k = int(rng.integers(2, 5 if tiny else 8))
    t = int(rng.integers(1, 6 if tiny else 13))
    b = int(rng.integers(1, 5))
    lengths = rng.integers(1, t + 1, size=b)
    lengths[0] = t  # one full row; the rest may be padded
    mask = np.arange(t)[None, :] < lengths[:, None]  # (B, T)
    emissions = rng.normal(size=(b, t, k))
    # Strong transitions, so that the best path differs from the per-position argmax.
    transitions = rng.normal(scale=2.0, size=(k, k))
    start, end = rng.normal(size=k), rng.normal(scale=2.0, size=k)
    tags = [int(v) for v in rng.integers(0, k, size=t)]

    def check(module):
        score = call(module, "path_score", emissions[0].copy(), list(tags), transitions.copy(),
                     start.copy(), end.copy())  # fmt: skip
        ref_score = (start[tags[0]] + emissions[0][np.arange(t), tags].sum()
                     + transitions[tags[:-1], tags[1:]].sum() + end[tags[-1]])  # fmt: skip
        assert_close(
            f"path_score(emissions[0], {tags}, ...)",
            as_array("path_score", score),
            ref_score,
            hint=text(
                "score = start[y_0] + sum_t emissions[t, y_t] + sum_t transitions[y_{t-1}, y_t] "
                "+ end[y_{T-1}]; transitions[i, j] is tag i FOLLOWED BY tag j.",
                "score = start[y_0] + sum_t emissions[t, y_t] + sum_t transitions[y_{t-1}, y_t] "
                "+ end[y_{T-1}]；transitions[i, j] 表示 tag i 后面接 tag j。",
            ),
        )
        crf = CRF(k, batch_first=True).double()
        with torch.no_grad():
            crf.transitions.copy_(torch.tensor(transitions))
            crf.start_transitions.copy_(torch.tensor(start))
            crf.end_transitions.copy_(torch.tensor(end))
        expected = crf.decode(torch.tensor(emissions), torch.tensor(mask))
        if tiny:
            brute = [_decode(emissions[i], int(n), transitions, start, end)
                     for i, n in enumerate(lengths)]  # fmt: skip
            assert brute == expected, "pytorch-crf disagrees with brute force"
        got = _as_paths(
            call(
                module,
                "viterbi_decode",
                emissions.copy(),
                mask.copy(),
                transitions.copy(),
                start.copy(),
                end.copy(),
            ),  # fmt: skip
            b,
        )
        if got == expected:
            return
        wrong = next(i for i in range(b) if i >= len(got) or got[i] != expected[i])
        n = int(lengths[wrong])
        message = text(
            f"sentence {wrong} (length {n}): expected tags {expected[wrong]}, got {got[wrong]}",
            f"第 {wrong} 句（长度 {n}）：应为 {expected[wrong]}，实际为 {got[wrong]}",
        )
        if len(got[wrong]) != n:
            raise Failed(
                message,
                text(
                    "Decode each sentence over its real tokens only (mask[b].sum() of them); the "
                    "end score is added at its last real token, not at the padded end.",
                    "每句只在真实 token 上解码（共 mask[b].sum() 个）；end 分数加在最后一个真实"
                    " token 上，而不是补齐后的末尾。",
                ),
            )
        variants = [
            (
                lambda em, n: [int(v) for v in em[:n].argmax(axis=1)],
                text(
                    "That is the best tag at each position on its own. Viterbi maximises the "
                    "score of the whole sequence, transitions included: keep, for every tag, "
                    "the best path ending in it, and follow back-pointers at the end.",
                    "这是每个位置各自最好的 tag。Viterbi 最大化整个序列的分数（包括转移分数）："
                    "为每个 tag 保存以它结尾的最佳路径，最后沿回溯指针回溯。",
                ),
            ),
            (
                lambda em, n: _viterbi(em, n, transitions.T, start, end),
                text(
                    "transitions[i, j] is the score of tag i followed by tag j: you read it "
                    "transposed.",
                    "transitions[i, j] 是 tag i 后接 tag j 的分数：你把它转置了。",
                ),
            ),
            (
                lambda em, n: _viterbi(em, n, transitions, start, np.zeros_like(end)),
                text(
                    "Add the end scores before choosing the last tag.",
                    "选择最后一个 tag 之前要加上 end 分数。",
                ),
            ),
            (
                lambda em, n: _viterbi(em, n, transitions, np.zeros_like(start), end),
                text("Start with start + emissions[0].", "初始化为 start + emissions[0]。"),
            ),
        ]
        for decode, why in variants:  # the variant that explains every sentence of the batch
            if all(decode(emissions[i], int(lengths[i])) == got[i] for i in range(b)):
                raise Failed(message, why)
        raise Failed(
            message,
            text(
                f"Compare path_score of both paths: the expected one scores "
                f"{_score(emissions[wrong], expected[wrong], transitions, start, end):.4g}.",
                f"比较两条路径的 path_score：期望路径的分数是 "
                f"{_score(emissions[wrong], expected[wrong], transitions, start, end):.4g}。",
            ),
        )

    note = text(", small enough for brute force", "，小到可以穷举验证")
    return Case(
        text(
            f"emissions {(b, t, k)}, lengths {lengths.tolist()}" + (note["en"] if tiny else ""),
            f"emissions {(b, t, k)}，序列长度 {lengths.tolist()}" + (note["zh"] if tiny else ""),
        ),
        check,
    )


def _score(em, path, trans, start, end):
    p = np.array(path)
    return start[p[0]] + em[np.arange(len(p)), p].sum() + trans[p[:-1], p[1:]].sum() + end[p[-1]]
