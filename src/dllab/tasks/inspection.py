"""What both P01 defect-inspection tasks share: the parts they read and the report they write.

The anomaly detector (`dllab.tasks.anomaly`, fit on good parts only) and the supervised
classifier (`dllab.tasks.defect_classifier`, fine-tuned on good and defective parts) are
compared on the same validation and test parts and judged by the same page, so both live here
once:

- data: `data.name: synthetic-defects` (`dllab.data.defects`, generated once into the data
  folder) or `data.name: folder` with `data.path` at a user's MVTec-AD-style folder
  (`dllab.data.mvtec`); the validation split is `data.val_fraction` of the test parts,
  stratified by defect type (MVTec-AD has none);
- report: `inspection.md` (the threshold chosen on validation for the stated recall, the
  confusion matrix and false-alarm rate at it, image AUROC, pixel AUROC and PRO per defect type,
  latency per image), `per_defect.csv`, `scores.png` and `worst_cases.png` (heat maps over the
  hardest test parts).
"""

from __future__ import annotations

import csv
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from dllab.config import Recipe
from dllab.data.mvtec import GOOD, AnomalyData, AnomalySplit, load_mvtec, split_validation
from dllab.errors import ConfigError
from dllab.metrics.anomaly import AnomalyMetrics, confusion_at
from dllab.tasks.base import TaskOptions, cat_outputs
from dllab.train.protocol import Prediction

__all__ = [
    "SYNTHETIC",
    "InspectionOptions",
    "SyntheticOptions",
    "load_inspection_data",
    "measure_latency",
    "worst_cases",
    "write_inspection_report",
]

SYNTHETIC = "synthetic-defects"


