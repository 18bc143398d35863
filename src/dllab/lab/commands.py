"""The `dllab lab` commands and `dllab progress`: thin, they call the lab and print.

`app` holds `list`, `start`, `check`, `hint` and `solution`. Learner files live in the lab
workspace (`--dir`, else found by `workspace.py`: $DLLAB_LAB, the nearest `dllab-lab/` above the
current folder, a per-user folder), one per exercise, beside the record `.progress.json`. User
mistakes raise `LabError`; a failed check exits 1. `progress()` is `dllab progress`, which the
course draws (`dllab.course.commands.progress`): kept here so the CLI's existing registration
keeps working.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer

from dllab.lab import progress as record
from dllab.lab.catalog import EXERCISES, get_exercise, skeleton_source, solution_source
from dllab.lab.checklist import ITEMS
from dllab.lab.checks import in_lang
from dllab.lab.errors import LabError
from dllab.lab.messages import STATUS, resolve_lang, say
from dllab.lab.workspace import existing_workspace, find_workspace

app = typer.Typer(
    help="Exercises graded against PyTorch: list, start, check, hint, solution.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

Name = Annotated[str, typer.Argument(help="Exercise name (see `dllab lab list`).")]
Lang = Annotated[
    str | None,
    typer.Option("--lang", help="Language of messages: en or zh (default: from the locale)."),
]
Folder = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="Folder of your exercise files and progress record (default: $DLLAB_LAB, the "
        "nearest dllab-lab/ above here, else a per-user folder).",
    ),
]


def _file(folder: Path, name: str) -> Path:
    return folder / f"{get_exercise(name).name}.py"


def status_text(folder: Path, name: str, entry: record.Entry | None, lang: str) -> str:
    """The exercise's status in words, with the hints used: "failed (2 hints)"."""
    shown = STATUS[record.exercise_status(folder, name, entry)][lang]
    if entry is not None and entry.hints_used:
        shown += f" ({say('hints_used', lang, k=entry.hints_used)})"
    return shown


def _warn_edited(entries: dict[str, record.Entry], folder: Path, lang: str) -> None:
    edited = sorted(name for name, entry in entries.items() if entry.edited)
    if edited:
        typer.echo(say("edited", lang, names=", ".join(edited), folder=folder))


@app.command("list")
def list_(lang: Lang = None, folder: Folder = None) -> None:
    """List the exercises, the checklist item each proves, and your status."""
    lang = resolve_lang(lang)
    folder = existing_workspace(folder).path
    entries = record.load(folder)
    items = {i.key: i for i in ITEMS}
    typer.echo(say("list_header", lang, n=len(EXERCISES), folder=folder))
    _warn_edited(entries, folder, lang)
    width = max(len(e.name) for e in EXERCISES)
    for e in EXERCISES:
        status = status_text(folder, e.name, entries.get(e.name), lang)
        typer.echo(f"  {e.name:<{width}}  {e.title[lang]}  [{status}]")
        typer.echo(f"  {'':<{width}}  -> {items[e.item].title[lang]}")


@app.command()
def start(name: Name, lang: Lang = None, folder: Folder = None) -> None:
    """Write the exercise's skeleton to DIR/NAME.py (never over an existing file)."""
    lang = resolve_lang(lang)
    exercise = get_exercise(name)
    folder = find_workspace(folder).path
    path = _file(folder, name)
    if path.exists():
        raise LabError(say("exists", lang, path=path, name=exercise.name), lang=lang)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8") as f:  # "x": fails rather than overwrite
            f.write(skeleton_source(name))
    except FileExistsError:
        raise LabError(say("exists", lang, path=path, name=exercise.name), lang=lang) from None
    except OSError as exc:
        raise LabError(
            f"cannot write {path} ({exc.strerror or type(exc).__name__}); choose a writable "
            "folder with --dir or $DLLAB_LAB"
        ) from None
    typer.echo(say("started", lang, path=path, name=exercise.name, title=exercise.title[lang]))


