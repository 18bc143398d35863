"""The course and the checklist as text lines and as one HTML page (pure: no printing, no I/O).

`course_lines` is `dllab course`, `next_lines` is `dllab course next`, `progress_lines` is
`dllab progress` and `progress_html` its `--html` page: the same facts, read by `state.py`.
"""

from __future__ import annotations

import html
from datetime import datetime

from dllab.course.messages import KIND, MARK, STATUS, say
from dllab.course.state import DONE, TODO, Course, StageState, Step, shown_path
from dllab.lab.catalog import EXERCISES
from dllab.lab.checklist import ITEMS, Item
from dllab.lab.messages import STATUS as LAB_STATUS


def _join(items: list[str], lang: str) -> str:
    return ("、" if lang == "zh" else ", ").join(items)


def _stage_heading(state: StageState, lang: str) -> str:
    stage = state.stage
    status = STATUS[state.status][lang]
    if not state.built:
        status = (
            say("not_built", lang) if stage.is_project else f"{status} · {say('not_built', lang)}"
        )
    if stage.elective:
        status += f" · {say('elective', lang)}"
    return f"{stage.key:<3} {stage.title[lang]} · {stage.about[lang]}  [{status}]"


def _step_line(step: Step, lang: str, width: int) -> str:
    name = step.name[:5] if step.kind == "lesson" else step.name
    line = f"      {MARK[step.status]} {name:<{width}}  {step.title[lang]}"
    return line + (f"  ({step.note[lang]})" if step.note and step.status != TODO else "")


def stage_lines(state: StageState, lang: str, lessons_found: bool = True) -> list[str]:
    """One stage: its heading, then its lessons, exercises and runs with their status."""
    lines = [_stage_heading(state, lang)]
    width = max([len(s.name) for s in state.exercises] + [5])
    if state.stage.has_lessons:
        lines.append(f"    {say('lessons', lang)}")
        if state.lessons:
            lines += [_step_line(s, lang, width) for s in state.lessons]
        elif lessons_found:
            lines.append(f"          {say('no_lessons_yet', lang)}")
    if state.exercises:
        lines.append(f"    {say('exercises', lang)}")
        lines += [_step_line(s, lang, width) for s in state.exercises]
    for group in state.groups:
        if state.stage.is_project:
            lines.append(f"    {say('recipes', lang)}")
        else:
            lines.append(f"    {say('runs_of', lang, title=group.runs.title[lang])}")
        if not group.recipes:
            lines.append(f"          {say('no_recipes_yet', lang)}")
        width = max([len(s.name) for s in group.recipes] + [width])
        lines += [_step_line(s, lang, width) for s in group.recipes]
    return lines


def _where(course: Course, lang: str) -> list[str]:
    lines = [say("workspace", lang, where=course.workspace.describe(lang))]
    if course.edited():
        names = _join(course.edited(), lang)
        lines.append(say("edited", lang, folder=course.workspace.path, names=names))
    return lines


def course_lines(course: Course, lang: str, only: str | None = None) -> list[str]:
    """`dllab course`: every stage in teaching order (or only the stage `only`), then the next
    step."""
    lines = [say("map_header", lang), *_where(course, lang), say("legend", lang)]
    if course.lessons_dir is None:
        lines.append(say("lessons_missing", lang))
    for state in course.stages:
        if only is None or state.stage.key == only:
            lines += ["", *stage_lines(state, lang, course.lessons_dir is not None)]
    if only is None and course.unplaced:
        lines += ["", say("other_recipes", lang, names=_join(course.unplaced, lang))]
    lines += ["", say("next", lang, command=next_lines(course, lang)[0])]
    return lines


def next_lines(course: Course, lang: str) -> list[str]:
    """`dllab course next`: the command, then a comment line saying what it is."""
    found = course.next_step()
    if found is None:
        return ["dllab progress", say("all_done", lang)]
    state, step = found
    stage = state.stage
    where = (
        f"{say('project' if stage.is_project else 'module', lang)} {stage.key} {stage.title[lang]}"
    )
    name = step.name[:5] if step.kind == "lesson" else step.name
    why = say("next_why", lang, kind=KIND[step.kind][lang], name=name,
              title=step.title[lang], where=where)  # fmt: skip
    return [step.command, why]


def _done_items(course: Course) -> list[Item]:
    passed = {n for n, e in course.exercises.items() if e.passed and not e.edited}
    return [i for i in ITEMS if all(e.name in passed for e in EXERCISES if e.item == i.key)]


def _item_facts(course: Course, item: Item, lang: str) -> dict[str, list[str]]:
    """What is behind one checklist item: its exercises, the lessons that hand them out, the
    finished runs of the recipes that put it to work, and the next command for it."""
    from dllab.lab import progress as record

    names = [e.name for e in EXERCISES if e.item == item.key]
    folder = course.workspace.path
    exercises = []
    for name in names:
        entry = course.exercises.get(name)
        shown = LAB_STATUS[record.exercise_status(folder, name, entry)][lang]
        if entry is not None and entry.hints_used:
            from dllab.lab.messages import say as lab_say

            shown += f" ({lab_say('hints_used', lang, k=entry.hints_used)})"
        exercises.append(f"{name}: {shown}")
    steps = {s.name: s for state in course.stages for s in [*state.lessons, *state.exercises]}
    lessons = [
        f"{lesson.number} {STATUS[steps[lesson.name].status][lang]}"
        for lesson in course.lessons
        if lesson.name in steps and set(lesson.exercises) & set(names)
    ]
    runs = [
        f"{r.recipe} ({shown_path(r.path)})"
        for r in course.runs
        if r.finished and r.recipe and r.recipe.startswith(item.runs)
    ]
    todo = [steps[n] for n in names if n in steps and steps[n].status != DONE]
    return {
        "exercises": exercises,
        "lessons": lessons,
        "runs": runs if item.runs else [],
        "next": [todo[0].command] if todo else [],
    }


