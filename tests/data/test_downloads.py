"""Downloads over a local HTTP server on 127.0.0.1: resume, checksums, archives, offline.

No test reaches the internet: the server runs in a thread of this process.
"""

import gzip
import hashlib
import io
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dllab.data import CATALOG, ArchiveSpec, DatasetSpec, FileSpec, download, fetch, locate
from dllab.errors import DataError


class _Server:
    """Serves `files` by path; honours `Range: bytes=N-` unless `ranges` is False."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.ranges = True
        self.cut_after: int | None = None  # drop the connection after this many body bytes
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                wanted = self.headers.get("Range")
                server.requests.append((self.path, wanted))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                if wanted and server.ranges:
                    start = int(wanted.removeprefix("bytes=").rstrip("-"))
                    if start >= len(body):
                        self.send_error(416, "Range Not Satisfiable")
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                end = len(body) if server.cut_after is None else start + server.cut_after
                self.wfile.write(body[start:end])
                server.cut_after = None  # only the first answer is cut short

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        # A short poll interval makes shutdown(), in each test's teardown, quick.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


CONTENT = bytes(range(256)) * 400  # 100 KiB, several read chunks
SHA = hashlib.sha256(CONTENT).hexdigest()


def test_fetch_downloads_verifies_and_renames_into_place(server, tmp_path):
    server.files["/f.bin"] = CONTENT
    target = fetch(
        f"{server.url}/f.bin", tmp_path / "f.bin", file=FileSpec("f.bin", SHA), progress=False
    )
    assert target.read_bytes() == CONTENT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]  # no .part left


def test_fetch_resumes_a_partial_download_with_a_range_request(server, tmp_path):
    server.files["/f.bin"] = CONTENT
    (tmp_path / "f.bin.part").write_bytes(CONTENT[:30_000])

    fetch(f"{server.url}/f.bin", tmp_path / "f.bin", file=FileSpec("f.bin", SHA), progress=False)

    assert server.requests == [("/f.bin", "bytes=30000-")]
    assert (tmp_path / "f.bin").read_bytes() == CONTENT
    assert not (tmp_path / "f.bin.part").exists()


def test_interrupted_download_keeps_its_part_and_the_next_run_resumes(server, tmp_path):
    server.files["/f.bin"] = CONTENT
    server.cut_after = 40_000
    url, target, spec = f"{server.url}/f.bin", tmp_path / "f.bin", FileSpec("f.bin", SHA)

    with pytest.raises(DataError, match="run the same command again to resume") as error:
        fetch(url, target, file=spec, progress=False)
    assert "\n" not in str(error.value) and not target.exists()
    assert (tmp_path / "f.bin.part").stat().st_size == 40_000

    fetch(url, target, file=spec, progress=False)
    assert server.requests[-1] == ("/f.bin", "bytes=40000-")
    assert target.read_bytes() == CONTENT


def test_fetch_starts_over_when_the_server_ignores_the_range(server, tmp_path):
    server.files["/f.bin"] = CONTENT
    server.ranges = False
    (tmp_path / "f.bin.part").write_bytes(b"stale bytes from another file")
    fetch(f"{server.url}/f.bin", tmp_path / "f.bin", file=FileSpec("f.bin", SHA), progress=False)
    assert (tmp_path / "f.bin").read_bytes() == CONTENT


def test_fetch_of_an_already_complete_part_only_verifies_it(server, tmp_path):
    server.files["/f.bin"] = CONTENT
    (tmp_path / "f.bin.part").write_bytes(CONTENT)  # the server will answer 416
    fetch(f"{server.url}/f.bin", tmp_path / "f.bin", file=FileSpec("f.bin", SHA), progress=False)
    assert (tmp_path / "f.bin").read_bytes() == CONTENT


def test_checksum_mismatch_leaves_nothing_in_place(server, tmp_path):
    server.files["/f.bin"] = CONTENT
    with pytest.raises(DataError) as error:
        fetch(
            f"{server.url}/f.bin",
            tmp_path / "f.bin",
            file=FileSpec("f.bin", "0" * 64),
            progress=False,
        )
    message = str(error.value)
    assert "checksum mismatch" in message and SHA in message and "nothing was saved" in message
    assert list(tmp_path.iterdir()) == []


def test_gzipped_download_is_checked_by_its_decompressed_content(server, tmp_path):
    server.files["/f.bin.gz"] = gzip.compress(CONTENT)
    spec = FileSpec("f.bin", SHA, size=len(CONTENT))
    target = fetch(f"{server.url}/f.bin.gz", tmp_path / "f.bin.gz", file=spec, progress=False)
    assert gzip.decompress(target.read_bytes()) == CONTENT


def test_http_error_is_one_clear_line(server, tmp_path):
    with pytest.raises(DataError, match="HTTP 404") as error:
        fetch(f"{server.url}/nope.bin", tmp_path / "nope.bin", progress=False)
    assert "\n" not in str(error.value)


def test_plain_progress_when_not_a_terminal(server, tmp_path, capsys):
    server.files["/f.bin"] = CONTENT
    fetch(f"{server.url}/f.bin", tmp_path / "f.bin", progress=True)
    err = capsys.readouterr().err
    assert "downloading f.bin" in err and "100%" in err and "\x1b[" not in err


def _mnist_like_spec(base_url: str, files: dict[str, bytes]) -> DatasetSpec:
    return DatasetSpec(
        name="mnist",
        description="test copy",
        license="",
        homepage="https://example.invalid/mnist",
        files=tuple(
            FileSpec(n, hashlib.sha256(c).hexdigest(), f"{base_url}/{n}.gz", len(c))
            for n, c in files.items()
        ),
        folders=("mnist",),
    )


def test_download_fetches_each_file_once_into_dest_name(server, tmp_path, monkeypatch):
    files = {"train-labels-idx1-ubyte": b"a" * 1000, "t10k-labels-idx1-ubyte": b"b" * 500}
    for name, content in files.items():
        server.files[f"/{name}.gz"] = gzip.compress(content)
    monkeypatch.setitem(CATALOG, "mnist", _mnist_like_spec(server.url, files))

    folder = download("mnist", tmp_path / "dest", progress=False)

    assert folder == tmp_path / "dest" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.gz" for n in files)
    assert locate("mnist", data_dir=tmp_path / "dest") == folder
    assert len(server.requests) == 2
    download("mnist", tmp_path / "dest", progress=False)  # present and valid: nothing fetched
    assert len(server.requests) == 2


def test_download_goes_to_dllab_data_by_default(server, tmp_path, monkeypatch):
    files = {"train-labels-idx1-ubyte": b"a" * 10}
    server.files["/train-labels-idx1-ubyte.gz"] = gzip.compress(b"a" * 10)
    monkeypatch.setitem(CATALOG, "mnist", _mnist_like_spec(server.url, files))
    monkeypatch.setenv("DLLAB_DATA", str(tmp_path / "big-disk"))
    assert download("mnist", progress=False) == tmp_path / "big-disk" / "mnist"


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _archive_spec(url: str, md5: str | None) -> DatasetSpec:
    return DatasetSpec(
        name="cifar10",
        description="test copy",
        license="",
        homepage="",
        files=(
            FileSpec("test_batch.bin", hashlib.sha256(b"t" * 3073).hexdigest(), size=3073),
            FileSpec("batches.meta.txt", None),
        ),
        folders=("cifar10",),
        archive=ArchiveSpec(
            url=url,
            members=(
                "cifar-10-batches-bin/test_batch.bin",
                "cifar-10-batches-bin/batches.meta.txt",
            ),
            md5=md5,
        ),
    )


def test_archive_download_keeps_only_the_catalog_files(server, tmp_path, monkeypatch):
    archive = _tar_gz(
        {
            "cifar-10-batches-bin/test_batch.bin": b"t" * 3073,
            "cifar-10-batches-bin/batches.meta.txt": b"cat\ndog\n",
            "cifar-10-batches-bin/readme.html": b"<html>",
        }
    )
    server.files["/c.tar.gz"] = archive
    spec = _archive_spec(f"{server.url}/c.tar.gz", hashlib.md5(archive).hexdigest())
    monkeypatch.setitem(CATALOG, "cifar10", spec)

    folder = download("cifar10", tmp_path, progress=False)

    assert sorted(p.name for p in folder.iterdir()) == ["batches.meta.txt", "test_batch.bin"]


@pytest.mark.parametrize("bad", ["md5", "content"])
def test_bad_archive_leaves_nothing_behind(server, tmp_path, monkeypatch, bad):
    content = b"t" * 3073 if bad == "md5" else b"x" * 3073
    archive = _tar_gz(
        {
            "cifar-10-batches-bin/test_batch.bin": content,
            "cifar-10-batches-bin/batches.meta.txt": b"cat\n",
        }
    )
    server.files["/c.tar.gz"] = archive
    md5 = "0" * 32 if bad == "md5" else hashlib.md5(archive).hexdigest()
    monkeypatch.setitem(CATALOG, "cifar10", _archive_spec(f"{server.url}/c.tar.gz", md5))

    with pytest.raises(DataError, match="mismatch"):
        download("cifar10", tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_says_which_files_to_copy_where(tmp_path, monkeypatch):
    url = f"http://127.0.0.1:{_closed_port()}"
    files = {"train-labels-idx1-ubyte": b"a", "t10k-labels-idx1-ubyte": b"b"}
    monkeypatch.setitem(CATALOG, "mnist", _mnist_like_spec(url, files))

    with pytest.raises(DataError) as error:
        download("mnist", tmp_path, progress=False)

    message = str(error.value)
    assert "\n" not in message and "cannot download mnist" in message
    assert "train-labels-idx1-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]" in message
    assert f"to {tmp_path / 'mnist'} by hand" in message
    assert not (tmp_path / "mnist").exists()  # no empty folder left behind


def test_existing_corrupt_file_is_not_overwritten(server, tmp_path, monkeypatch):
    files = {"train-labels-idx1-ubyte": b"a" * 100}
    monkeypatch.setitem(CATALOG, "mnist", _mnist_like_spec(server.url, files))
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "train-labels-idx1-ubyte").write_bytes(b"mine")
    with pytest.raises(DataError, match="delete it"):
        download("mnist", tmp_path, progress=False)
    assert (tmp_path / "mnist" / "train-labels-idx1-ubyte").read_bytes() == b"mine"
    assert server.requests == []
