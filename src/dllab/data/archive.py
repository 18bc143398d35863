"""Safe extraction of tar and zip archives.

An archive from the network is untrusted: a member named `../x` or `/etc/x`, a link pointing
outside the destination, or a device node could write anywhere. Every member is checked before
anything is written, and tar extraction also runs under Python's `filter="data"` where the
interpreter has it, so the two checks back each other up.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from dllab.errors import DataError

__all__ = ["safe_extract"]

# What `filter="data"` raises; an empty tuple (catches nothing) on interpreters without it.
_FILTER_ERROR = getattr(tarfile, "FilterError", ())
# Datasets compress 1-10x (images barely, text more); a zip bomb's ratio is in the thousands.
MAX_RATIO = 100


def _check_size(archive: Path, unpacked: int, dest: Path) -> None:
    """Refuse an archive that would unpack to far more than it weighs (a decompression bomb)
    or than the disk holds, before one byte is written."""
    packed = max(archive.stat().st_size, 1)
    if unpacked > MAX_RATIO * packed and unpacked > 1 << 20:
        raise DataError(
            f"refusing to extract {archive}: its members claim {unpacked:,} bytes, "
            f"{unpacked // packed:,} times its own size (a decompression bomb, or damaged); "
            "delete it and download it again from the dataset's homepage"
        )
    free = shutil.disk_usage(dest).free
    if unpacked > free:
        raise DataError(
            f"{archive} unpacks to {unpacked:,} bytes and {dest} has {free:,} free; "
            "free some space or choose a folder on another disk (--data-dir)"
        )


def _unsafe(archive: Path, member: str, why: str) -> DataError:
    return DataError(
        f"refusing to extract {archive}: member {member!r} {why}; the archive is damaged or "
        "malicious, delete it and download it again from the dataset's homepage"
    )


def _check_name(archive: Path, name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or (path.parts and path.parts[0].endswith(":")):
        raise _unsafe(archive, name, "has an absolute path")
    if ".." in path.parts:
        raise _unsafe(archive, name, "climbs out of the destination with '..'")
    return path


def _inside(dest: Path, target: Path) -> bool:
    return target.resolve().is_relative_to(dest.resolve())


def _check_tar(archive: Path, members: list[tarfile.TarInfo], dest: Path) -> None:
    links: set[PurePosixPath] = set()
    for m in members:
        path = _check_name(archive, m.name)
        if any(parent in links for parent in path.parents):
            raise _unsafe(archive, m.name, "lies under a link")
        if m.isdev():  # character/block devices and FIFOs
            raise _unsafe(archive, m.name, "is a device or pipe")
        if m.issym() or m.islnk():
            target = PurePosixPath(m.linkname)
            if target.is_absolute():
                raise _unsafe(archive, m.name, f"links to the absolute path {m.linkname!r}")
            # A symlink resolves from its own folder, a hard link from the archive root.
            base = dest / path.parent if m.issym() else dest
            if not _inside(dest, base / target):
                raise _unsafe(archive, m.name, f"links outside the destination ({m.linkname!r})")
            links.add(path)
        elif not (m.isfile() or m.isdir()):
            raise _unsafe(archive, m.name, "is not a regular file or folder")


def _extract_tar(archive: Path, dest: Path, wanted: set[str] | None) -> list[Path]:
    try:
        with tarfile.open(archive) as tf:
            members = tf.getmembers()  # reads every header: a cut-short archive fails here
            _check_tar(archive, members, dest)
            chosen = [m for m in members if wanted is None or _norm(m.name) in wanted]
            _check_size(archive, sum(m.size for m in chosen if m.isfile()), dest)
            try:
                if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.10.12
                    tf.extractall(dest, members=chosen, filter="data")
                else:  # pragma: no cover - our own checks above are the guard here
                    tf.extractall(dest, members=chosen)
            except _FILTER_ERROR as e:  # pragma: no cover - caught by _check_tar first
                name = getattr(e, "tarinfo", tarfile.TarInfo()).name
                raise _unsafe(archive, name, str(e)) from e
    except (tarfile.ReadError, EOFError, zlib.error) as e:
        raise DataError(
            f"{archive} is a damaged tar archive ({e}); delete it and download it again"
        ) from None
    return [dest / _norm(m.name) for m in chosen if m.isfile()]


def _extract_zip(archive: Path, dest: Path, wanted: set[str] | None) -> list[Path]:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:
            _check_name(archive, info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):  # zipfile would write a link as a file: refuse it outright
                raise _unsafe(archive, info.filename, "is a symbolic link")
        chosen = [i for i in infos if wanted is None or _norm(i.filename) in wanted]
        _check_size(archive, sum(i.file_size for i in chosen), dest)
        for info in chosen:
            zf.extract(info, dest)
    return [dest / _norm(i.filename) for i in chosen if not i.is_dir()]


def _norm(name: str) -> str:
    return str(PurePosixPath(name.replace("\\", "/")))  # "./a//b" -> "a/b"


def safe_extract(
    archive: str | Path, dest: str | Path, members: list[str] | tuple[str, ...] | None = None
) -> list[Path]:
    """Extract a tar (any compression) or zip archive into `dest`; return the files written.

    `members` restricts extraction to those paths inside the archive (all when None). Every
    member is checked first, so an unsafe archive raises DataError and writes nothing: absolute
    paths, `..`, links that point outside `dest` (or any zip link), devices and pipes.
    Example: `safe_extract("cifar-10-binary.tar.gz", tmp, ["cifar-10-batches-bin/test_batch.bin"])`.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    wanted = {_norm(m) for m in members} if members is not None else None
    if zipfile.is_zipfile(archive):
        written = _extract_zip(archive, dest, wanted)
    elif tarfile.is_tarfile(archive):
        written = _extract_tar(archive, dest, wanted)
    else:
        raise DataError(
            f"{archive} is neither a tar nor a zip archive (damaged download?); delete it and "
            "download it again"
        )
    if wanted is not None:
        absent = sorted(wanted - {_norm(str(p.relative_to(dest))) for p in written})
        if absent:
            raise DataError(
                f"{archive} lacks {', '.join(absent)}; it is not the expected archive, delete "
                "it and download it again"
            )
    return written