def _counts(course: Course) -> dict[str, int]:
    lessons = [s for state in course.stages for s in state.lessons]
    return {
        "done": len(_done_items(course)),
        "total": len(ITEMS),
        "passed": sum(1 for e in course.exercises.values() if e.passed and not e.edited),
        "count": len(EXERCISES),
        "lessons": sum(1 for s in lessons if s.status == DONE),
        "n_lessons": len(lessons),
        "runs": sum(1 for r in course.runs if r.finished),
    }


def progress_lines(course: Course, lang: str) -> list[str]:
    """`dllab progress`: where it looked, what the learner can do, then the 14 items with the
    exercises, lessons and runs behind each."""
    lines = [*_where(course, lang)]
    lines.append(say("runs_folder", lang, where=shown_path(course.runs_root), n=len(course.runs)))
    lines.append(say("progress_header", lang, **_counts(course)))
    done = _done_items(course)
    lines += ["", say("can_header", lang)]
    lines += [f"  - {i.can[lang]}" for i in done] or [say("can_none", lang)]
    section = None
    for item in ITEMS:
        if item.section != section:
            section = item.section
            lines += ["", section[lang]]
        lines.append(f"  [{'x' if item in done else ' '}] {item.title[lang]}")
        facts = _item_facts(course, item, lang)
        lines += [f"        {e}" for e in facts["exercises"]]
        if facts["lessons"]:
            lines.append("        " + say("item_lessons", lang, list=_join(facts["lessons"], lang)))
        if facts["runs"]:
            lines.append("        " + say("item_runs", lang, list=_join(facts["runs"], lang)))
        if facts["next"]:
            lines.append("        " + say("item_next", lang, command=facts["next"][0]))
    return lines


_CSS = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #1d1d1f; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
.where { color: #555; } .can li { margin: .2rem 0; }
.item { margin: .6rem 0 .6rem 0; padding: .4rem .8rem; border-left: 4px solid #ccc; }
.item.done { border-color: #2e7d32; background: #f1f8f1; }
.facts { color: #444; font-size: .92rem; } code { background: #f2f2f2; padding: 0 .25rem; }
table { border-collapse: collapse; width: 100%; } td, th { padding: .25rem .5rem;
       border-bottom: 1px solid #e5e5e5; text-align: left; vertical-align: top; }
.done { color: #2e7d32; } .in_progress { color: #b26a00; } .todo { color: #777; }
"""


def progress_html(course: Course, lang: str) -> str:
    """`dllab progress --html`: the checklist and the course map as one self-contained page."""
    e = html.escape
    counts = _counts(course)
    done = _done_items(course)
    out = [
        f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}">\n<head>'
        f'<meta charset="utf-8"><title>{e(say("html_title", lang))}</title>'
        f"<style>{_CSS}</style></head>\n<body>",
        f"<h1>{e(say('html_title', lang))}</h1>",
        f'<p class="where">{e(_where(course, lang)[0])}<br>'
        f"{e(datetime.now().astimezone().isoformat(timespec='minutes'))}</p>",
        f"<p><strong>{e(say('progress_header', lang, **counts))}</strong></p>",
        f"<h2>{e(say('can_header', lang))}</h2>",
        '<ul class="can">'
        + "".join(f"<li>{e(i.can[lang])}</li>" for i in done)
        + ("" if done else f"<li>{e(say('can_none', lang).strip())}</li>")
        + "</ul>",
    ]
    section = None
    for item in ITEMS:
        if item.section != section:
            section = item.section
            out.append(f"<h2>{e(section[lang])}</h2>")
        facts = _item_facts(course, item, lang)
        rows = [e(x) for x in facts["exercises"]]
        if facts["lessons"]:
            rows.append(e(say("item_lessons", lang, list=_join(facts["lessons"], lang))))
        if facts["runs"]:
            rows.append(e(say("item_runs", lang, list=_join(facts["runs"], lang))))
        if facts["next"]:
            rows.append(say("item_next", lang, command=f"<code>{e(facts['next'][0])}</code>"))
        is_done = item in done
        out.append(
            f'<div class="item{" done" if is_done else ""}"><strong>{"✓" if is_done else "○"} '
            f"{e(item.title[lang])}</strong>"
            + (f"<br>{e(item.can[lang])}" if is_done else "")
            + f'<div class="facts">{"<br>".join(rows)}</div></div>'
        )
    out.append(f"<h2>{e(say('course_map', lang))}</h2><table>")
    for state in course.stages:
        heading = _stage_heading(state, lang)
        out.append(f'<tr><th colspan="3">{e(heading)}</th></tr>')
        steps = [*state.lessons, *state.exercises, *(s for g in state.groups for s in g.recipes)]
        for step in steps:
            out.append(
                f'<tr><td class="{step.status}">{e(STATUS[step.status][lang])}</td>'
                f"<td>{e(KIND[step.kind][lang])} <code>{e(step.name)}</code></td>"
                f"<td>{e(step.title[lang])}</td></tr>"
            )
    out.append("</table>")
    nxt = next_lines(course, lang)
    out.append(f"<p>{say('next', lang, command=f'<code>{e(nxt[0])}</code>')}</p>")
    out.append("</body>\n</html>\n")
    return "\n".join(out)
