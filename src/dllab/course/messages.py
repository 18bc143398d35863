"""What `dllab course` and `dllab progress` say, in English and Chinese."""

from __future__ import annotations

UI: dict[str, dict[str, str]] = {
    "map_header": {
        "en": "The deep-learning stage, in teaching order",
        "zh": "深度学习阶段（按教学顺序）",
    },
    "workspace": {"en": "lab workspace: {where}", "zh": "实验工作区：{where}"},
    "runs_folder": {
        "en": "runs folder: {where} ({n} runs)",
        "zh": "训练记录目录：{where}（{n} 次训练）",
    },
    "legend": {
        "en": "[x] done  [~] in progress  [ ] not started",
        "zh": "[x] 已完成  [~] 进行中  [ ] 未开始",
    },
    "lessons": {"en": "lessons", "zh": "课程"},
    "exercises": {"en": "exercises", "zh": "练习"},
    "runs_of": {"en": "train one: {title}", "zh": "任选其一训练：{title}"},
    "recipes": {"en": "recipes (train one)", "zh": "训练配方（任选其一）"},
    "no_lessons_yet": {"en": "no lessons yet", "zh": "尚无课程"},
    "no_recipes_yet": {"en": "no recipe yet", "zh": "尚无训练配方"},
    "not_built": {"en": "not built yet", "zh": "尚未建成"},
    "elective": {"en": "elective", "zh": "选做"},
    "project": {"en": "project", "zh": "项目"},
    "module": {"en": "module", "zh": "模块"},
    "lessons_missing": {
        "en": "lessons: not found here; they are the lessons/ folder of the dllab repository "
        "(run dllab from a checkout to see them)",
        "zh": "课程：未找到；课程在 dllab 仓库的 lessons/ 目录中（请在仓库目录中运行 dllab）",
    },
    "other_recipes": {"en": "other recipes: {names}", "zh": "其他训练配方：{names}"},
    "next": {"en": "Next: {command}", "zh": "下一步：{command}"},
    "next_why": {
        "en": "# {kind} {name}: {title} ({where})",
        "zh": "# {kind} {name}：{title}（{where}）",
    },
    "all_done": {
        "en": "# every step of the course is done: `dllab progress --html FILE` writes your record",
        "zh": "# 课程的每一步都已完成：`dllab progress --html FILE` 可写出你的学习记录",
    },
    "edited": {
        "en": "warning: the record in {folder} was edited by hand for {names}; those do not "
        "count until they are earned again",
        "zh": "警告：{folder} 中 {names} 的记录被手动修改过；重新完成之前不计入",
    },
    "progress_header": {
        "en": "Stage acceptance checklist: {done}/{total} items, {passed}/{count} exercises "
        "passed, {lessons}/{n_lessons} lessons run to the end, {runs} project runs finished",
        "zh": "阶段验收清单：完成 {done}/{total} 项，通过 {passed}/{count} 个练习，"
        "学完 {lessons}/{n_lessons} 节课程，完成 {runs} 次项目训练",
    },
    "can_header": {"en": "What you can do now:", "zh": "你现在能做到："},
    "can_none": {
        "en": "  nothing proven yet: `dllab course next` says where to start",
        "zh": "  还没有完成任何一项：`dllab course next` 会告诉你从哪里开始",
    },
    "item_lessons": {"en": "lessons: {list}", "zh": "课程：{list}"},
    "item_runs": {"en": "runs: {list}", "zh": "训练：{list}"},
    "item_next": {"en": "next: {command}", "zh": "下一步：{command}"},
    "html_written": {"en": "wrote {path}", "zh": "已写入 {path}"},
    "html_title": {"en": "dllab: your progress", "zh": "dllab：学习进度"},
    "course_map": {"en": "The course", "zh": "课程地图"},
}

STATUS = {
    "done": {"en": "done", "zh": "已完成"},
    "in_progress": {"en": "in progress", "zh": "进行中"},
    "todo": {"en": "not started", "zh": "未开始"},
}
MARK = {"done": "[x]", "in_progress": "[~]", "todo": "[ ]"}
KIND = {
    "lesson": {"en": "lesson", "zh": "课程"},
    "exercise": {"en": "exercise", "zh": "练习"},
    "recipe": {"en": "recipe", "zh": "训练配方"},
}


def say(key: str, lang: str, **values: object) -> str:
    """The UI string `key` in `lang`, filled in."""
    return UI[key][lang].format(**values)
