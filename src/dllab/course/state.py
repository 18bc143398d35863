"""Where the learner stands: every step of the course with its status, and the next one.

Three places are read, never written: the lab workspace's record (lessons run, exercises
checked: `dllab.lab.progress`), the lessons folder (which lessons exist: `lessons.py`) and the
runs folder (`./runs` by default, as `dllab runs`: which recipes were trained). A step is
"done", "in_progress" or "todo":

- a lesson is done once it ran to its end (as a script or a notebook), in progress once started;
- an exercise is done once `dllab lab check` passed it, in progress once started or checked;
- a recipe is done once a run of it finished (`summary.json`), in progress while a run of it
  is unfinished; a stage's runs group is done when any of its recipes is.

A stage is done when all of its steps are; a module without lessons yet, or a project without
a recipe yet, is shown as not built.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from dllab.course.lessons import LessonInfo, discover, lessons_folder
from dllab.course.syllabus import STAGES, Runs, Stage, exercise_module, place_recipe
from dllab.lab import progress as record
from dllab.lab.catalog import EXERCISES, Exercise
from dllab.lab.checks import Text
from dllab.lab.workspace import Workspace, existing_workspace

DONE, IN_PROGRESS, TODO = "done", "in_progress", "todo"
_STAMP = re.compile(r"-\d{8}-\d{6}(-\d+)?$")  # what `dllab run` appends to a run folder's name


@dataclass(frozen=True)
class RunInfo:
    """A run folder under the runs folder: which recipe made it and whether it finished."""

    path: Path
    recipe: str | None  # None: neither summary.json, config.yaml nor the name tells
    finished: bool  # summary.json is there and readable
    resumable: bool  # unfinished, with a checkpoint to continue from


@dataclass
class Step:
    """One line of the map: a lesson, an exercise or a recipe, and how to move it on."""

    kind: str  # "lesson", "exercise" or "recipe"
    name: str  # lesson file stem, exercise name or recipe name
    title: Text
    status: str  # DONE, IN_PROGRESS or TODO
    command: str  # the one command that moves it on (or repeats it, once done)
    note: Text | None = None  # e.g. "failed (2 hints)", "edited by hand, not counted"


@dataclass
class Group:
    """A stage's runs group: its recipes, done once any of them is."""

    runs: Runs
    recipes: list[Step]

    @property
    def status(self) -> str:
        statuses = {s.status for s in self.recipes}
        return DONE if DONE in statuses else IN_PROGRESS if IN_PROGRESS in statuses else TODO


@dataclass
class StageState:
    stage: Stage
    lessons: list[Step] = field(default_factory=list)
    exercises: list[Step] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)

    @property
    def built(self) -> bool:
        """Lessons written (a module) or a recipe shipped (a project, and module 06)."""
        if self.stage.has_lessons:
            return bool(self.lessons)
        return any(g.recipes for g in self.groups)

    def statuses(self) -> list[str]:
        steps = [*self.lessons, *self.exercises]
        return [s.status for s in steps] + [g.status for g in self.groups if g.recipes]

    @property
    def status(self) -> str:
        statuses = self.statuses()
        if statuses and all(s == DONE for s in statuses) and self.built:
            return DONE
        return IN_PROGRESS if any(s != TODO for s in statuses) else TODO

    def next_step(self) -> Step | None:
        """The first step not done: lessons in order, then exercises, then one run per group."""
        for step in [*self.lessons, *self.exercises]:
            if step.status != DONE:
                return step
        for group in self.groups:
            if group.recipes and group.status != DONE:
                started = [s for s in group.recipes if s.status == IN_PROGRESS]
                return (started or group.recipes)[0]
        return None


@dataclass
class Course:
    """The whole course as the learner stands in it."""

    workspace: Workspace
    lessons_dir: Path | None  # None: no lessons found (an install without the source tree)
    runs_root: Path
    stages: list[StageState]
    lessons: list[LessonInfo]
    runs: list[RunInfo]
    exercises: dict[str, record.Entry]  # the lab record's entries, by exercise name
    lesson_entries: dict[str, record.LessonEntry]
    unplaced: list[str]  # recipes that belong to no stage

    def stage(self, key: str) -> StageState:
        return next(s for s in self.stages if s.stage.key == key)

    def next_step(self) -> tuple[StageState, Step] | None:
        """The first step not done in teaching order; electives after all the rest."""
        ordered = sorted(self.stages, key=lambda s: s.stage.elective)  # stable: keeps order
        for state in ordered:
            step = state.next_step()
            if step is not None:
                return state, step
        return None

    def edited(self) -> list[str]:
        """Names whose record was edited by hand (reported, not counted)."""
        names = [n for n, e in self.exercises.items() if e.edited]
        return sorted(names + [n for n, e in self.lesson_entries.items() if e.edited])


def shown_path(path: Path) -> str:
    """`path` as the learner types it: relative when below the current folder."""
    path = Path(os.path.abspath(path))
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def find_runs(root: Path) -> list[RunInfo]:
    """Run folders under `root` (those with config.yaml), newest first."""
    from dllab.train.run_dir import list_runs

    found = []
    for path, summary in list_runs(root):
        recipe = summary.get("recipe") if isinstance(summary, dict) else None
        if not isinstance(recipe, str):
            recipe = _recipe_of(path)
        saved = any((path / "checkpoints").glob("*.safetensors"))
        found.append(RunInfo(path, recipe, summary is not None, summary is None and saved))
    return found


