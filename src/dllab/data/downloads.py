"""Downloading a catalog dataset: resumable, checksummed, atomic, safely extracted.

Only `dllab data download` (or an explicit call) downloads; nothing does at import or test
time. A file is fetched into `<name>.part` (an interrupted download resumes from there with an
HTTP Range request), its decompressed content is checked against the catalog, and only then is
it renamed into place; a mismatch deletes the part and leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import socket
import sys
import tempfile
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from dllab import __version__
from dllab.data.archive import safe_extract
from dllab.data.catalog import DatasetSpec, FileSpec, get_spec
from dllab.data.checksum import CHUNK, digest_content
from dllab.data.integrity import check_file
from dllab.data.search import default_root, find_file, locate
from dllab.errors import ConfigError, DataError

__all__ = ["download", "fetch"]

TIMEOUT = 30  # seconds without a byte before giving up; long enough for slow mirrors
_NETWORK_ERRORS = (urllib.error.URLError, socket.timeout, ConnectionError, TimeoutError)
_STREAM_ERRORS = (*_NETWORK_ERRORS, http.client.HTTPException, OSError)


class _Offline(DataError):
    """The network could not be reached; `download` rewords it for the whole dataset."""

    def __init__(self, message: str, reason: object) -> None:
        super().__init__(message)
        self.reason = reason


class _Bar:
    """Progress: a rich bar on a terminal, a line every 10 % otherwise, nothing when off."""

    def __init__(self, label: str, total: int | None, done: int, enabled: bool) -> None:
        self.label, self.total, self.done = label, total, done
        self.enabled = enabled
        self._rich = None
        self._next_tenth = 1
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._rich = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._task = self._rich.add_task(label, total=total, completed=done)
            self._rich.start()
        elif enabled:
            resumed = f", resuming at {done / 1e6:.1f} MB" if done else ""
            size = f" ({total / 1e6:.1f} MB{resumed})" if total else ""
            print(f"downloading {label}{size}", file=sys.stderr, flush=True)

    def advance(self, n: int) -> None:
        self.done += n
        if self._rich is not None:
            self._rich.update(self._task, completed=self.done)
        elif self.enabled and self.total:
            while self._next_tenth <= 10 and self.done * 10 >= self.total * self._next_tenth:
                print(f"  {self._next_tenth * 10}%", file=sys.stderr, flush=True)
                self._next_tenth += 1

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()


def _offline(url: str, target: Path, reason: object) -> DataError:
    return _Offline(
        f"cannot download {url} ({reason}); if you are offline, fetch {target.name} on another "
        f"machine and copy it to {target.parent}",
        reason,
    )


def _open(url: str, offset: int) -> IO[bytes] | None:
    headers = {"User-Agent": f"dllab/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT)  # http(s) only: see _response
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # nothing after `offset`: the part is already whole
            return None
        raise


@contextmanager
def _response(url: str, target: Path, offset: int):
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"refusing to download {url!r}: only http(s) URLs are supported")
    try:
        response = _open(url, offset)
    except urllib.error.HTTPError as e:
        raise DataError(
            f"cannot download {url}: the server answered HTTP {e.code} {e.reason}; download it "
            f"by hand and copy it to {target.parent}"
        ) from None
    except _NETWORK_ERRORS as e:
        raise _offline(url, target, getattr(e, "reason", e)) from None
    try:
        yield response
    finally:
        if response is not None:
            response.close()


def _receive(url: str, part: Path, progress: bool) -> None:
    offset = part.stat().st_size if part.exists() else 0
    with _response(url, part.with_suffix(""), offset) as response:
        if response is None:
            return
        if offset and getattr(response, "status", 200) != 206:
            offset = 0  # the server ignored the Range header: start over
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length else None
        bar = _Bar(PurePosixPath(url).name, total, offset, progress)
        try:
            with part.open("ab" if offset else "wb") as out:
                while block := response.read(CHUNK):
                    out.write(block)
                    bar.advance(len(block))
            # read(n) returns b"" when the connection drops early: compare with the promise.
            if total is not None and bar.done < total:
                raise ConnectionError(f"the server promised {total} bytes")
        except _STREAM_ERRORS as e:
            raise DataError(
                f"download of {url} stopped after {bar.done} bytes ({e}); run the same command "
                f"again to resume from {part}"
            ) from None
        finally:
            bar.close()


def fetch(
    url: str,
    target: str | Path,
    *,
    file: FileSpec | None = None,
    md5: str | None = None,
    progress: bool = True,
) -> Path:
    """Download `url` to `target` atomically, resuming from `target.part` if it exists.

    Before the rename, the decompressed content is checked against `file` (sha256 and size)
    and the raw bytes against `md5`; on a mismatch the part is deleted and DataError raised,
    so `target` is either absent or good. Offline raises DataError naming where to copy it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    _receive(url, part, progress)
    try:
        if md5 is not None:
            h = hashlib.md5()
            with part.open("rb") as f:
                while block := f.read(CHUNK):
                    h.update(block)
            got = h.hexdigest()
            if got != md5:
                raise DataError(
                    f"checksum mismatch for {url}: expected md5 {md5}, got {got}; nothing was "
                    "saved, run the command again (or the mirror serves a different file)"
                )
        if file is not None:
            sha256, size = digest_content(part)
            if (file.sha256 and sha256 != file.sha256) or (file.size and size != file.size):
                expected = file.sha256 or "any"
                expected += f" ({file.size} bytes)" if file.size else ""
                raise DataError(
                    f"checksum mismatch for {url}: expected sha256 {expected}, got {sha256} "
                    f"({size} bytes); nothing was saved, run the command again (or the mirror "
                    "serves a different file)"
                )
    except DataError:
        part.unlink(missing_ok=True)  # a bad part must not be resumed
        raise
    os.replace(part, target)
    return target


