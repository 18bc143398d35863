"""What the lab's commands say, in English and Chinese, and how the language is chosen."""

from __future__ import annotations

import os

from dllab.lab.errors import LabError

LANGS = ("en", "zh")

UI: dict[str, dict[str, str]] = {
    "started": {
        "en": "wrote {path}\nExercise {name}: {title}\n"
        "Fill in the TODOs, then: dllab lab check {name}",
        "zh": "已写入 {path}\n练习 {name}：{title}\n完成其中的 TODO，然后运行：dllab lab check {name}",
    },
    "exists": {
        "en": "{path} already exists and is kept: it is your work. Edit it and run "
        "`dllab lab check {name}`, or move it away to start over",
        "zh": "{path} 已存在，不会覆盖：那是你的作业。请编辑它并运行 `dllab lab check {name}`，"
        "或者把它移走后重新开始",
    },
    "no_file": {
        "en": "{path} does not exist; run `dllab lab start {name}` first",
        "zh": "{path} 不存在；请先运行 `dllab lab start {name}`",
    },
    "checking": {
        "en": "Checking {name} ({n} cases generated from seed {seed}, time limit {limit:g} s)",
        "zh": "正在检查 {name}（由种子 {seed} 生成 {n} 个用例，时间限制 {limit:g} 秒）",
    },
    "case_passed": {"en": "  PASS case {i}: {shapes}", "zh": "  通过 用例 {i}：{shapes}"},
    "case_failed": {
        "en": "  FAIL case {i} (seed {seed}): {shapes}",
        "zh": "  失败 用例 {i}（种子 {seed}）：{shapes}",
    },
    "why": {"en": "       {message}", "zh": "       {message}"},
    "hint_line": {"en": "       hint: {hint}", "zh": "       提示：{hint}"},
    "not_run": {
        "en": "  cases {first}-{last} not run",
        "zh": "  用例 {first}-{last} 未运行",
    },
    "problem": {"en": "  {message}", "zh": "  {message}"},
    "score_passed": {
        "en": "{name}: passed, {k}/{n} cases. `dllab lab solution {name}` shows the reference.",
        "zh": "{name}：通过，{k}/{n} 个用例。`dllab lab solution {name}` 可查看参考答案。",
    },
    "score_failed": {
        "en": "{name}: {k}/{n} cases passed. Same cases again: dllab lab check {name} --seed {seed}"
        "  ·  a hint: dllab lab hint {name}",
        "zh": "{name}：通过 {k}/{n} 个用例。重现这些用例：dllab lab check {name} --seed {seed}"
        "  ·  提示：dllab lab hint {name}",
    },
    "hint": {"en": "Hint {k}/{n} for {name}: {hint}", "zh": "{name} 的提示 {k}/{n}：{hint}"},
    "hints_done": {
        "en": "That was the last hint. `dllab lab solution {name}` opens once the exercise passes.",
        "zh": "这是最后一条提示。练习通过后可以用 `dllab lab solution {name}` 查看参考答案。",
    },
    "solution_locked": {
        "en": "the solution of {name} opens after `dllab lab check {name}` passes ({state}); "
        "`dllab lab hint {name}` gives a hint",
        "zh": "{name} 的参考答案要在 `dllab lab check {name}` 通过后才能查看（{state}）；"
        "`dllab lab hint {name}` 可以给出提示",
    },
    "solution_edited": {
        "en": "the record of {name} in {folder} was edited by hand (its signature does not "
        "match), so its pass does not count; run `dllab lab check {name}` to earn it again",
        "zh": "{folder} 中 {name} 的记录被手动修改过（签名不匹配），其通过记录不算数；"
        "请运行 `dllab lab check {name}` 重新通过",
    },
    "edited": {
        "en": "warning: the record in {folder} was edited by hand for {names}; those passes do "
        "not count until `dllab lab check` passes again",
        "zh": "警告：{folder} 中 {names} 的记录被手动修改过；在 `dllab lab check` 重新通过之前，"
        "这些通过记录不算数",
    },
    "never_checked": {"en": "not checked yet", "zh": "还没有检查过"},
    "last_score": {"en": "last check: {score}", "zh": "上次检查：{score}"},
    "list_header": {
        "en": "{n} exercises in {folder}  (dllab lab start NAME · check NAME · hint NAME)",
        "zh": "{folder} 中共 {n} 个练习（dllab lab start NAME · check NAME · hint NAME）",
    },
    "progress_header": {
        "en": "Stage acceptance checklist: {done}/{total} items, {passed}/{count} exercises passed",
        "zh": "阶段验收清单：完成 {done}/{total} 项，通过 {passed}/{count} 个练习",
    },
    "hints_used": {"en": "{k} hints", "zh": "{k} 条提示"},
}

STATUS = {
    "passed": {"en": "passed", "zh": "已通过"},
    "failed": {"en": "failed", "zh": "未通过"},
    "started": {"en": "started", "zh": "已开始"},
    "todo": {"en": "not started", "zh": "未开始"},
    "edited": {"en": "edited by hand, not counted", "zh": "被手动修改，不计入"},
}


def resolve_lang(lang: str | None) -> str:
    """`lang` if given, else from the locale (LC_ALL, LC_MESSAGES, LANG): "zh" or "en"."""
    if lang is not None:
        if lang not in LANGS:
            choices = ", ".join(LANGS)  # the language is what is wrong: say it in both
            raise LabError(
                f"--lang {lang!r} is not supported; use one of: {choices} / "
                f"不支持 --lang {lang!r}；可选：{choices}"
            )
        return lang
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def say(key: str, lang: str, **values: object) -> str:
    """The UI string `key` in `lang`, filled in."""
    return UI[key][lang].format(**values)
