"""Issue 13, item 5: malicious archives, each through the public entry point,
`dllab data download cifar10 --dest DIR`, served by a local HTTP server (the catalog entry
points at it, with the archive's own md5, so only the extraction can stop it). Every hostile
member is refused before anything is extracted: exit status 2, one stderr line naming the
member, and no file anywhere under the test's folder written or changed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import stat
import subprocess
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dllab.data import CATALOG, ArchiveSpec, DatasetSpec, FileSpec

from ._cases import cases, cli
from .conftest import hashes, one_line

GOOD = {  # what the catalog expects, under the archive's folder
    "cifar-10-batches-bin/test_batch.bin": b"t" * 3073,
    "cifar-10-batches-bin/batches.meta.txt": b"cat\ndog\n",
}


@pytest.fixture
def served(monkeypatch):
    """serve(archive bytes): put them at a local URL and point the cifar10 entry at them."""
    body: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body["archive"])))
            self.end_headers()
            self.wfile.write(body["archive"])

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()

    def serve(archive: bytes, suffix: str) -> None:
        body["archive"] = archive
        url = f"http://127.0.0.1:{httpd.server_address[1]}/cifar-10-binary{suffix}"
        files = (
            FileSpec(
                "test_batch.bin", hashlib.sha256(GOOD[next(iter(GOOD))]).hexdigest(), size=3073
            ),
            FileSpec("batches.meta.txt", None),
        )
        spec = DatasetSpec(
            name="cifar10",
            description="test copy",
            license="",
            homepage="https://example.invalid/cifar",
            files=files,
            folders=("cifar10",),
            archive=ArchiveSpec(url, tuple(GOOD), hashlib.md5(archive).hexdigest()),
        )
        monkeypatch.setitem(CATALOG, "cifar10", spec)

    yield serve
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", size: int = 0):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, size
    return info


def _tar(*hostile: tarfile.TarInfo | tuple[str, bytes]) -> bytes:
    """A tar.gz of the good members, then the hostile ones (a TarInfo, or (name, data))."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for entry in [*GOOD.items(), *hostile]:
            if isinstance(entry, tarfile.TarInfo):
                tf.addfile(entry)
            else:
                info = _info(entry[0], size=len(entry[1]))
                tf.addfile(info, io.BytesIO(entry[1]))
    return buffer.getvalue()