# ---------------------------------------------------------------- options
class SyntheticOptions(BaseModel):
    """Size and difficulty of `data.name: synthetic-defects` (`dllab.data.defects`)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    train_good: int = Field(100, ge=1)  # good parts to fit on, per texture
    test_good: int = Field(60, ge=2)  # good test parts (data.val_fraction of them validate)
    test_per_defect: int = Field(24, ge=2)  # defective test parts per defect type
    contrast: float = Field(1.0, gt=0, le=10)  # scales every defect's grey-level change
    seed: int = 0  # the data's own seed: every train.seed sees the same parts


class InspectionOptions(TaskOptions):
    """The options every inspection task takes (each task adds its method's own)."""

    category: str | None = None  # category folder (synthetic: brick, grass or gravel)
    recall: float = Field(0.99, gt=0, le=1)  # defective validation parts the threshold flags
    worst_cases: int = Field(8, ge=1)  # heat-map overlays drawn for the report
    synthetic: SyntheticOptions = SyntheticOptions()


# ---------------------------------------------------------------- data
def load_inspection_data(
    recipe: Recipe, options: InspectionOptions, task: str
) -> tuple[AnomalyData, AnomalySplit, AnomalySplit]:
    """(the category's data, validation split, test split), or ConfigError/DataError in one
    line saying what to change. Both splits hold good and defective parts."""
    size = recipe.data.image_size or 256
    data = load_mvtec(
        _data_root(recipe, options, size, task), image_size=size, category=options.category
    )
    val, test = split_validation(data.test, recipe.data.val_fraction, recipe.split_seed)
    for name, part in (("validation", val), ("test", test)):
        if not (part.kinds == 0).any() or not (part.kinds > 0).any():
            raise ConfigError(
                f"the {name} split has no good or no defective parts; set "
                f"data.val_fraction between 0.1 and 0.9 (it is {recipe.data.val_fraction})"
            )
    return data, val, test


def _data_root(recipe: Recipe, options: InspectionOptions, size: int, task: str) -> Path:
    d = recipe.data
    if d.name == SYNTHETIC:
        from dllab.data.defects import TEXTURES, DefectConfig, synthetic_defects

        if options.category not in TEXTURES:
            raise ConfigError(
                f"task.category={options.category!r}: the synthetic data has categories "
                f"{', '.join(TEXTURES)}"
            )
        s = options.synthetic
        config = DefectConfig(
            image_size=size,
            train_good=s.train_good,
            test_good=s.test_good,
            test_per_defect=s.test_per_defect,
            contrast=s.contrast,
            seed=s.seed,
            textures=(options.category,),
        )
        return synthetic_defects(config, root=d.data_dir)
    if d.name == "folder":
        if not d.path:
            raise ConfigError("data.name=folder needs data.path=<your MVTec-style folder>")
        return Path(d.path)
    raise ConfigError(
        f"task {task!r} reads data.name={SYNTHETIC} or data.name=folder (an MVTec-AD "
        f"layout at data.path); got {d.name!r}"
    )


# ---------------------------------------------------------------- report pieces
def worst_cases(
    scores: torch.Tensor, defective: torch.Tensor, threshold: float, k: int
) -> torch.Tensor:
    """Indices of the `k` hardest parts, half of them defective parts with the lowest scores
    (missed defects first: does the heat map still find them?) and half good parts with the
    highest (false alarms first: what fooled it?); the other half fills in when one is short.

    At a threshold set for 99 % recall nearly every hard case is a false alarm, so ranking all
    parts by one margin would show no defect at all.
    """
    margin = torch.where(defective, scores - threshold, threshold - scores)
    bad = torch.nonzero(defective).flatten()
    good = torch.nonzero(~defective).flatten()
    bad = bad[torch.argsort(margin[bad], stable=True)]
    good = good[torch.argsort(margin[good], stable=True)]
    n_bad = min(len(bad), max(k - len(good), (k + 1) // 2))
    return torch.cat([bad[:n_bad], good[: k - n_bad]])


@torch.no_grad()
def measure_latency(
    fn: Callable[[torch.Tensor], Any], x: torch.Tensor, repeats: int = 10
) -> dict[str, Any]:
    """Median wall time of `fn(x)` on one image `x` (1, 3, S, S) (everything but decoding the
    file), and the median throughput of 3 batches of 8. `fn` is what the line runs per part:
    the detector's forward pass, or the classifier's verdict plus its Grad-CAM map."""
    device = x.device
    fn(x)  # warm up (allocations, oneDNN kernel choice)

    def timed(inputs: torch.Tensor) -> float:
        t0 = time.perf_counter()
        fn(inputs)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    times = [timed(x) for _ in range(repeats)]
    batch = 8
    xb = x.expand(batch, -1, -1, -1).contiguous()
    batched = [batch / timed(xb) for _ in range(3)]
    return {
        "ms_per_image": 1000 * statistics.median(times),
        "repeats": repeats,
        "images_per_s_batched": statistics.median(batched),
        "batch": batch,
        "threads": torch.get_num_threads(),
        "device": str(device),
    }


def write_inspection_report(
    run_dir: Path,
    *,
    test: AnomalySplit,
    maps: torch.Tensor,
    threshold: float,
    recall: float,
    data: AnomalyData,
    latency: dict[str, Any],
    worst_k: int,
    score_name: str,
    map_name: str,
) -> list[Path]:
    """inspection.md, per_defect.csv, scores.png and worst_cases.png for one test pass.

    `maps` (N, S, S): the test parts' heat maps, whose maximum is each part's score;
    `threshold` was chosen on the validation split to flag `recall` of its defective parts.
    `score_name` and `map_name` say in words what the score and the heat map are.
    """
    from dllab.viz.anomaly import plot_anomaly_overlays, plot_score_histogram

    maps = maps.float().cpu()
    scores = maps.flatten(1).amax(1)  # (N,)
    defective = test.kinds > 0
    cm = confusion_at(scores, defective, threshold)
    names = data.kind_names
    rows = _per_kind_rows(maps, scores, test, threshold, data.defect_types)
    paths = [
        _write_inspection_md(run_dir, cm, threshold, recall, rows, latency, score_name),
        _write_csv(run_dir / "per_defect.csv", rows),
        plot_score_histogram(
            scores.numpy(),
            test.kinds.numpy(),
            names,
            threshold,
            run_dir / "scores.png",
            title=f"Test image scores; dashed: the threshold set on validation for {recall:.0%} "
            "recall",
            xlabel=score_name,
        ),
    ]
    worst = worst_cases(scores, defective, threshold, worst_k)
    paths.append(
        plot_anomaly_overlays(
            test.images[worst].permute(0, 2, 3, 1).numpy(),
            maps[worst].numpy(),
            test.masks[worst].numpy(),
            [_case_title(test, i, float(scores[i]), threshold) for i in worst.tolist()],
            run_dir / "worst_cases.png",
            vmax=float(scores.quantile(0.99)),
            map_name=map_name,
        )
    )
    return paths


def _per_kind_rows(
    maps: torch.Tensor, scores: torch.Tensor, test: AnomalySplit, t: float, types: list[str]
) -> list[dict[str, Any]]:
    """One row per kind (good, then each defect type, then all defects): parts, flagged at
    `t`, median score, and for defect types image AUROC, pixel AUROC and PRO against the good
    parts (the same numbers the run's metrics report as `test/<metric>.<type>`)."""
    metric = AnomalyMetrics(types)
    metric.update(maps, {"mask": test.masks, "kind": test.kinds})
    values = {k: float(v) for k, v in metric.compute().items()}
    rows = []
    groups = [("good", test.kinds == 0, "")]
    groups += [(name, test.kinds == i, f".{name}") for i, name in enumerate(types, start=1)]
    groups.append(("all defects", test.kinds > 0, ""))
    for name, keep, suffix in groups:
        s = scores[keep]
        if not len(s):
            continue
        measured = name != "good"
        rows.append(
            {
                "kind": name,
                "parts": len(s),
                "flagged": int((s >= t).sum()),
                "median_score": f"{float(s.median()):.4g}",
                **{
                    m: f"{values[m + suffix]:.3f}" if measured else ""
                    for m in ("image_auroc", "pixel_auroc", "pro")
                },
            }
        )
    return rows


def _write_inspection_md(
    run_dir: Path,
    cm: np.ndarray,
    t: float,
    recall: float,
    rows: list[dict],
    latency: dict,
    score_name: str,
) -> Path:
    from dllab.train.checkpoint import atomic_write_text

    (tn, fp), (fn, tp) = cm.tolist()
    lines = [
        "# Inspection at the validation threshold",
        "",
        f"A part is flagged defective when its score ({score_name}) is at least {t:.4g}: "
        f"the highest threshold that flags {recall:.0%} of the defective *validation* parts. "
        "Below, the *test* parts at that threshold.",
        "",
        "| test parts (truth) | passed as good | flagged defective |",
        "|---|---|---|",
        f"| good | {tn} | {fp} (false alarms) |",
        f"| defective | {fn} (missed) | {tp} |",
        "",
        f"- false-alarm rate: {fp / max(tn + fp, 1):.1%} of good parts flagged ({fp} of {tn + fp})",
        f"- recall: {tp / max(tp + fn, 1):.1%} of defective parts caught ({tp} of {tp + fn})",
        f"- latency: {latency['ms_per_image']:.1f} ms per image (batch 1, median of "
        f"{latency['repeats']}, {latency['threads']} threads, {latency['device']}); "
        f"{latency['images_per_s_batched']:.1f} images/s in batches of {latency['batch']}",
        "",
        "Per defect type (AUROC and PRO: that type's parts against the good parts; PRO up to "
        "30 % false-positive rate):",
        "",
        "| kind | parts | flagged | median score | image AUROC | pixel AUROC | PRO |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {r['kind']} | {r['parts']} | {r['flagged']} | {r['median_score']} | "
            f"{r['image_auroc']} | {r['pixel_auroc']} | {r['pro']} |"
            for r in rows
        ],
    ]
    path = run_dir / "inspection.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _case_title(test: AnomalySplit, i: int, score: float, t: float) -> str:
    defective = bool(test.kinds[i] > 0)
    if score >= t:
        verdict = "caught" if defective else "FALSE ALARM"
    else:
        verdict = "MISSED" if defective else "passed"
    return f"{test.files[i]}\nscore {score:.3g} vs {t:.3g}: {verdict}"


def report_test_pass(
    task: Any,
    model: torch.nn.Module,
    run_dir: Path,
    outputs: list[Any],
    *,
    latency: dict[str, Any],
    score_name: str,
    map_name: str,
) -> list[Path]:
    """`write_inspection_report` for an inspection task's test pass: both methods (PatchCore
    and the classifier) keep their threshold on the model and their options on the task."""
    return write_inspection_report(
        run_dir,
        test=task.splits_["test"],
        maps=cat_outputs(outputs)["maps"],
        threshold=float(model.threshold),
        recall=task.options.recall,
        data=task.data_,
        latency=latency,
        worst_k=task.options.worst_cases,
        score_name=score_name,
        map_name=map_name,
    )


def verdicts(inputs: list[Any], scores: list[float], threshold: float) -> list[Prediction]:
    """Each part's verdict at the validation threshold: "defective" from it up, else good."""
    return [
        Prediction(source=f, labels=["defective" if s >= threshold else GOOD], scores=[float(s)])
        for f, s in zip(inputs, scores, strict=True)
    ]
