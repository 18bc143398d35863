"""Chinese review sentiment: our models against TF-IDF + logistic regression, same splits.

For each seed, the reviews are deduplicated, conflicting texts dropped, and split 81/9/10
exactly as the `sentiment` task does (`data/reviews.py`, the seed picks the split). On that
split the script trains, in this one process:

- baselines (scikit-learn): TF-IDF of character 1-3-grams, and of jieba word 1-2-grams, each
  with a logistic regression whose C (1, 4 or 16) is picked on the validation part;
- our recipes through `dllab run`'s own code path: from scratch (`sentiment-zh-textcnn`,
  `sentiment-zh`), with pretrained embeddings (`--embeddings RUN_DIR`, a skip-gram run), and
  fine-tuning a pretrained encoder (`--encoder RUN_DIR`, a masked-LM run), alone
  (`bert+mlm`) and, with `--members N`, as an ensemble (`bert+mlm-xN`: N fine-tunings on the
  same split with different training seeds, their probabilities averaged; the first is
  `bert+mlm`'s run); and fastText over character n-grams (`sentiment-zh-fasttext`) and over
  jieba words and word bigrams (`sentiment-zh-fasttext-words`), bags of n-grams learned end
  to end, alone and averaged with the fine-tuned encoder (`bert+mlm+fasttext`, and
  `bert+mlm+fasttext+words` with both bags: the rows' own runs, equal weights fixed
  beforehand, nothing tuned on the test): models that err differently;

and prints one table of test accuracy and macro-F1 averaged over the seeds, the best of ours
minus the best baseline, and the load average (timings on a shared machine are pessimistic).

    python benchmarks/sentiment_zh.py [--seeds 0 1 2] [--threads 1] [--rows ...]
        [--embeddings RUN_DIR] [--encoder RUN_DIR] [--json results.json] [--runs DIR] [--members N]
    python benchmarks/sentiment_zh.py --table a.json b.json   # one table from saved runs
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _cli import run_main  # benchmarks/_cli.py: user errors as one line

from dllab.config import Recipe, load_recipe, load_resolved
from dllab.data.reviews import load_reviews, split_reviews
from dllab.data.text import jieba_tokenize
from dllab.experiment import build_task, resolved_recipe, run_recipe

VAL_FRACTION = TEST_FRACTION = 0.1  # the recipes' values
KINDS = {
    "tfidf-char": "baseline",
    "tfidf-jieba": "baseline",
    "textcnn": "from scratch",
    "bilstm-attention": "from scratch",
    "textcnn+emb": "pretrained emb",
    "bilstm-attention+emb": "pretrained emb",
    "fasttext": "from scratch",
    "fasttext-words": "from scratch",
    "bert+mlm": "pretrained encoder",
    "bert+mlm+fasttext": "pretrained encoder + fastText, averaged",
    "bert+mlm+fasttext+words": "pretrained encoder + fastText chars + words, averaged",
}


def kind(row: str) -> str:
    """`bert+mlm-x3` is an ensemble of the `bert+mlm` kind; `bert+mlm-x3+fasttext+words`
    averages those three fine-tunings as one model with the two fastTexts."""
    if row in KINDS:
        return KINDS[row]
    base, _, rest = row.partition("-x")
    n, _, others = rest.partition("+")
    if others:
        return f"{n} fine-tunings of the pretrained encoder + fastText chars + words, averaged"
    return KINDS[base] + f", {n} averaged"


def _load() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


# ---------------------------------------------------------------- baselines
def tfidf_lr(analyzer: str | Callable, ngrams: tuple[int, int]) -> Callable[[int], dict]:
    """A baseline for one seed: fit TF-IDF on train, pick C on val, score test."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    corpus = load_reviews()
    texts = np.array(corpus.texts, dtype=object)
    labels = np.array(corpus.labels)

    def run(seed: int) -> dict:
        split = split_reviews(
            corpus.labels, val_fraction=VAL_FRACTION, test_fraction=TEST_FRACTION, seed=seed
        )
        idx = {k: v.numpy() for k, v in split.items()}
        t0 = time.perf_counter()
        if callable(analyzer):  # words: tokenise once, then n-grams of the token lists
            vec = TfidfVectorizer(
                analyzer=lambda toks: [
                    " ".join(toks[i : i + n])
                    for n in range(ngrams[0], ngrams[1] + 1)
                    for i in range(len(toks) - n + 1)
                ],
                sublinear_tf=True,
            )
            docs = {k: [analyzer(t) for t in texts[v]] for k, v in idx.items()}
        else:
            vec = TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, sublinear_tf=True)
            docs = {k: list(texts[v]) for k, v in idx.items()}
        x = {"train": vec.fit_transform(docs["train"])}
        x["val"], x["test"] = vec.transform(docs["val"]), vec.transform(docs["test"])
        best = None
        for c in (1.0, 4.0, 16.0):
            lr = LogisticRegression(C=c, max_iter=3000).fit(x["train"], labels[idx["train"]])
            val = accuracy_score(labels[idx["val"]], lr.predict(x["val"]))
            if best is None or val > best[0]:
                best = (val, c, lr)
        assert best is not None
        pred = best[2].predict(x["test"])
        y = labels[idx["test"]]
        return {
            "accuracy": float(accuracy_score(y, pred)),
            "f1": float(f1_score(y, pred, average="macro")),
            "seconds": time.perf_counter() - t0,
            "note": f"C={best[1]:g}",
        }

    return run


