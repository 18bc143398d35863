"""The `word2vec` task's report pages: our vectors beside gensim's.

neighbours.md and neighbours.csv put, for each query word, each set's nearest neighbours with
their cosine similarity side by side, and how many the two share; `QUERIES` and `GROUPS` are the
words the tables and the PCA picture (`viz/embeddings.py`) show, all frequent in the corpus.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "GROUPS",
    "QUERIES",
    "comparison_notes",
    "train_seconds",
    "write_neighbours_csv",
    "write_neighbours_md",
]

# Query words for the neighbour tables and their overlap, by unit.
QUERIES = {
    "word": ("中国", "经济", "北京", "教育", "发展", "人民", "银行", "春节", "足球", "美国",
             "改革", "文化", "科技", "农民", "医院", "电影"),
    "char": ("国", "经", "京", "教", "春", "山", "水", "红", "父", "东", "说", "年", "月",
             "大", "好", "钱"),
}  # fmt: skip
# Word groups for the 2-D PCA picture, by unit.
GROUPS = {
    "word": {
        "cities": ("北京", "上海", "天津", "广州", "深圳", "香港", "重庆"),
        "countries": ("美国", "日本", "俄罗斯", "英国", "法国", "德国", "韩国"),
        "economy": ("经济", "市场", "企业", "投资", "金融", "银行", "贸易"),
        "sport": ("足球", "比赛", "运动员", "冠军", "体育", "球队"),
        "festivals": ("春节", "元旦", "新年", "节日", "除夕"),
    },
    "char": {
        "numerals": ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十"),
        "directions": ("东", "西", "南", "北"),
        "nature": ("山", "水", "河", "海", "江", "湖"),
        "family": ("父", "母", "儿", "女", "兄", "弟", "姐", "妹"),
        "colours": ("红", "黄", "蓝", "绿", "白", "黑"),
    },
}

Table = tuple[torch.Tensor, torch.Tensor]  # (ids (Q, k), cosine similarities (Q, k))


def train_seconds(run_dir: Path) -> float | None:
    """Training seconds at the last record of the run's metrics.jsonl (None if absent)."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return None
    last = None
    for line in path.read_text("utf-8").splitlines():
        if line.strip():
            last = json.loads(line).get("time", last)
    return last


def _f3(value: float | None) -> str:
    return "?" if value is None else f"{value:.3f}"


def comparison_notes(c: dict[str, Any], batch_size: int, workers: int) -> list[str]:
    """Cost and agreement lines from the comparison `c` (the run's vs_gensim.json)."""
    ours = f"{c['train_seconds']:.1f} s" if c["train_seconds"] is not None else "?"
    return [
        f"training time: ours {ours} (PyTorch, mini-batches of {batch_size} pairs), gensim "
        f"{c['gensim_seconds']:.1f} s ({workers} worker threads)",
        f"held-out test pairs ({c['pairs']:,}, the same for both): loss ours "
        f"{_f3(c['loss'])}, gensim {_f3(c['gensim_loss'])}; pair accuracy ours "
        f"{_f3(c['pair_accuracy'])}, gensim {_f3(c['gensim_pair_accuracy'])}",
        f"neighbour overlap (top {c['top']}): ours vs gensim {_f3(c['neighbour_overlap'])}; "
        f"gensim vs gensim with another seed {_f3(c['gensim_self_overlap'])}",
    ]


def _cells(tokens: list[str], ids: torch.Tensor, sims: torch.Tensor) -> str:
    return " ".join(
        f"{tokens[i]} {s:.2f}" for i, s in zip(ids.tolist(), sims.tolist(), strict=True)
    )


def write_neighbours_md(
    title: str,
    notes: list[str],
    queries: list[str],
    tokens: list[str],
    ours: Table,
    theirs: Table,
    path: Path,
) -> Path:
    """A Markdown page: `title`, `notes` as a list, then one row a query word."""
    (ids, sims), (g_ids, g_sims) = ours, theirs
    lines = [f"# {title}", "", *(f"- {n}" for n in notes), ""]
    lines += ["| word | ours | gensim | common |", "|---|---|---|---|"]
    for q, a, sa, b, sb in zip(queries, ids, sims, g_ids, g_sims, strict=True):
        common = len(set(a.tolist()) & set(b.tolist()))
        lines.append(f"| {q} | {_cells(tokens, a, sa)} | {_cells(tokens, b, sb)} | {common} |")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_neighbours_csv(
    queries: list[str], tokens: list[str], ours: Table, theirs: Table, path: Path
) -> Path:
    """One row per query word and rank: ours and gensim's neighbour with their cosines."""
    (ids, sims), (g_ids, g_sims) = ours, theirs
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["query", "rank", "ours", "ours_cosine", "gensim", "gensim_cosine"])
        for q, a, sa, b, sb in zip(queries, ids, sims, g_ids, g_sims, strict=True):
            for r in range(len(a)):
                w.writerow([q, r + 1, tokens[a[r]], f"{sa[r]:.4f}", tokens[b[r]], f"{sb[r]:.4f}"])
    return path
