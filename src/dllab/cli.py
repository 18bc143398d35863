"""The `dllab` command. Thin: it parses arguments and calls the library.

`main` is the one error boundary: user mistakes (`DllabError`, usage errors, OS errors such as
a full disk, undecodable files, checkpoints that do not fit the model) print one line and exit
2; Ctrl-C prints where to continue and exits 130; anything else is a bug: one line asking for
`--debug` and a report, exit 1. `--debug` shows the traceback instead.
"""

from __future__ import annotations

import shlex
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column, Table
from typer._click.exceptions import NoArgsIsHelpError, UsageError  # typer vendors click

from dllab.error_lines import StopLine, error_line
from dllab.errors import ConfigError, DllabError, Interrupted

app = typer.Typer(
    help="dllab: a deep-learning lab. Train, evaluate, export and serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
data_app = typer.Typer(help="Find, verify and download datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
ab_app = typer.Typer(help="A/B tests of served models.", no_args_is_help=True)
app.add_typer(ab_app, name="ab")


def _add_lab() -> None:
    from dllab.course.capstone import capstone
    from dllab.course.commands import app as course_app
    from dllab.course.commands import progress as course_progress
    from dllab.lab.commands import app as lab_app

    lab_app.command("capstone")(capstone)

    app.add_typer(lab_app, name="lab", help="Exercises: list, start, check, hint, solution.")
    app.add_typer(
        course_app,
        name="course",
        help="The course map in teaching order; `dllab course next` prints what to run next.",
    )
    app.command("progress")(course_progress)


_add_lab()
console = Console(soft_wrap=True)  # long paths stay on one line


class What(str, Enum):
    recipes = "recipes"
    models = "models"
    datasets = "datasets"
    tasks = "tasks"


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False) -> None:
    """dllab: a deep-learning lab."""


@app.command("list")
def list_(what: Annotated[What, typer.Argument(help="What to list.")] = What.recipes) -> None:
    """List recipes, models, datasets or tasks (with those of installed plugins)."""
    from dllab.plugins import load_entry_points

    load_entry_points()
    if what is What.recipes:
        from dllab.config import load_recipe, recipe_names

        table = Table(_key_column("recipe"), "task / model / dataset", "description")
        for name in recipe_names():
            r = load_recipe(name)
            table.add_row(name, f"{r.task}\n{r.model.name}\n{r.data.name}", r.description)
        console.print(table)
    elif what is What.models:
        from dllab.models import list_models

        console.print("\n".join(list_models()))
    elif what is What.tasks:
        from dllab.rl import ALGORITHMS
        from dllab.tasks import TASKS

        rl = [f"{name} (reinforcement learning, `dllab.rl`)" for name in ALGORITHMS]
        console.print("\n".join([*TASKS.names(), *rl]))
    else:
        _data_table()


@app.command()
def run(
    recipe: Annotated[str, typer.Argument(help="Recipe name (`dllab list`) or a YAML file.")],
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="Dotted overrides, e.g. train.max_epochs=3 optim.lr=0.01"),
    ] = None,
    run_dir: Annotated[Path | None, typer.Option(help="Folder for this run (must be new).")] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue the run in this folder from its last checkpoint.")
    ] = None,
) -> None:
    """Train a recipe; the run folder holds checkpoints, metrics, pictures and report.md."""
    from dllab.config import load_recipe
    from dllab.experiment import run_recipe

    if resume is not None and overrides:
        raise DllabError("--resume continues a run exactly as configured; drop the overrides")
    r = load_recipe(recipe, overrides or [])
    try:
        run_recipe(r, run_dir=run_dir, resume=resume, echo=console.print)
    except Interrupted as exc:
        # typer turns Ctrl-C into a silent exit 130: say here where to continue from.
        folder = exc.run_dir
        if (Path(folder) / "checkpoints" / "last.safetensors").is_file():
            hint = f"continue with `dllab run {recipe} --resume {folder}`"
        else:
            again = shlex.join(["dllab", "run", recipe, *(overrides or [])])
            again += f" --run-dir {shlex.quote(str(run_dir))}" if run_dir else ""
            hint = f"no checkpoint yet in {folder}: start again with `{again}`"
        raise StopLine(f"interrupted at step {exc.step}; {hint}", 130) from exc


