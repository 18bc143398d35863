"""Issue 13, item 5: the disk says no. A full disk while checkpointing (a file-size limit, and
a small tmpfs where this machine lets us mount one), a read-only filesystem, a folder the user
may not write, a recipe or checkpoint the user may not read, and run paths that are files.
Each ends in exit status 2 and one stderr line naming the path and the reason; the last good
checkpoint and every file that existed stay as they were.
"""

from __future__ import annotations

import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ._cases import as_a_user, can_unshare_mounts, cli
from .conftest import hashes, one_line
from .test_run_folder import QUICK, killed_run

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def _file_size_limit(limit: int):
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit: EFBIG, no kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def dllab_as(*args: str, cwd: Path, prefix=(), preexec=None) -> subprocess.CompletedProcess:
    """`dllab ARGS` in a child process under a command `prefix` or `preexec` (a limit)."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "dllab", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=preexec,
    )


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def resumed_past_a_file_size_limit(tmp_path_factory):
    """A run checkpointed at step 2 and killed, then resumed with files capped at half a
    checkpoint: the next checkpoint cannot be written. (run folder, checkpoints before, result)"""
    root = tmp_path_factory.mktemp("fsize")
    run = killed_run(root, "runs/a", *QUICK)
    before = hashes(run / "checkpoints")
    half = (run / "checkpoints" / "last.safetensors").stat().st_size // 2
    out = dllab_as(
        "run", "quickstart", "--resume", "runs/a", cwd=root, preexec=_file_size_limit(half)
    )
    return run, before, out


def test_a_full_disk_while_checkpointing_keeps_the_last_good_checkpoint(
    resumed_past_a_file_size_limit,
):
    run, before, out = resumed_past_a_file_size_limit
    assert out.returncode != 0 and "resuming" in out.stdout, out.stderr
    assert hashes(run / "checkpoints") == before and not _leftovers(run)


def test_a_full_disk_while_checkpointing_is_one_line(resumed_past_a_file_size_limit):
    _, _, out = resumed_past_a_file_size_limit
    line = one_line(out)
    assert "last.safetensors" in line and "File too large" in line, line


def test_a_full_disk_at_the_first_checkpoint_is_one_line_and_leaves_no_run_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("mine\n")
    before = hashes(tmp_path)
    out = dllab_as(
        "run", "quickstart", *QUICK, "--run-dir", "runs/a", cwd=tmp_path,
        preexec=_file_size_limit(100_000),
    )  # fmt: skip
    assert hashes(tmp_path) == before and not (tmp_path / "runs").exists()
    line = one_line(out)
    assert "File too large" in line, line


needs_mounts = pytest.mark.skipif(
    not can_unshare_mounts(), reason="needs root and mount namespaces (unshare --mount)"
)


def in_namespace(script: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run a shell script in a private mount namespace: its mounts vanish when it ends."""
    return subprocess.run(
        ["unshare", "--mount", "sh", "-euc", script],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def resumed_on_a_full_tmpfs(tmp_path_factory):
    """The killed run copied to a tmpfs with less room than one more checkpoint, resumed there.
    (checkpoint digests before, after, names in checkpoints/ after, the result)"""
    if not can_unshare_mounts():
        pytest.skip("needs root and mount namespaces (unshare --mount)")
    root = tmp_path_factory.mktemp("tmpfs")
    run = killed_run(root, "runs/a", *QUICK)
    sums = {p.name: digest for p, digest in hashes(run / "checkpoints").items()}
    used = sum(-(-p.stat().st_size // 4096) * 4096 for p in run.rglob("*") if p.is_file())
    size_kib = (used + 64 * 1024 + 160 * 1024) // 1024  # the run, its folders, < 1 checkpoint
    (root / "disk").mkdir()
    dllab = shlex.join([sys.executable, "-m", "dllab", "run", "quickstart", "--resume"])
    setup = in_namespace(
        f"mount -t tmpfs -o size={size_kib}k tmpfs disk\n"
        "cp -a runs/a disk/a\n"
        f"set +e; {dllab} disk/a 2>err.txt; echo $? >status.txt; set -e\n"
        "sha256sum disk/a/checkpoints/* >sums.txt\n"
        "ls -a disk/a/checkpoints >listing.txt\n",
        cwd=root,
    )
    assert setup.returncode == 0, setup.stderr
    after = [x.split() for x in (root / "sums.txt").read_text().splitlines()]
    out = subprocess.CompletedProcess(
        [], int((root / "status.txt").read_text()), "", (root / "err.txt").read_text()
    )
    listing = (root / "listing.txt").read_text().split()
    return sums, {Path(name).name: digest for digest, name in after}, listing, out


def test_a_small_filesystem_that_fills_up_keeps_the_last_good_checkpoint(resumed_on_a_full_tmpfs):
    before, after, listing, out = resumed_on_a_full_tmpfs
    assert out.returncode != 0
    assert after == before and not [n for n in listing if n.endswith(".tmp")], listing


def test_a_small_filesystem_that_fills_up_is_one_line(resumed_on_a_full_tmpfs):
    *_, out = resumed_on_a_full_tmpfs
    line = one_line(out)
    assert "No space left on device" in line and "last.safetensors" in line, line


@needs_mounts
@pytest.mark.parametrize("how", ["new-run", "resume"])
def test_a_read_only_filesystem_is_one_line(tmp_path, how):
    run = killed_run(tmp_path, "ro/a", *QUICK)
    before = hashes(tmp_path / "ro")
    args = QUICK + ["--run-dir", "ro/b"] if how == "new-run" else ["--resume", "ro/a"]
    dllab = shlex.join([sys.executable, "-m", "dllab", "run", "quickstart", *args])
    out = in_namespace(f"mount --bind ro ro\nmount -o remount,ro,bind ro\nexec {dllab}", tmp_path)
    line = one_line(out)
    assert "Read-only file system" in line and "ro/" in line, line
    assert hashes(tmp_path / "ro") == before and run.exists()


def test_a_run_folder_the_user_may_not_write_is_one_line(tmp_path):
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked").chmod(0o555)
    before = hashes(tmp_path)
    out = dllab_as(
        "run", "quickstart", *QUICK, "--run-dir", "locked/run", cwd=tmp_path, prefix=as_a_user()
    )
    line = one_line(out)
    assert "locked/run" in line and "Permission denied" in line, line
    assert hashes(tmp_path) == before


def test_a_recipe_the_user_may_not_read_is_one_line(tmp_path):
    recipe = tmp_path / "secret.yaml"
    recipe.write_text("name: secret\n")
    recipe.chmod(0o000)
    out = dllab_as("run", "secret.yaml", cwd=tmp_path, prefix=as_a_user())
    line = one_line(out)
    assert "secret.yaml" in line and "Permission denied" in line, line
    assert not (tmp_path / "runs").exists()


def test_a_checkpoint_the_user_may_not_read_is_one_line(finished_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (run / "checkpoints" / "best.safetensors").chmod(0o000)
    before = hashes(run)
    out = dllab_as("eval", "run", cwd=tmp_path, prefix=as_a_user())
    line = one_line(out)
    assert "best.safetensors" in line and "Permission denied" in line, line
    assert hashes(run) == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "quickstart", "--run-dir", "afile"], ["afile"]),
        (["run", "quickstart", "--resume", "afile"], ["afile"]),
        (["eval", "afile"], ["afile"]),
        (["eval", "nowhere"], ["nowhere"]),
        (["predict", "afile", "x.png"], ["afile"]),
    ],
    ids=["run-dir-is-a-file", "resume-a-file", "eval-a-file", "eval-nowhere", "predict-a-file"],
)
def test_a_run_path_that_is_not_a_run_folder_is_one_line(tmp_path, args, words):
    (tmp_path / "afile").write_text("keep me\n")
    before = hashes(tmp_path)
    line = one_line(cli(*args, cwd=tmp_path))
    assert all(w in line for w in words), line
    assert hashes(tmp_path) == before
