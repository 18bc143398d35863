"""Where the learner's lab workspace is: the folder of exercise files and `.progress.json`.

A learner runs `dllab lab`, `dllab progress` and lessons from wherever they stand, so the
workspace is looked for, in this order:

1. `--dir DIR`, when a command is given one;
2. the environment variable `DLLAB_LAB`;
3. the nearest folder called `dllab-lab/` in the current folder or any folder above it
   (standing inside `dllab-lab/` itself counts);
4. a per-user folder: `$XDG_DATA_HOME/dllab/lab` (default `~/.local/share/dllab/lab`) on Linux,
   `~/Library/Application Support/dllab/lab` on macOS, `%LOCALAPPDATA%\\dllab\\lab` on Windows.

The first two are the learner's explicit choice: a path there that is a file, or (for a command
that only reads) a folder that does not exist, is an error rather than a silent 0/26. The last
two are found, so a missing per-user folder simply means "nothing recorded yet".
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from dllab.lab.errors import LabError

ENV_VAR = "DLLAB_LAB"
FOLDER_NAME = "dllab-lab"

# How the workspace was found, as `dllab progress` words it.
FOUND_BY = {
    "option": {"en": "given with --dir", "zh": "由 --dir 指定"},
    "env": {"en": f"from ${ENV_VAR}", "zh": f"来自环境变量 {ENV_VAR}"},
    "nearest": {
        "en": f"the nearest {FOLDER_NAME}/ above the current folder",
        "zh": f"当前目录或其上层最近的 {FOLDER_NAME}/",
    },
    "user": {"en": "your per-user default", "zh": "你的用户默认目录"},
}


@dataclass(frozen=True)
class Workspace:
    """A lab workspace: its folder, and how it was found (a key of `FOUND_BY`)."""

    path: Path  # absolute; may not exist yet (nothing recorded)
    found_by: str  # "option", "env", "nearest" or "user"

    @property
    def explicit(self) -> bool:
        """Named by the learner (--dir or $DLLAB_LAB) rather than found."""
        return self.found_by in ("option", "env")

    def describe(self, lang: str) -> str:
        """One line for the learner: the folder and why this one, e.g. for `dllab progress`."""
        how = FOUND_BY[self.found_by][lang]
        return f"{self.path}（{how}）" if lang == "zh" else f"{self.path} ({how})"


def user_default(environ: dict[str, str] | None = None, platform: str | None = None) -> Path:
    """The per-user workspace, where the platform keeps application data (no dependency needed).

    >>> user_default({"XDG_DATA_HOME": "/d"}, "linux")
    PosixPath('/d/dllab/lab')
    """
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if platform.startswith("win"):
        base = env.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "dllab" / "lab"
    if platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "dllab" / "lab"
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dllab" / "lab"


def find_workspace(
    folder: Path | None = None,
    *,
    cwd: Path | None = None,
    environ: dict[str, str] | None = None,
) -> Workspace:
    """The workspace to use: `folder` (a command's --dir), $DLLAB_LAB, the nearest `dllab-lab/`
    above `cwd` (default: the current folder), else the per-user default. Finds; creates nothing.

    Raises `LabError` when the chosen path exists but is not a folder.
    """
    env = os.environ if environ is None else environ
    here = Path.cwd() if cwd is None else Path(cwd)
    if folder is not None:
        found = Workspace(Path(folder).expanduser().absolute(), "option")
    elif env.get(ENV_VAR):
        found = Workspace(Path(env[ENV_VAR]).expanduser().absolute(), "env")
    else:
        here = here.absolute()
        nearest = next(
            (p / FOLDER_NAME for p in (here, *here.parents) if (p / FOLDER_NAME).is_dir()), None
        )
        found = (
            Workspace(nearest, "nearest")
            if nearest is not None
            else Workspace(user_default(dict(env)), "user")
        )
    if found.path.exists() and not found.path.is_dir():
        raise LabError(
            f"the lab workspace {found.describe('en')} is a file, not a folder; "
            f"point --dir or ${ENV_VAR} at a folder, or move the file away"
        )
    return found


def existing_workspace(folder: Path | None = None) -> Workspace:
    """`find_workspace` for commands that only read: an explicitly named folder must exist.

    A found one may be missing: that only means the learner has recorded nothing yet.
    """
    found = find_workspace(folder)
    if found.explicit and not found.path.exists():
        raise LabError(
            f"the lab workspace {found.describe('en')} does not exist; check the path, or "
            f"create it with `mkdir -p {found.path}` (`dllab lab start NAME` also creates it)"
        )
    return found
