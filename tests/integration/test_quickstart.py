"""The quickstart end to end: a run folder with everything a user is promised."""

import json


def test_run_folder_has_every_artefact(quick_run):
    names = {p.name for p in quick_run.iterdir()}
    assert {
        "config.yaml",
        "env.json",
        "metrics.jsonl",
        "summary.json",
        "report.md",
        "curves.png",
        "confusion.png",
        "predictions.png",
        "mistakes.png",
        "per_class.csv",
        "tensorboard",
        "checkpoints",
    } <= names
    assert {p.name for p in (quick_run / "checkpoints").iterdir()} == {
        "last.safetensors",
        "best.safetensors",
    }
    assert any(
        p.name.startswith("events.out.tfevents") for p in (quick_run / "tensorboard").iterdir()
    )


def test_summary_env_and_report_are_consistent(quick_run):
    summary = json.loads((quick_run / "summary.json").read_text())
    assert summary["epochs"] == 4 and summary["test"]["test/accuracy"] > 0.9
    assert summary["best"]["val/accuracy"] >= 0.9
    env = json.loads((quick_run / "env.json").read_text())
    assert env["seed"] == 0 and env["packages"]["torch"]
    assert env["hardware"]["torch_threads"] >= 1 and env["data_checksums"]
    report = (quick_run / "report.md").read_text()
    for picture in ("curves.png", "confusion.png", "predictions.png", "mistakes.png"):
        assert f"]({picture})" in report
    records = [json.loads(x) for x in (quick_run / "metrics.jsonl").read_text().splitlines()]
    assert sum("val/accuracy" in r for r in records) == 4
    assert all(r["step"] >= 1 for r in records)


def test_eval_reproduces_the_summary(quick_run, dllab):
    out = dllab("eval", str(quick_run), cwd=quick_run.parent.parent)
    assert out.returncode == 0, out.stderr
    summary = json.loads((quick_run / "summary.json").read_text())
    line = next(x for x in out.stdout.splitlines() if "test/accuracy" in x)
    assert abs(float(line.split()[-1]) - summary["test"]["test/accuracy"]) < 1e-4


def test_runs_table_lists_the_run(quick_run, dllab):
    out = dllab("runs", cwd=quick_run.parent.parent)
    assert out.returncode == 0 and "│ q " in out.stdout and "accuracy" in out.stdout
