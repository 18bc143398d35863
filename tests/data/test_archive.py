"""Safe extraction: good archives unpack, hostile ones raise and write nothing."""

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from dllab.data import safe_extract
from dllab.errors import DataError


def _tar(path: Path, entries: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tf.addfile(entry)
            else:
                name, data = entry
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def _link(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def test_tar_extracts_all_or_only_the_members_asked_for(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", [("d/x.bin", b"x"), ("d/y.txt", b"y"), ("z", b"z")])

    written = safe_extract(archive, tmp_path / "all")
    assert sorted(str(p.relative_to(tmp_path / "all")) for p in written) == [
        "d/x.bin",
        "d/y.txt",
        "z",
    ]

    safe_extract(archive, tmp_path / "some", ["d/x.bin"])
    assert _files_under(tmp_path / "some") == ["d/x.bin"]
    assert (tmp_path / "some" / "d" / "x.bin").read_bytes() == b"x"


def test_tar_with_a_link_that_stays_inside_is_fine(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", [("d/x", b"x"), _link("d/alias", "x")])
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "d" / "alias").read_bytes() == b"x"


def _device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    return info


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (("../evil", b"boom"), "'..'"),
        (("d/../../evil", b"boom"), "'..'"),
        (("/tmp/evil-absolute", b"boom"), "absolute path"),
        (_link("d/escape", "../../outside"), "links outside"),
        (_link("d/abs", "/etc/passwd"), "absolute path"),
        (_link("d/hard", "../outside", tarfile.LNKTYPE), "links outside"),
        (_device("d/null"), "device"),
    ],
)
def test_hostile_tar_member_is_refused_and_nothing_is_written(tmp_path, entry, why):
    archive = _tar(tmp_path / "evil.tar.gz", [("d/good", b"ok"), entry])
    dest = tmp_path / "out"
    with pytest.raises(DataError) as error:
        safe_extract(archive, dest)
    message = str(error.value)
    assert "refusing to extract" in message and why in message and "\n" not in message
    assert _files_under(dest) == []
    assert not (tmp_path / "evil").exists() and not (tmp_path / "outside").exists()


def test_member_written_through_a_link_is_refused(tmp_path):
    # "d/link" -> "." is harmless alone, but a later "d/link/…" must not be followed.
    archive = _tar(tmp_path / "a.tar.gz", [_link("d/link", "."), ("d/link/x", b"x")])
    with pytest.raises(DataError, match="under a link"):
        safe_extract(archive, tmp_path / "out")


def _zip(path: Path, names: list[str], link: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name, b"data")
        if link is not None:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "../../outside")
    return path


def test_zip_extracts(tmp_path):
    archive = _zip(tmp_path / "a.zip", ["d/x.bin", "d/y.bin"])
    safe_extract(archive, tmp_path / "out", ["d/y.bin"])
    assert _files_under(tmp_path / "out") == ["d/y.bin"]


@pytest.mark.parametrize(
    ("names", "link", "why"),
    [
        (["ok", "../evil"], None, "'..'"),
        (["ok", "/abs/evil"], None, "absolute path"),
        (["ok"], "d/link", "symbolic link"),
    ],
)
def test_hostile_zip_is_refused(tmp_path, names, link, why):
    archive = _zip(tmp_path / "evil.zip", names, link)
    with pytest.raises(DataError, match=why):
        safe_extract(archive, tmp_path / "out")
    assert _files_under(tmp_path / "out") == []


def test_not_an_archive_and_missing_member_are_clear_errors(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"this is not an archive" * 10)
    with pytest.raises(DataError, match="neither a tar nor a zip"):
        safe_extract(junk, tmp_path / "out")
    archive = _tar(tmp_path / "a.tar.gz", [("d/x", b"x")])
    with pytest.raises(DataError, match="lacks d/missing"):
        safe_extract(archive, tmp_path / "out2", ["d/x", "d/missing"])