@app.command("eval")
def eval_(run_dir: Annotated[Path, typer.Argument(help="A run folder.")]) -> None:
    """Evaluate a run's best checkpoint on its validation and test splits."""
    from dllab.experiment import evaluate_run

    for k, v in evaluate_run(run_dir).items():
        console.print(f"{k:>16} {v:.4f}")


@app.command()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A run folder.")],
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Image files, NIfTI scans (.nii/.nii.gz), CSV files, or text (- reads one "
            "text a line from stdin)."
        ),
    ],
    top_k: Annotated[int, typer.Option(min=1, help="How many labels to show.")] = 3,
    force: Annotated[
        bool, typer.Option("--force", help="Replace output files that exist (label maps).")
    ] = False,
) -> None:
    """Predict with a run's best checkpoint: labels, entities, a translation, a forecast or a
    label map."""
    from dllab.experiment import predict as predict_

    for p in predict_(run_dir, inputs, top_k, force=force):
        source = _short(p.source)
        if p.text is not None:
            console.print(f"{source}: {p.text}", highlight=False, markup=False)
            continue
        shown = ", ".join(
            f"{label} {score:.3f}" for label, score in zip(p.labels, p.scores, strict=True)
        )
        console.print(f"{source}: {shown}", highlight=False, markup=False)


def _short(source: str, keep: int = 60) -> str:
    """An input as the label of its result line: a long text (a pasted prompt, a document)
    is named by its start and length, not echoed in full before a result that repeats it."""
    if len(source) <= keep:
        return source
    return f"{source[:keep]}… ({len(source):,} characters)"


class Format(str, Enum):
    onnx = "onnx"
    pt2 = "pt2"
    tflite = "tflite"


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run folder.")],
    format: Annotated[
        Format,
        typer.Option(
            "--format",
            help="onnx, pt2 (a torch.export program) or tflite (image CNNs; needs "
            "`make install-tflite` and .venv-tflite/bin/dllab).",
        ),
    ] = Format.onnx,
    out: Annotated[Path | None, typer.Option(help="Output file.")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace --out (and model.json beside it).")
    ] = False,
) -> None:
    """Export a run's best model and check the exported file against PyTorch."""
    from dllab.deploy.export import export_run

    res = export_run(run_dir, format.value, out, force=force)
    verdict = "ok" if res.ok else "MISMATCH"
    files = ", ".join(map(str, res.graphs.values())) or str(res.path)
    console.print(
        f"exported {files}; {res.checked_with} vs PyTorch max abs diff "
        f"{res.max_abs_diff:.2e} (tolerance {res.tolerance:.0e}): {verdict}",
        highlight=False,
    )
    if res.end_to_end:
        console.print(
            "end to end: " + ", ".join(f"{k} {v}" for k, v in res.end_to_end.items()),
            highlight=False,
        )
    if not res.ok:
        raise typer.Exit(1)


@app.command()
def compress(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (an image classifier).")],
    method: Annotated[
        str,
        typer.Option(
            help="ort-dynamic, ort-static (int8, calibrated), pt2e (torchao int8) or prune."
        ),
    ],
    out: Annotated[Path | None, typer.Option(help="Output folder [RUN/compress/METHOD].")] = None,
    calibration: Annotated[int, typer.Option(help="Validation images to calibrate on.")] = 512,
    amount: Annotated[float, typer.Option(help="prune: fraction of weights to zero.")] = 0.5,
    finetune_steps: Annotated[int, typer.Option(help="prune: training steps after.")] = 200,
    threads: Annotated[int, typer.Option(min=1, help="CPU threads for the timings.")] = 2,
    iterations: Annotated[int, typer.Option(min=1, help="Timed calls per measurement.")] = 100,
    force: Annotated[bool, typer.Option("--force", help="Replace files in --out.")] = False,
) -> None:
    """Quantise or prune a run's model; write the size/latency/accuracy table (compress.md)."""
    from dllab.deploy.compress import Settings, compress_run

    settings = Settings(threads=threads, iterations=iterations)
    res = compress_run(
        run_dir, method, out, calibration=calibration, amount=amount,
        finetune_steps=finetune_steps, settings=settings, force=force,
    )  # fmt: skip
    console.print((res.out / "compress.md").read_text("utf-8"), highlight=False, markup=False)