# ---------------------------------------------------------------- our recipes
def trained_run(recipe: Recipe, folder: Path) -> Path:
    """Train `recipe` into `folder`, or reuse the finished run already there when it was
    trained from the same resolved recipe (so an interrupted benchmark resumes, and the
    ensemble's first member is the single-model row's run)."""
    if (folder / "summary.json").is_file():
        saved = build_task(load_resolved(folder / "config.yaml"), resolved=True)
        # config.yaml spells out every task option: compare recipes resolved the same way
        if resolved_recipe(saved).model_dump() == resolved_recipe(build_task(recipe)).model_dump():
            return folder
        raise SystemExit(f"{folder} holds a run of another recipe; remove it or pick --runs")
    if folder.exists():  # an unfinished run of ours: start it again
        shutil.rmtree(folder)
    return run_recipe(recipe, run_dir=folder, echo=lambda _: None, progress=False)


def run_result(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text("utf-8"))
    data = (run_dir / "data.md").read_text("utf-8")
    note = next((line[2:] for line in data.splitlines() if "pretrained" in line), "")
    return {
        "accuracy": summary["test"]["test/accuracy"],
        "f1": summary["test"]["test/f1"],
        "seconds": summary["train_seconds"],
        "note": f"{summary['epochs']} ep; {note}".strip("; "),
    }


def recipe_row(
    name: str, recipe: str, overrides: list[str], threads: int, runs: Path
) -> Callable[[int], dict]:
    def run(seed: int) -> dict:
        r = load_recipe(recipe, [*overrides, f"train.seed={seed}", f"train.threads={threads}"])
        return run_result(trained_run(r, runs / f"{name}-s{seed}"))

    return run


def class_probabilities(model: Any, meta: dict, texts: list[str]) -> np.ndarray:
    """`(N, classes)` probabilities through `dllab predict`'s own code path."""
    from dllab.tasks.sentiment import predict_texts

    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the 2 % longer than max_len are cut, as in training
        for i in range(0, len(texts), 256):
            for q in predict_texts(model, meta, texts[i : i + 256], top_k=len(meta["classes"])):
                score = dict(zip(q.labels, q.scores, strict=True))
                rows.append([score[c] for c in meta["classes"]])
    return np.array(rows)


Member = tuple[str, str, list[str]]  # (run folder name without -s<seed>, recipe, overrides)


