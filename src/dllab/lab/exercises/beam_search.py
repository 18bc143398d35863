"""Grader for beam_search: a random language model, the reference, and the typical mistakes."""

from __future__ import annotations

import numpy as np

from dllab.lab.checks import Case, Failed, assert_close, drive, driver_source, text
from dllab.lab.drivers.beam_search import MarkovModel

DRIVER = driver_source("beam_search")


def _search(step, bos, eos, k, max_len, alpha, *, rank_raw=False, drop_finished=False,
            extend_finished=False):  # fmt: skip
    """The reference algorithm with switches for the typical mistakes."""
    live, finished = [([bos], 0.0)], []
    for _ in range(max_len):
        logp = step([t for t, _ in live])
        if extend_finished:  # an ended hypothesis may only "continue" with eos again, for free
            for i, (t, _) in enumerate(live):
                if t[-1] == eos:
                    logp[i] = -np.inf
                    logp[i, eos] = 0.0
        scores = np.array([s for _, s in live])[:, None] + logp
        keep = k if (drop_finished or extend_finished) else k - len(finished)
        best = np.argsort(scores, axis=None)[::-1][:keep]
        ext = [(live[i][0] + [int(v)], float(scores[i, v]))
               for i, v in (np.unravel_index(f, scores.shape) for f in best)]  # fmt: skip
        if extend_finished:
            live = ext
            if all(t[-1] == eos for t, _ in live):
                break
            continue
        if not drop_finished:
            finished += [h for h in ext if h[0][-1] == eos]
        live = [h for h in ext if h[0][-1] != eos]
        if not live:
            break
    pool = finished + live
    if extend_finished:  # the trailing repeated eos removed again
        pool = [(t[: t.index(eos) + 1] if eos in t[1:] else t, s) for t, s in live]
    ranked = [(t[1:], s / (len(t) - 1) ** (0.0 if rank_raw else alpha)) for t, s in pool]
    return sorted(ranked, key=lambda h: h[1], reverse=True)


MISTAKES = (
    (
        dict(rank_raw=True),
        text(
            "You rank by the raw sum of log-probabilities, which favours short hypotheses: "
            "divide each score by len(tokens) ** length_penalty.",
            "你按未归一化的对数概率之和排序，这会偏向短句：把每个分数除以 "
            "len(tokens) ** length_penalty。",
        ),
    ),
    (
        dict(drop_finished=True),
        text(
            "Hypotheses that reach eos must be kept (set aside as finished), not dropped: the "
            "best translation is often one that ended early.",
            "到达 eos 的假设要保存下来（作为已完成的），不能丢掉：最好的译文常常是较早结束的。",
        ),
    ),
    (
        dict(extend_finished=True),
        text(
            "A finished hypothesis leaves the beam: it takes no more slots and is not extended; "
            "the live beam shrinks to beam_size - len(finished).",
            "已完成的假设要离开 beam：不再占位置、也不再扩展；活跃的 beam 缩小为 "
            "beam_size - len(finished)。",
        ),
    ),
)


def _hypotheses(report: dict) -> list[tuple[list[int], float]]:
    if "type" in report:
        raise Failed(
            text(
                f"beam_search should return a list of (tokens, score), got {report['type']}",
                f"beam_search 应返回 (tokens, score) 组成的列表，实际为 {report['type']}",
            )
        )
    if "bad" in report:
        raise Failed(
            text(
                f"each hypothesis should be a pair (tokens, score), got {report['bad']}"[:200],
                f"每个假设应是 (tokens, score) 二元组，实际为 {report['bad']}"[:200],
            )
        )
    return [(list(t), s) for t, s in report["hypotheses"]]


def make_case(index: int, rng: np.random.Generator) -> Case:
    vocab = int(rng.integers(4, 9))
    bos, eos = 0, 1
    k = [1, 2, 3, 4, 3, 5][index % 6]
    alpha = [1.0, 0.6, 1.0, 0.0, 1.0, 0.7][index % 6]
    max_len = int(rng.integers(3, 9))
    peak = float(rng.uniform(0.8, 2.5))
    seed = int(rng.integers(2**31))

    def model():
        return MarkovModel(np.random.default_rng(seed), vocab, eos, peak)

    def check(module):
        expected = _search(model(), bos, eos, k, max_len, alpha)
        args = (seed, vocab, eos, peak, bos, k, max_len, alpha)
        got = _hypotheses(drive(module, DRIVER, "search", *args))
        got_tokens, ref_tokens = [t for t, _ in got], [t for t, _ in expected]
        if got_tokens != ref_tokens:
            message = text(
                f"expected the hypotheses {ref_tokens}, got {got_tokens}",
                f"期望的假设为 {ref_tokens}，实际为 {got_tokens}",
            )
            for kw, why in MISTAKES:
                if [
                    t for t, _ in _search(model(), bos, eos, k, max_len, alpha, **kw)
                ] == got_tokens:
                    raise Failed(message, why)
            raise Failed(
                message,
                text(
                    "Best first; tokens without bos, finished ones ending with eos; keep the "
                    "best beam_size - len(finished) extensions at each step.",
                    "按分数从高到低；tokens 不含 bos，已完成的以 eos 结尾；每一步保留最好的 "
                    "beam_size - len(finished) 个扩展。",
                ),
            )
        raw = _search(model(), bos, eos, k, max_len, alpha, rank_raw=True)
        assert_close(
            "scores",
            [s for _, s in got],
            [s for _, s in expected],
            mistakes=[([s for _, s in raw], MISTAKES[0][1])]
            if [t for t, _ in raw] == ref_tokens
            else [],
            hint=text(
                "score = sum of log-probabilities / len(tokens) ** length_penalty, where "
                "len(tokens) counts eos and not bos.",
                "score = 对数概率之和 / len(tokens) ** length_penalty，len(tokens) 计入 eos、"
                "不计 bos。",
            ),
        )

    settings = [f"beam_size {k}", f"max_len {max_len}", f"length_penalty {alpha}"]
    return Case(
        text(
            ", ".join([f"vocabulary {vocab}", *settings]),
            "，".join([f"词表大小 {vocab}", *settings]),
        ),
        check,
    )