@app.command()
def serve(
    runs: Annotated[list[Path], typer.Argument(help="Run folders: A, then B… for A/B tests.")],
    split: Annotated[
        str | None,
        typer.Option(help="Traffic share of A (e.g. 0.9), or one share per run: 0.5,0.3,0.2."),
    ] = None,
    shadow: Annotated[
        bool, typer.Option("--shadow", help="A answers all; the other runs are scored silently.")
    ] = False,
    backend: Annotated[str, typer.Option(help="torch, or onnx (ONNX Runtime).")] = "torch",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    max_batch_size: Annotated[int, typer.Option(min=1, help="Largest micro-batch.")] = 32,
    max_latency_ms: Annotated[
        float, typer.Option(min=0, help="Longest wait for a batch to fill, in ms.")
    ] = 2.0,
    max_body_kb: Annotated[int, typer.Option(min=1, help="Largest request body, in KiB.")] = 4096,
    ab_log: Annotated[
        Path | None, typer.Option(help="JSONL log of assignments and feedback (ab report).")
    ] = None,
    drain_seconds: Annotated[
        float, typer.Option(min=0, help="On SIGTERM, wait this long for requests in flight.")
    ] = 30.0,
) -> None:
    """Serve runs over HTTP: /predict, /feedback, /health, /ready, /metrics and /docs."""
    from dllab.serve.server import serve as serve_

    serve_(
        runs,
        split=split,
        shadow=shadow,
        backend=backend,
        host=host,
        port=port,
        max_batch_size=max_batch_size,
        max_latency_ms=max_latency_ms,
        max_body_kb=max_body_kb,
        ab_log=ab_log,
        drain_seconds=drain_seconds,
        echo=lambda line: console.print(line, highlight=False, markup=False),
    )


@app.command()
def demo(
    run: Annotated[Path, typer.Argument(help="The run folder to try out.")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    backend: Annotated[str, typer.Option(help="torch, or onnx (ONNX Runtime).")] = "torch",
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the page in your browser.")
    ] = True,
) -> None:
    """A local demo page for a run: draw or upload an image, or type a text (offline)."""
    from dllab.serve.server import serve as serve_

    serve_(
        [run],
        backend=backend,
        port=port,
        echo=lambda line: console.print(line, highlight=False, markup=False),
        open_page=open_browser,
    )


@ab_app.command("report")
def ab_report(
    log: Annotated[Path, typer.Argument(help="The file given to `dllab serve --ab-log`.")],
    alpha: Annotated[float, typer.Option(min=0, max=1, help="Significance level.")] = 0.05,
) -> None:
    """Each variant's accuracy (Wilson 95% interval), tests against A, and a recommendation."""
    from dllab.serve.report import ab_report as report_

    stats, comparisons, advice = report_(log, alpha=alpha)
    table = Table(_key_column("variant"), "labelled", "correct", "accuracy", "95% interval")
    for s in stats:
        table.add_row(
            s.name, str(s.n), str(s.correct), f"{s.accuracy:.4f}", f"[{s.low:.4f}, {s.high:.4f}]"
        )
    console.print(table)
    for c in comparisons:
        fisher = f", Fisher exact p = {c.fisher_p:.4g}" if c.fisher_p is not None else ""
        console.print(f"{c.b} vs {c.a}: {c.test} p = {c.p_value:.4g}{fisher}", highlight=False)
    console.print(advice, highlight=False, markup=False)