def _recipe_of(run_dir: Path) -> str | None:
    """The recipe of an unfinished run: its config.yaml, else its folder name."""
    from dllab.config import load_resolved
    from dllab.errors import DllabError

    try:
        return load_resolved(run_dir / "config.yaml").name
    except (DllabError, OSError, ValueError):
        match = _STAMP.search(run_dir.name)
        return run_dir.name[: match.start()] if match else None


def _lesson_step(lesson: LessonInfo, entry: record.LessonEntry | None) -> Step:
    status = record.lesson_status(entry)
    command = shlex.join(["python", shown_path(lesson.path)])
    note = None
    if status == "edited":
        note = {"en": "record edited by hand, not counted", "zh": "记录被手动修改，不计入"}
    shown = {"done": DONE, "started": IN_PROGRESS, "edited": IN_PROGRESS}.get(status, TODO)
    return Step("lesson", lesson.name, lesson.title, shown, command, note)


def _exercise_step(folder: Path, exercise: Exercise, entry: record.Entry | None) -> Step:
    from dllab.lab.messages import STATUS, say

    status = record.exercise_status(folder, exercise.name, entry)
    if status == "todo":
        command = f"dllab lab start {exercise.name}"
        return Step("exercise", exercise.name, exercise.title, TODO, command)
    note = {lang: STATUS[status][lang] for lang in ("en", "zh")}
    if entry is not None and entry.hints_used:
        for lang in note:
            note[lang] += f" ({say('hints_used', lang, k=entry.hints_used)})"
    shown = DONE if status == "passed" else IN_PROGRESS
    command = f"dllab lab check {exercise.name}"
    return Step("exercise", exercise.name, exercise.title, shown, command, note)


def _recipe_step(name: str, description: Text, runs: list[RunInfo]) -> Step:
    mine = [r for r in runs if r.recipe == name]
    finished = [r for r in mine if r.finished]
    if finished:
        where = shown_path(finished[0].path)
        note = {"en": f"finished: {where}", "zh": f"已完成：{where}"}
        return Step("recipe", name, description, DONE, f"dllab run {name}", note)
    if mine:
        where = shown_path(mine[0].path)
        resumable = next((r for r in mine if r.resumable), None)
        command = (
            shlex.join(["dllab", "run", name, "--resume", shown_path(resumable.path)])
            if resumable
            else f"dllab run {name}"
        )
        note = {"en": f"unfinished: {where}", "zh": f"未完成：{where}"}
        return Step("recipe", name, description, IN_PROGRESS, command, note)
    return Step("recipe", name, description, TODO, f"dllab run {name}")


def _rank(group: Runs, name: str) -> int:
    """Which of the group's prefixes `name` matches (the longest, as `place_recipe` does)."""
    matching = [(len(p), -i) for i, p in enumerate(group.prefixes) if name.startswith(p)]
    return -max(matching)[1]


def _recipe_descriptions() -> dict[str, Text]:
    """Every shipped recipe's name and its one-line description (from the YAML's own field)."""
    from dllab.config import load_recipe, recipe_names
    from dllab.errors import DllabError

    found = {}
    for name in recipe_names():
        try:
            description = load_recipe(name).description
        except DllabError:  # a broken recipe is still listed: `dllab run` will say what is wrong
            description = ""
        found[name] = {"en": description, "zh": description}
    return found


def read_course(
    folder: Path | None = None,
    *,
    lessons_dir: Path | None = None,
    runs_root: Path | None = None,
    recipes: dict[str, Text] | None = None,
) -> Course:
    """Read where the learner stands. `folder` is the lab workspace (--dir; default: found),
    `lessons_dir` the lessons (default: found), `runs_root` the runs (default `./runs`),
    `recipes` name -> description (default: the shipped recipes)."""
    workspace = existing_workspace(folder)
    loaded = record.load_record(workspace.path)
    lessons_dir = lessons_folder() if lessons_dir is None else lessons_dir
    lessons = discover(lessons_dir)
    runs_root = Path("runs") if runs_root is None else runs_root
    runs = find_runs(runs_root)
    recipes = _recipe_descriptions() if recipes is None else recipes

    states = {s.key: StageState(s) for s in STAGES}
    for lesson in lessons:
        state = states.get(lesson.module)
        if state is not None and state.stage.has_lessons:
            state.lessons.append(_lesson_step(lesson, loaded.lessons.get(lesson.name)))
    for exercise in EXERCISES:
        state = states[exercise_module(exercise.name, exercise.item)]
        entry = loaded.exercises.get(exercise.name)
        state.exercises.append(_exercise_step(workspace.path, exercise, entry))
    placed: dict[tuple[str, int], list[str]] = {}  # (stage, runs group) -> recipe names
    unplaced = []
    for name in sorted(recipes):
        where = place_recipe(name)
        if where is None:
            unplaced.append(name)
        else:
            stage, group = where
            placed.setdefault((stage.key, stage.runs.index(group)), []).append(name)
    for state in states.values():
        for i, group in enumerate(state.stage.runs):
            names = placed.get((state.stage.key, i), [])
            names.sort(key=lambda n: (_rank(group, n), n))  # the first prefix is suggested first
            steps = [_recipe_step(n, recipes[n], runs) for n in names]
            state.groups.append(Group(group, steps))
    return Course(
        workspace=workspace,
        lessons_dir=lessons_dir,
        runs_root=runs_root,
        stages=list(states.values()),
        lessons=lessons,
        runs=runs,
        exercises=loaded.exercises,
        lesson_entries=loaded.lessons,
        unplaced=unplaced,
    )