def averaged_row(groups: list[list[Member]], threads: int, runs: Path) -> Callable[[int], dict]:
    """Models trained on one split (the seed's), their probabilities averaged: first within
    each group (several fine-tunings of one model), then the groups' means with equal weights,
    fixed beforehand. A member whose folder name is a single row's (`bert+mlm`, `fasttext`)
    is that row's run, reused; one named `row-mK` is another training seed (seed + 100 K) on
    the same split (`data.split_seed`). Each member's own accuracy is kept in the result, and
    the average's validation accuracy is reported beside the test's: nothing is chosen on
    the test split."""
    from sklearn.metrics import accuracy_score, f1_score

    from dllab.experiment import load_trained

    corpus = load_reviews()

    def run(seed: int) -> dict:
        split = split_reviews(
            corpus.labels, val_fraction=VAL_FRACTION, test_fraction=TEST_FRACTION, seed=seed
        )
        texts = {p: [corpus.texts[i] for i in split[p].tolist()] for p in ("val", "test")}
        y = {p: np.array(corpus.labels)[split[p].numpy()] for p in ("val", "test")}
        group_probs: dict[str, list[np.ndarray]] = {"val": [], "test": []}
        results, names = [], []
        for group in groups:
            probs: dict[str, list[np.ndarray]] = {"val": [], "test": []}
            for folder_name, recipe, overrides in group:
                base, _, k = folder_name.partition("-m")
                init = [f"data.split_seed={seed}", f"train.seed={seed + 100 * int(k)}"] if k else []
                r = load_recipe(
                    recipe, [*overrides, f"train.seed={seed}", *init, f"train.threads={threads}"]
                )
                run_dir = trained_run(r, runs / (f"{base}-s{seed}" + (f"-m{k}" if k else "")))
                results.append(run_result(run_dir))
                names.append(folder_name)
                model, meta = load_trained(run_dir)
                for part in probs:
                    probs[part].append(class_probabilities(model, meta, texts[part]))
                served = accuracy_score(y["test"], probs["test"][-1].argmax(1))
                if abs(served - results[-1]["accuracy"]) > 0.003:  # predict path != test path?
                    print(
                        f"  {run_dir.name}: predict gives {served:.4f}, the run's test "
                        f"{results[-1]['accuracy']:.4f}",
                        flush=True,
                    )
            for part in probs:
                group_probs[part].append(np.mean(probs[part], axis=0))
        pred = {p: np.mean(group_probs[p], axis=0).argmax(1) for p in group_probs}
        each = " ".join(f"{n} {r['accuracy']:.4f}" for n, r in zip(names, results, strict=True))
        val = accuracy_score(y["val"], pred["val"])
        return {
            "accuracy": float(accuracy_score(y["test"], pred["test"])),
            "f1": float(f1_score(y["test"], pred["test"], average="macro")),
            "seconds": sum(r["seconds"] for r in results),
            "note": f"mean of {len(groups)} groups' probabilities (val {val:.4f}); each: {each}",
            "members": [r["accuracy"] for r in results],
            "val_accuracy": float(val),
        }

    return run