@app.command()
def runs(
    root: Annotated[Path, typer.Option(help="Folder holding run folders.")] = Path("runs"),
) -> None:
    """Table of runs (folders under --root) with the metric each recipe promises."""
    from dllab.train.run_dir import list_runs

    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise ConfigError(f"--root {root} {what}; pass the folder that holds your run folders")
    table = Table(_key_column("run"), "steps", "train s", "metric", "val", "test", "stop")
    for path, s in list_runs(root):
        if s is None:
            state = "unreadable summary.json" if (path / "summary.json").exists() else "unfinished"
            table.add_row(path.name, "-", "-", "-", "-", "-", state)
            continue
        try:
            table.add_row(path.name, *_summary_cells(s))
        except (AttributeError, KeyError, TypeError, ValueError):  # one bad folder, one row
            table.add_row(path.name, "-", "-", "-", "-", "-", "unreadable summary.json")
    console.print(table)


def _summary_cells(s: dict) -> list[str]:
    """The table cells of one run's summary.json (raises if it is not a run summary)."""
    # Each recipe names the metric it promises; classification runs default to accuracy.
    name = ((s.get("target") or {}).get("metric") or "test/accuracy").split("/")[-1]
    best, test = s.get("best") or {}, s.get("test") or {}
    return [
        str(int(s["steps"])),
        f"{s['train_seconds']:.1f}",
        name,
        f"{best.get('val/' + name, float('nan')):.4f}",
        f"{test.get('test/' + name, float('nan')):.4f}",
        str(s["stop_reason"]),
    ]


@app.command()
def doctor() -> None:
    """Versions, devices (CUDA / MPS / CPU), threads and which datasets are found where."""
    from dllab.envinfo import devices, package_versions

    for name, version in package_versions().items():
        console.print(f"{name:>14} {version or 'not installed'}")
    for k, v in devices().items():
        console.print(f"{k:>22} {v}")
    _data_table()


def _key_column(header: str) -> Column:
    """A first column that never wraps: names must stay copy-pasteable."""
    return Column(header, no_wrap=True)


def _data_table() -> None:
    from dllab.data import dataset_status

    table = Table(*map(_key_column, ("dataset", "status")), "where / what to do")
    for name, found, where in dataset_status():
        table.add_row(name, "found" if found else "missing", str(where))
    console.print(table)


@data_app.command("list")
def data_list() -> None:
    """Datasets in the catalog and where they were found."""
    _data_table()


@data_app.command("verify")
def data_verify(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    data_dir: Annotated[Path | None, typer.Option(help="Look here first.")] = None,
) -> None:
    """Check a dataset's files against the catalog's sha256 (of decompressed content)."""
    from dllab.data import check_files

    for check in check_files(name, data_dir=data_dir):
        console.print(f"{check.line()}  ({check.path})", highlight=False, markup=False)


@data_app.command("download")
def data_download(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    dest: Annotated[Path | None, typer.Option(help="Folder to put it in.")] = None,
) -> None:
    """Download a dataset (resumable, verified) into ~/.cache/dllab or --dest."""
    from dllab.data import download

    path = download(name, dest)
    console.print(f"{name} is ready in {path}")


def main() -> None:
    """Entry point, and the one error boundary: every failure ends as one line on stderr."""
    argv = sys.argv[1:]
    debug = "--debug" in argv
    try:
        status = app(args=argv, prog_name="dllab", standalone_mode=False)
    except NoArgsIsHelpError:
        sys.exit(2)  # the help was printed
    except Exception as exc:  # noqa: BLE001  the boundary: one line each, see error_lines.py
        if debug and not isinstance(exc, (UsageError, StopLine)):
            raise
        line, status = error_line(exc)
        print("dllab: " + " ".join(line.split()), file=sys.stderr)
        sys.exit(status)
    if status == 130:  # typer's silent answer to Ctrl-C outside training
        print("dllab: interrupted", file=sys.stderr)
    sys.exit(status if isinstance(status, int) else 0)
