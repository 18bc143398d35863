"""The `dllab` command. Thin: it parses arguments and calls the library.

User mistakes raise `DllabError`; `main` prints them as one line and exits with status 2
(a traceback only with `--debug`).
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column, Table

from dllab.errors import DllabError

app = typer.Typer(
    help="dllab: a deep-learning lab. Train, evaluate, export and serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
data_app = typer.Typer(help="Find, verify and download datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _add_lab() -> None:
    from dllab.lab.commands import app as lab_app
    from dllab.lab.commands import progress as lab_progress

    app.add_typer(lab_app, name="lab", help="Exercises: list, start, check, hint, solution.")

    @app.command()
    def progress(
        lang: Annotated[
            str | None, typer.Option(help="en or zh (default: from the locale).")
        ] = None,
        folder: Annotated[Path | None, typer.Option("--dir", help="The lab folder.")] = None,
    ) -> None:
        """The stage's acceptance checklist, with your exercises behind each item."""
        lab_progress(lang=lang, folder=folder)


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
        from dllab.tasks import TASKS

        console.print("\n".join(TASKS.names()))
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
    run_recipe(r, run_dir=run_dir, resume=resume, echo=console.print)


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
            help="Image files, CSV files, or text (- reads one text a line from stdin)."
        ),
    ],
    top_k: Annotated[int, typer.Option(min=1, help="How many labels to show.")] = 3,
) -> None:
    """Predict with a run's best checkpoint: labels, entities, a translation or a forecast."""
    from dllab.experiment import predict as predict_

    for p in predict_(run_dir, inputs, top_k):
        if p.text is not None:
            console.print(f"{p.source}: {p.text}", highlight=False, markup=False)
            continue
        shown = ", ".join(
            f"{label} {score:.3f}" for label, score in zip(p.labels, p.scores, strict=True)
        )
        console.print(f"{p.source}: {shown}", highlight=False)


class Format(str, Enum):
    onnx = "onnx"


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run folder.")],
    format: Annotated[Format, typer.Option("--format", help="Export format.")] = Format.onnx,
    out: Annotated[Path | None, typer.Option(help="Output file.")] = None,
) -> None:
    """Export a run's best model and check onnxruntime against PyTorch."""
    from dllab.deploy.export import export_onnx

    res = export_onnx(run_dir, out)
    verdict = "ok" if res.ok else "MISMATCH"
    console.print(
        f"exported {res.path}; onnxruntime vs PyTorch max abs diff "
        f"{res.max_abs_diff:.2e} (tolerance {res.tolerance:.0e}): {verdict}"
    )
    if not res.ok:
        raise typer.Exit(1)


@app.command()
def runs(
    root: Annotated[Path, typer.Option(help="Folder holding run folders.")] = Path("runs"),
) -> None:
    """Table of runs (folders under --root) with the metric each recipe promises."""
    from dllab.train.run_dir import list_runs

    table = Table(_key_column("run"), "steps", "train s", "metric", "val", "test", "stop")
    for path, s in list_runs(root):
        if s is None:
            table.add_row(path.name, "-", "-", "-", "-", "-", "unfinished")
            continue
        # Each recipe names the metric it promises; classification runs default to accuracy.
        name = ((s.get("target") or {}).get("metric") or "test/accuracy").split("/")[-1]
        best, test = s.get("best") or {}, s.get("test") or {}
        table.add_row(
            path.name,
            str(s["steps"]),
            f"{s['train_seconds']:.1f}",
            name,
            f"{best.get('val/' + name, float('nan')):.4f}",
            f"{test.get('test/' + name, float('nan')):.4f}",
            s["stop_reason"],
        )
    console.print(table)


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
    """Entry point: run the app, turning user errors into one line and exit status 2."""
    argv = sys.argv[1:]
    debug = "--debug" in argv
    try:
        app(args=argv, prog_name="dllab", standalone_mode=True)
    except DllabError as exc:
        if debug:
            raise
        message = " ".join(str(exc).split())
        print(f"dllab: error: {message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("dllab: interrupted", file=sys.stderr)
        sys.exit(130)