def embedding_overrides(run_dir: str) -> list[str]:
    """Overrides that feed a skip-gram run's vectors to a recipe: its unit picks the
    tokenizer (characters, or jieba words for the corpus's words), its size the embedding."""
    from dllab.models.pretrained import load_word_vectors

    skipgram = load_resolved(Path(run_dir) / "config.yaml")  # older runs: unit in model.kwargs
    unit = skipgram.task.options.get("unit", skipgram.model.kwargs.get("unit", "word"))
    _, vectors = load_word_vectors(Path(run_dir))
    return [
        f"task.pretrained_embeddings={run_dir}",
        f"task.tokenizer={'char' if unit == 'char' else 'jieba'}",
        f"model.kwargs.embed_dim={vectors.shape[1]}",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--embeddings", help="a skip-gram run folder (word or char vectors)")
    ap.add_argument("--encoder", help="a masked-LM run folder")
    ap.add_argument("--rows", nargs="*", help="only these row names (default: all)")
    ap.add_argument("--json", type=Path, help="write every result here as it comes")
    ap.add_argument("--override", nargs="*", default=[], help="extra overrides for our recipes")
    ap.add_argument("--table", type=Path, nargs="+", help="only print the table of saved JSONs")
    ap.add_argument(
        "--runs",
        type=Path,
        help="keep each run's folder here; finished ones are reused (default: a temporary "
        "folder, removed at the end)",
    )
    ap.add_argument(
        "--members",
        type=int,
        default=1,
        help="with 2 or more: the rows bert+mlm-xN and bert+mlm-xN+fasttext+words",
    )
    args = ap.parse_args()

    if args.table:
        merged: dict[str, list[dict]] = {}
        for path in args.table:
            for name, res in json.loads(path.read_text("utf-8")).items():
                merged.setdefault(name, []).extend(res)
        print_table(merged)
        return

    with tempfile.TemporaryDirectory() as tmp:
        run_rows(args, args.runs or Path(tmp))


def run_rows(args: argparse.Namespace, runs: Path) -> None:
    """Train (or reuse from `runs`) every row's runs, print each result and the table. The
    averaged rows read the single rows' runs, so they cost only their extra members."""

    def ours(extra: tuple[str, ...] | list[str] = ()) -> tuple[list[str], int, Path]:
        return [*extra, *args.override], args.threads, runs

    # Rows are built lazily: a baseline reads the corpus, an embedding row the run folder.
    rows: dict[str, Callable[[], Callable[[int], dict]]] = {
        "tfidf-char": lambda: tfidf_lr("char", (1, 3)),
        "tfidf-jieba": lambda: tfidf_lr(jieba_tokenize, (1, 2)),
        "textcnn": lambda: recipe_row("textcnn", "sentiment-zh-textcnn", *ours()),
        "bilstm-attention": lambda: recipe_row("bilstm-attention", "sentiment-zh", *ours()),
        "fasttext": lambda: recipe_row("fasttext", "sentiment-zh-fasttext", *ours()),
        "fasttext-words": lambda: recipe_row(
            "fasttext-words", "sentiment-zh-fasttext-words", *ours()
        ),
    }
    if args.embeddings:
        emb = embedding_overrides(args.embeddings)
        rows["textcnn+emb"] = lambda: recipe_row("textcnn+emb", "sentiment-zh-textcnn", *ours(emb))
        rows["bilstm-attention+emb"] = lambda: recipe_row(
            "bilstm-attention+emb", "sentiment-zh", *ours(emb)
        )
    if args.encoder:
        enc = [f"task.pretrained_encoder={args.encoder}"]
        rows["bert+mlm"] = lambda: recipe_row("bert+mlm", "sentiment-zh-bert", *ours(enc))
        bert: Member = ("bert+mlm", "sentiment-zh-bert", [*enc, *args.override])
        fasttext: Member = ("fasttext", "sentiment-zh-fasttext", list(args.override))
        words: Member = ("fasttext-words", "sentiment-zh-fasttext-words", list(args.override))
        rows["bert+mlm+fasttext"] = lambda: averaged_row([[bert], [fasttext]], args.threads, runs)
        rows["bert+mlm+fasttext+words"] = lambda: averaged_row(
            [[bert], [fasttext], [words]], args.threads, runs
        )
        if args.members > 1:  # N - 1 more fine-tunings per seed: opt in
            n, more = args.members, [(f"bert+mlm-m{k}", *bert[1:]) for k in range(1, args.members)]
            rows[f"bert+mlm-x{n}"] = lambda: averaged_row(
                [[m] for m in (bert, *more)], args.threads, runs
            )
            rows[f"bert+mlm-x{n}+fasttext+words"] = lambda: averaged_row(
                [[bert, *more], [fasttext], [words]], args.threads, runs
            )
    if args.rows:
        rows = {k: v for k, v in rows.items() if k in args.rows}

    print(f"load average at start: {_load()} (1, 5, 15 min); seeds {args.seeds}", flush=True)
    results: dict[str, list[dict]] = {}
    for name, make in rows.items():
        run = make()
        results[name] = []
        for seed in args.seeds:
            res = {**run(seed), "seed": seed, "load": _load()}
            results[name].append(res)
            print(
                f"{name:<22} seed {seed}: accuracy {res['accuracy']:.4f} f1 {res['f1']:.4f} "
                f"({res['seconds']:.0f} s, load {res['load']}) {res['note']}",
                flush=True,
            )
            if args.json:
                args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False))

    print(f"\nload average at end: {_load()}\n")
    print_table(results)


def print_table(results: dict[str, list[dict]]) -> None:
    """The comparison table: accuracy and macro-F1 averaged over seeds, then the verdict."""
    print("| row | kind | seeds | accuracy (mean ± sd) | macro-F1 | train s (mean) | per seed |")
    print("|---|---|---|---|---|---|---|")
    means = {}
    for name, res in results.items():
        acc = [r["accuracy"] for r in res]
        f1 = [r["f1"] for r in res]
        sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
        means[name] = statistics.mean(acc)
        print(
            f"| {name} | {kind(name)} | {len(acc)} | {means[name]:.4f} ± {sd:.4f} | "
            f"{statistics.mean(f1):.4f} | {statistics.mean(r['seconds'] for r in res):.0f} | "
            + " ".join(f"{a:.4f}" for a in acc)
            + " |"
        )
    base = {k: v for k, v in means.items() if kind(k) == "baseline"}
    ours = {k: v for k, v in means.items() if kind(k) != "baseline"}
    if base and ours:
        b, o = max(base, key=base.get), max(ours, key=ours.get)  # type: ignore[arg-type]
        gap = 100 * (ours[o] - base[b])
        verdict = "meets" if gap >= 1.0 else "does NOT meet"
        print(
            f"\nbest of ours {o} {ours[o]:.4f} vs best baseline {b} {base[b]:.4f}: "
            f"{gap:+.2f} points ({verdict} the +1 point goal)"
        )


if __name__ == "__main__":
    run_main(main)