@app.command()
def check(
    name: Name,
    lang: Lang = None,
    folder: Folder = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the generated cases (default: a new one).")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(min=0.1, help="Time limit in seconds (default: the exercise's own)."),
    ] = None,
) -> None:
    """Grade DIR/NAME.py on freshly generated cases and record the result."""
    from dllab.lab.grader import grade

    lang = resolve_lang(lang)
    exercise = get_exercise(name)
    folder = find_workspace(folder).path
    path = _file(folder, name)
    if not path.exists():
        raise LabError(say("no_file", lang, path=path, name=exercise.name), lang=lang)
    seed = secrets.randbelow(2**31) if seed is None else seed
    limit = exercise.time_limit if timeout is None else timeout
    n = exercise.n_cases
    typer.echo(say("checking", lang, name=exercise.name, n=n, seed=seed, limit=limit))
    report = grade(exercise.name, path, seed=seed, time_limit=limit)
    for case in report.cases:
        if case.passed:
            typer.echo(
                say("case_passed", lang, i=case.index + 1, shapes=in_lang(case.shapes, lang))
            )
            continue
        typer.echo(
            say(
                "case_failed",
                lang,
                i=case.index + 1,
                seed=case.seed,
                shapes=in_lang(case.shapes, lang),
            )
        )
        if case.message and case.message is not report.problem:
            typer.echo(say("why", lang, message=case.message[lang]))
        if case.hint:
            typer.echo(say("hint_line", lang, hint=case.hint[lang]))
    if report.problem is not None:
        typer.echo(say("problem", lang, message=report.problem[lang]))
    if len(report.cases) < report.n_cases:
        typer.echo(say("not_run", lang, first=len(report.cases) + 1, last=report.n_cases))
    score = f"{report.n_passed}/{report.n_cases}"
    record.record_check(folder, exercise.name, report.passed, score)
    key = "score_passed" if report.passed else "score_failed"
    values = dict(name=exercise.name, k=report.n_passed, n=report.n_cases, seed=report.seed)
    typer.echo(say(key, lang, **values))
    if not report.passed:
        raise typer.Exit(1)


@app.command()
def hint(name: Name, lang: Lang = None, folder: Folder = None) -> None:
    """Reveal the next hint (your record counts how many you used)."""
    lang = resolve_lang(lang)
    exercise = get_exercise(name)
    folder = find_workspace(folder).path
    n = len(exercise.hints)
    k = record.record_hint(folder, exercise.name, n)
    typer.echo(say("hint", lang, k=k, n=n, name=exercise.name, hint=exercise.hints[k - 1][lang]))
    if k == n:
        typer.echo(say("hints_done", lang, name=exercise.name))


@app.command()
def solution(name: Name, lang: Lang = None, folder: Folder = None) -> None:
    """Show the reference solution, once your file has passed its check."""
    lang = resolve_lang(lang)
    exercise = get_exercise(name)
    folder = find_workspace(folder).path
    entry = record.load(folder).get(exercise.name)
    if entry is not None and entry.edited:
        raise LabError(say("solution_edited", lang, name=exercise.name, folder=folder), lang=lang)
    if not record.counts(entry):
        state = (
            say("last_score", lang, score=entry.last_score)
            if entry is not None and entry.last_score
            else say("never_checked", lang)
        )
        raise LabError(say("solution_locked", lang, name=exercise.name, state=state), lang=lang)
    typer.echo(solution_source(exercise.name), nl=False)


def progress(
    lang: str | None = None,
    folder: Path | None = None,
    html: Path | None = None,
    force: bool = False,
) -> None:
    """`dllab progress`: see `dllab.course.commands.progress` (kept for the CLI's import)."""
    from dllab.course.commands import progress as course_progress

    course_progress(lang=lang, folder=folder, html=html, force=force)
