"""The parent's end of grading: start the child that runs the learner's code, and talk to it.

`ChildChannel` starts `child.py` as `python -I -S` (no user site, no `.pth` files, no current
folder on `sys.path`, no environment variables read) in an empty temporary folder, with a clean
environment and `setrlimit` limits on CPU time, address space and file size. Requests go down
one pipe and replies come back up another; the learner's own output goes to a capped file, so
printing cannot garble the replies. Every reply is decoded with size limits and dtype checks
(`child.decode`); a reply that cannot be read, a silent child or a dead one stops the check.

`LocalChannel` answers the same requests in this process, for trusted files (the references
in tests): the same wire format both ways, no isolation, no time limit.

What this protects and what it does not: the verdict is made here, from references computed
here, so the learner's code cannot patch the grader, forge events or exit its way to a pass.
Inside the child, an import hook refuses `dllab` (and torch in NumPy exercises) and an audit
hook refuses sockets, new processes, writes outside the temporary folder and reads of the
workspace (where the record's key lives). Those two hooks are Python-level: native code
(ctypes) gets past them, and a learner with a debugger can read anything on their own machine.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dllab.lab import child
from dllab.lab.child import HEADER, WireError, check_header, pack, unpack_body

STARTUP_LIMIT = 60.0  # seconds for the child to start Python, NumPy and torch
MEMORY_LIMIT = 6 * 2**30  # bytes of address space: torch alone maps ~2 GiB
FILE_LIMIT = 64 * 2**20  # bytes in any one file the child writes (its output included)


class ChildStopped(BaseException):  # noqa: N818  (not an error of ours: the child went away)
    """The child stopped answering: `reason` is "timeout", "died" or "garbled".

    A BaseException, so that a grader's `except Exception` cannot swallow it.
    """

    def __init__(self, reason: str, returncode: int | None = None, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.returncode = returncode
        self.detail = detail


@dataclass(frozen=True)
class Remote:
    """An object that lives in the child (a learner's nn.Module…): a handle to pass back."""

    key: int
    type: str
    mro: tuple[str, ...] = ()

    def is_a(self, qualname: str) -> bool:
        """Whether the object's class is, or derives from, `qualname`."""
        return qualname in self.mro


def _ref(value: Any) -> dict:
    if isinstance(value, Remote):
        return {"$ref": value.key}
    raise TypeError(f"cannot send a {type(value).__name__} to the learner's code")


def _remote(tag: dict) -> Remote:
    mro = tag.get("mro") or ()
    return Remote(int(tag["$handle"]), str(tag.get("type", "?")), tuple(str(c) for c in mro))


def _copy_back(args: tuple, after: Any) -> None:
    """Mirror in-place changes the learner made to array arguments (graders check for them)."""
    if not isinstance(after, list) or len(after) != len(args):
        return
    for arg, new in zip(args, after, strict=True):
        if new is None or getattr(arg, "shape", None) != getattr(new, "shape", None):
            continue
        if hasattr(arg, "detach"):  # a torch.Tensor
            import torch

            with torch.no_grad():
                arg.copy_(torch.as_tensor(new) if not hasattr(new, "detach") else new)
        elif hasattr(arg, "dtype"):
            import numpy as np

            np.copyto(arg, np.asarray(new), casting="unsafe")


class Channel:
    """Requests to the learner's side; subclasses say how they travel."""

    numpy_only = False  # a NumPy exercise: a reply that says torch was imported fails

    def request(self, message: dict) -> dict:
        raise NotImplementedError

    def load(self, path: Path) -> dict | None:
        """Load the learner's file; the failure record, or None when it loaded."""
        return self.request({"op": "load", "path": str(path)}).get("error")

    def seed(self, seed: int) -> None:
        """Seed torch's generator in the child (what the case's own seed did in one process)."""
        self.request({"op": "seed", "seed": seed})

    def call(self, name: str, args: tuple, kwargs: dict) -> dict:
        """Call the learner's `name`; the reply holds "value" or "error"."""
        reply = self.request({"op": "call", "name": name, "args": list(args), "kwargs": kwargs})
        if "error" not in reply:
            _copy_back(args, reply.get("after"))
        return reply

    def drive(self, source: str, fn: str, args: tuple) -> dict:
        """Run driver `fn` of `source` on the learner's module in the child."""
        return self.request({"op": "drive", "source": source, "fn": fn, "args": list(args)})


class LocalChannel(Channel):
    """The child's `Session`, in this process: trusted files only."""

    def __init__(self) -> None:
        self.session = child.Session()

    def request(self, message: dict) -> dict:
        data = pack(message, _ref)
        n_json, _ = HEADER.unpack(data[: HEADER.size])
        head, body = data[HEADER.size : HEADER.size + n_json], data[HEADER.size + n_json :]
        reply = self.session.respond(head, body)
        n_json, _ = HEADER.unpack(reply[: HEADER.size])
        return unpack_body(reply[HEADER.size : HEADER.size + n_json],
                           reply[HEADER.size + n_json :], _remote)  # fmt: skip


def _site_paths() -> list[str]:
    """Where NumPy and torch live, for a child that starts without `site`."""
    import numpy

    paths = [str(Path(numpy.__file__).parents[1])]
    try:
        import torch

        paths.append(str(Path(torch.__file__).parents[1]))
    except ImportError:
        pass
    return list(dict.fromkeys(paths))


def _limits(cpu_seconds: int) -> Any:
    """What the child sets on itself between fork and exec."""
    import resource

    def apply() -> None:
        for limit, value in (
            (resource.RLIMIT_CPU, cpu_seconds),
            (resource.RLIMIT_AS, MEMORY_LIMIT),
            (resource.RLIMIT_FSIZE, FILE_LIMIT),
            (resource.RLIMIT_CORE, 0),
        ):
            _, hard = resource.getrlimit(limit)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            with contextlib.suppress(ValueError, OSError):  # e.g. RLIMIT_AS on macOS
                resource.setrlimit(limit, (value, hard))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the size: a write error, no kill

    return apply


class ChildChannel(Channel):
    """A child process running `child.py` on the learner's file, with a time budget.

    `time_limit` seconds are shared by every request after start-up: loading the file and all
    the cases. Use it as a context manager; leaving it kills the child and removes its folder.
    """

    def __init__(self, learner: Path, *, time_limit: float, numpy_only: bool) -> None:
        self.numpy_only = numpy_only
        self.budget = time_limit
        self.ready = False
        self._tmp = tempfile.TemporaryDirectory(prefix="dllab-lab-")
        self.folder = Path(self._tmp.name)
        self.log = self.folder / "output.txt"
        request_r, self._request_w = os.pipe()
        self._reply_r, reply_w = os.pipe()
        env = {
            "PATH": os.defpath,
            "LC_ALL": "C.UTF-8",
            "HOME": str(self.folder),
            "TMPDIR": str(self.folder),  # tempfile in the child writes where it may
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        }
        cpu = int(STARTUP_LIMIT + time_limit) + 1
        with open(self.log, "wb") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", child.__file__, str(request_r), str(reply_w)],
                cwd=self.folder,  # not the learner's folder: nothing there shadows a module
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,  # a file, not a pipe: endless printing cannot block
                stderr=subprocess.STDOUT,
                pass_fds=(request_r, reply_w),
                preexec_fn=_limits(cpu) if os.name == "posix" else None,  # noqa: PLW1509
                start_new_session=True,
            )
        os.close(request_r)
        os.close(reply_w)
        setup = {
            "sys_path": _site_paths(),
            "numpy_only": numpy_only,
            "workspace": os.path.realpath(learner.parent),
            "learner": os.path.realpath(learner),
        }
        deadline = time.monotonic() + STARTUP_LIMIT
        self._send(pack(setup), deadline)
        self._receive(deadline)
        self.ready = True

    def __enter__(self) -> ChildChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Kill the child (and anything it started) and remove its folder."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                self.proc.kill()
        self.proc.wait()
        for fd in (self._request_w, self._reply_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._tmp.cleanup()

    def output_tail(self, limit: int = 300) -> str:
        """The end of what the learner's code printed, on one line."""
        try:
            with open(self.log, "rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - limit))
                data = f.read()
        except OSError:
            return ""
        return " ".join(data.decode("utf-8", "replace").split())

    def _stop(self, reason: str, detail: str = "") -> ChildStopped:
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=0.5)  # it may be exiting on its own
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        return ChildStopped(reason, self.proc.wait(), detail)

    def _send(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._stop("timeout")
            _, writable, _ = select.select([], [self._request_w], [], left)
            if writable:
                try:
                    view = view[os.write(self._request_w, view[: 2**16]) :]
                except BrokenPipeError:
                    raise self._stop("died") from None

    def _read(self, n: int, deadline: float) -> bytes:
        chunks, left = [], n
        while left:
            wait = deadline - time.monotonic()
            if wait <= 0:
                os.killpg(self.proc.pid, signal.SIGKILL)
                raise self._stop("timeout")
            readable, _, _ = select.select([self._reply_r], [], [], wait)
            if readable:
                chunk = os.read(self._reply_r, min(left, 2**20))
                if not chunk:
                    raise self._stop("died")
                chunks.append(chunk)
                left -= len(chunk)
        return b"".join(chunks)

    def _receive(self, deadline: float) -> dict:
        try:
            n_json, n_blobs = check_header(self._read(HEADER.size, deadline))
            reply = unpack_body(
                self._read(n_json, deadline), self._read(n_blobs, deadline), _remote
            )
        except WireError as exc:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise self._stop("garbled", str(exc)) from None
        if not isinstance(reply, dict):
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise self._stop("garbled", "a reply that is not a dict")
        return reply

    def request(self, message: dict) -> dict:
        began = time.monotonic()
        deadline = began + max(self.budget, 0.0)
        try:
            self._send(pack(message, _ref), deadline)
            return self._receive(deadline)
        finally:
            self.budget -= time.monotonic() - began