def _huge_member() -> bytes:
    """A tar.gz whose one header claims 1 TiB of content that is not there."""
    info = _info("cifar-10-batches-bin/test_batch.bin", size=1 << 40)
    return gzip.compress(info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape") + bytes(1024))


def _zip(*hostile: tuple[str, bytes] | zipfile.ZipInfo, bomb: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in GOOD.items():
            if bomb and name.endswith("test_batch.bin"):
                data = bytes(64 << 20)  # 64 MiB of zeros: ~65 KiB deflated, a 1000:1 ratio
            zf.writestr(name, data)
        for entry in hostile:
            if isinstance(entry, zipfile.ZipInfo):
                zf.writestr(entry, "../../outside")
            else:
                zf.writestr(*entry)
    return buffer.getvalue()


def _zip_link(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


TAR, ZIP = ".tar.gz", ".zip"
ABS = "/tmp/dllab-faults-absolute-evil"  # never written: checked below

ARCHIVES = [
    # (id, archive, suffix, words the line must contain)
    ("tar-parent", _tar(("../evil", b"boom")), TAR, ["../evil", "'..'"]),
    ("tar-nested-parent", _tar(("d/../../evil", b"boom")), TAR, ["d/../../evil", "'..'"]),
    ("tar-absolute", _tar((ABS, b"boom")), TAR, [ABS, "absolute"]),
    ("tar-backslash-parent", _tar(("..\\evil", b"boom")), TAR, ["evil", "'..'"]),
    ("tar-drive-letter", _tar(("C:/evil", b"boom")), TAR, ["C:/evil", "absolute"]),
    ("tar-symlink-out", _tar(_info("d/l", tarfile.SYMTYPE, "../../outside")), TAR, ["d/l"]),
    ("tar-symlink-absolute", _tar(_info("d/l", tarfile.SYMTYPE, "/etc/passwd")), TAR, ["d/l"]),
    ("tar-hardlink-out", _tar(_info("d/h", tarfile.LNKTYPE, "../outside")), TAR, ["d/h"]),
    ("tar-hardlink-absolute", _tar(_info("d/h", tarfile.LNKTYPE, "/etc/passwd")), TAR, ["d/h"]),
    (
        "tar-member-under-a-symlink",
        _tar(_info("d/l", tarfile.SYMTYPE, "."), ("d/l/x", b"x")),
        TAR,
        ["d/l/x", "link"],
    ),
    ("tar-char-device", _tar(_info("d/null", tarfile.CHRTYPE)), TAR, ["d/null", "device"]),
    ("tar-block-device", _tar(_info("d/sda", tarfile.BLKTYPE)), TAR, ["d/sda", "device"]),
    ("tar-fifo", _tar(_info("d/pipe", tarfile.FIFOTYPE)), TAR, ["d/pipe", "pipe"]),
    ("tar-huge-member", _huge_member(), TAR, ["damaged tar archive", "download it again"]),
    ("zip-parent", _zip(("../evil", b"boom")), ZIP, ["../evil", "'..'"]),
    ("zip-absolute", _zip((ABS, b"boom")), ZIP, [ABS, "absolute"]),
    ("zip-backslash-parent", _zip(("..\\evil", b"boom")), ZIP, ["evil", "'..'"]),
    ("zip-drive-letter", _zip(("C:\\evil", b"boom")), ZIP, ["evil", "absolute"]),
    ("zip-symlink", _zip(_zip_link("d/link")), ZIP, ["d/link", "symbolic link"]),
    ("zip-bomb", _zip(bomb=True), ZIP, ["refusing to extract", "decompression bomb"]),
    ("not-an-archive", b"<html>a login page</html>" * 40, TAR, ["neither a tar nor a zip"]),
]


PROGRESS = re.compile(r"downloading \S+ \(.*\)|\s+\d+%")  # the download's own lines


def without_progress(out: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """The result with the download's progress lines (on stderr, as they should be) left out."""
    kept = [x for x in out.stderr.splitlines() if not PROGRESS.fullmatch(x)]
    assert out.stderr.splitlines()[0].startswith("downloading cifar-10-binary"), out.stderr
    return subprocess.CompletedProcess(out.args, out.returncode, out.stdout, "\n".join(kept))


@pytest.mark.parametrize(("archive", "suffix", "words"), cases(*ARCHIVES))
def test_a_hostile_archive_is_refused_and_nothing_is_written(
    served, tmp_path, archive, suffix, words
):
    served(archive, suffix)
    dest = tmp_path / "data"
    (dest / "cifar10").mkdir(parents=True)
    (dest / "cifar10" / "notes.txt").write_text("mine\n")  # a user's file stays as it is
    (tmp_path / "outside").write_text("not yours\n")
    before = hashes(tmp_path)

    out = cli("data", "download", "cifar10", "--dest", str(dest), cwd=tmp_path)
    line = one_line(without_progress(out))
    assert line.startswith("dllab: error: ") and all(w in line for w in words), line
    assert hashes(tmp_path) == before  # no file written (not even the archive) or changed
    assert not Path(ABS).exists() and not (tmp_path.parent / "evil").exists()


def test_the_same_archive_without_the_hostile_member_downloads(served, tmp_path):
    # The control case: what the hostile archives add is what gets them refused.
    served(_tar(), TAR)
    out = cli("data", "download", "cifar10", "--dest", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "cifar10"
    assert sorted(p.name for p in folder.iterdir()) == ["batches.meta.txt", "test_batch.bin"]
