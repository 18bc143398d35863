"""The lessons that exist: found by file name, titled by their own first heading.

A lesson is `lessons/NN-MM-name.py` (NN its module, MM its place in the module); nothing lists
them, so a new lesson appears in `dllab course` as soon as its file does. Its title is the
first Markdown heading, `# # 01-03 · Backpropagation, derived by hand`; a heading may add a
Chinese title as another `·` part (`# # 02-01 · Tensors · 张量`), else the English one is shown
in both languages. The exercises it hands out are the `dllab lab start NAME` it mentions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dllab.lab.checks import Text

LESSON_FILE = re.compile(r"(?P<module>\d\d)-(?P<number>\d\d)-[a-z0-9][a-z0-9-]*\.py")
_HEADING = re.compile(r"^# # (?P<title>.+)$", re.MULTILINE)
_NUMBER = re.compile(r"^\d\d-\d\d\s*·\s*")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_EXERCISE = re.compile(r"dllab lab start (\w+)")


@dataclass(frozen=True)
class LessonInfo:
    name: str  # the file's stem, e.g. "01-03-backprop-by-hand" (what `setup_lesson` records)
    module: str  # "01"
    path: Path
    title: Text
    exercises: tuple[str, ...]  # handed out at its end, in order of mention

    @property
    def number(self) -> str:
        """ "01-03": how the map and the checklist refer to it."""
        return self.name[:5]


def lessons_folder(cwd: Path | None = None) -> Path | None:
    """The lessons: `lessons/` of the source tree dllab runs from (a checkout or an editable
    install), else the nearest `lessons/` above `cwd` holding lesson files; None when neither."""
    here = (Path.cwd() if cwd is None else Path(cwd)).absolute()
    beside = Path(__file__).resolve().parents[3] / "lessons"  # src/dllab/course -> the checkout
    for folder in (beside, *(p / "lessons" for p in (here, *here.parents))):
        if folder.is_dir() and any(LESSON_FILE.fullmatch(p.name) for p in folder.iterdir()):
            return folder
    return None


def read_title(source: str, name: str) -> Text:
    """The lesson's title from its first heading, without the number, in English and Chinese."""
    match = _HEADING.search(source)
    if match is None:
        return {"en": name, "zh": name}
    parts = [p.strip() for p in _NUMBER.sub("", match["title"].strip()).split(" · ")]
    zh = [p for p in parts if _HAN.search(p)]
    en = " · ".join(p for p in parts if not _HAN.search(p)) or " · ".join(parts)
    return {"en": en, "zh": " · ".join(zh) or en}


def discover(folder: Path | None) -> list[LessonInfo]:
    """Every lesson in `folder`, in teaching order (module, then number); [] for None."""
    if folder is None:
        return []
    found = []
    for path in sorted(folder.iterdir()):
        match = LESSON_FILE.fullmatch(path.name)
        if match is None or not path.is_file():
            continue
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            source = ""  # a broken file is still a lesson: shown by its name
        exercises = tuple(dict.fromkeys(_EXERCISE.findall(source)))
        found.append(
            LessonInfo(path.stem, match["module"], path, read_title(source, path.stem), exercises)
        )
    return found