def _present(spec: DatasetSpec, folder: Path) -> list[FileSpec]:
    """Files of `spec` already in `folder` (checked; a bad one raises rather than be replaced)."""
    present = []
    for f in spec.files:
        path = find_file(folder, f.name)
        if path is not None:
            check_file(path, f, spec.name)
            present.append(f)
    return present


def _download_archive(spec: DatasetSpec, folder: Path, todo: list[FileSpec], progress: bool):
    assert spec.archive is not None
    archive = folder / PurePosixPath(spec.archive.url).name
    fetch(spec.archive.url, archive, md5=spec.archive.md5, progress=progress)
    members = dict(zip([f.name for f in spec.files], spec.archive.members, strict=True))
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=folder))
    try:
        safe_extract(archive, staging, [members[f.name] for f in todo])
        for f in todo:  # check every file before any of them is moved into place
            check_file(staging / members[f.name], f, spec.name)
        for f in todo:
            os.replace(staging / members[f.name], folder / f.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        archive.unlink(missing_ok=True)


def download(name: str, dest: str | Path | None = None, *, progress: bool = True) -> Path:
    """Download dataset `name` into `<dest>/<name>` and return that folder.

    `dest` defaults to `$DLLAB_DATA`, else ~/.cache/dllab. Files already there are checked
    and kept; the rest are fetched (resumably) and verified before they appear. Archives are
    extracted safely and only the catalog's files are kept. Offline raises DataError.
    Example: `download("mnist")` -> Path("~/.cache/dllab/mnist").
    """
    spec = get_spec(name)
    if spec.bundled_with:
        return locate(name)  # shipped by a Python package: nothing to download
    if not spec.files:
        raise ConfigError(f"{name!r} is your own data: there is nothing to download")
    if dest and Path(dest).expanduser().exists() and not Path(dest).expanduser().is_dir():
        raise ConfigError(
            f"--dest {dest} is a file, not a folder; pass a folder (the data goes into "
            f"<folder>/{spec.name})"
        )
    folder = (Path(dest).expanduser() if dest else default_root()) / spec.name
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        _fetch_missing(spec, folder, progress)
    except BaseException:
        if created and not any(folder.iterdir()):
            folder.rmdir()  # a failed first attempt leaves no empty folder behind
        raise
    return folder


def _fetch_missing(spec: DatasetSpec, folder: Path, progress: bool) -> None:
    present = _present(spec, folder)
    todo = [f for f in spec.files if f not in present]
    try:
        if spec.archive is not None:
            if todo:
                _download_archive(spec, folder, todo, progress)
        else:
            for f in todo:
                if f.url is None:
                    raise ConfigError(f"catalog entry {spec.name!r} has no URL for {f.name}")
                fetch(f.url, folder / PurePosixPath(f.url).name, file=f, progress=progress)
    except _Offline as e:
        files = ", ".join(f"{f.name}[.gz]" for f in todo)
        raise DataError(
            f"cannot download {spec.name} ({e.reason}); if you are offline, copy {files} to "
            f"{folder} by hand (get them from {spec.homepage})"
        ) from None
