"""The RL pictures and page section a run adds to report.md: reward curves and the agent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dllab.viz.figure import new_figure, save_figure


def plot_rewards(run_dir: Path, title: str, threshold: float | None, final: float | None) -> Path:
    """rewards.png: the logged mean episode return against environment steps, the solved
    threshold as a dashed line, and the final evaluation as a point."""
    records = [
        json.loads(line)
        for line in (run_dir / "metrics.jsonl").read_text("utf-8").splitlines()
        if line.strip()
    ]
    points = [
        (r["step"], r["train/episode_return"]) for r in records if "train/episode_return" in r
    ]
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    if points:
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, color="C0", marker="o" if len(xs) == 1 else None, label="training episodes")
    if threshold is not None:
        ax.axhline(threshold, color="C3", linestyle="--", label=f"solved ({threshold:g})")
    if final is not None:
        x = points[-1][0] if points else 0
        ax.plot([x], [final], "o", color="C2", label=f"greedy evaluation ({final:.4g})")
    ax.set_title(title)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return (mean per log point)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return save_figure(fig, run_dir / "rewards.png")


def write_agent_page(
    run_dir: Path,
    metrics: dict[str, float],
    gif: Path | None,
    seeds: str,
    threshold: float | None,
    chosen: str | None = None,
) -> Path:
    """agent.md: the evaluation in words and the GIF (report.md shows it inline); `chosen`
    says which policy was judged when validation picked one."""
    lines = [
        f"Greedy policy over {int(metrics['eval/episodes'])} episodes ({seeds}): mean return "
        f"{metrics['eval/mean_return']:.4g} ± {metrics['eval/std_return']:.3g} "
        f"(min {metrics['eval/min_return']:.4g}, max {metrics['eval/max_return']:.4g}).",
        "",
    ]
    if chosen:
        lines += [chosen, ""]
    if threshold is not None:
        verdict = "solved" if metrics["eval/mean_return"] >= threshold else "not solved"
        lines += [f"Solved threshold {threshold:g}: **{verdict}**.", ""]
    lines += ["![reward curves](rewards.png)", ""]
    if gif is not None:
        lines += [f"![the trained agent, one episode]({gif.name})", ""]
    path = run_dir / "agent.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def summary_of(
    agent: Any, recipe: Any, loop: dict[str, Any], test: dict[str, float]
) -> dict[str, Any]:
    """summary.json for an RL run, in the fields `train/report.write_report` reads."""
    summary = {
        "recipe": recipe.name,
        "task": recipe.task.name,
        "model": recipe.model.name,
        "dataset": recipe.data.name,
        "stop_reason": loop["stop_reason"],
        "epochs": loop["iterations"],
        "unit": "iterations",  # of the algorithm's loop, not passes over a dataset
        "steps": agent.steps_,
        "episodes": agent.episodes_,
        "train_seconds": round(loop["train_seconds"], 2),
        "best": None,
        "test": test,
    }
    if recipe.target is not None:
        value = test.get(recipe.target.metric)
        summary["target"] = {
            **recipe.target.model_dump(),
            "reached": value,
            "met": value is not None and value >= recipe.target.value,
        }
    return summary
