"""The learner's side of grading: a process that runs the learner's code and nothing else.

`grader.py` starts `python -I -S child.py REQUEST_FD REPLY_FD` in an empty temporary folder,
with a clean environment and limits on CPU time, memory and file size. The child never sees
the references or the grader: it receives requests ("load your file", "call `conv2d` with
these arrays", "run this driver on your `Classifier`") and answers with plain data, which the
parent validates and compares. Whatever the learner's code does here — patch modules, print,
exit, write forged answers on the reply pipe — it can only change the values the parent
receives, never the verdict.

This file imports only the standard library at the top, because it runs before `sys.path`
knows about NumPy (`-S`), and it must not import `dllab`: the child refuses that package. The
parent imports it too, for the wire format (`encode`, `decode`, `pack`) and for `Session`, which
`grade_in_process` uses to run trusted files without a child.

Wire format (never pickle): a message is an 8-byte header (two big-endian uint32: JSON length,
blob length), a JSON tree, then the raw bytes of every array in it. Arrays are tagged in the
tree (`{"$nd": index, "dtype": "<f8", "shape": [2, 3]}`); only numeric and bool dtypes pass.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import struct
import sys
import traceback
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

HEADER = struct.Struct(">II")
MAX_JSON = 16 * 2**20  # bytes of JSON in one message
MAX_BLOBS = 256 * 2**20  # bytes of array data in one message
DTYPES = {"|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8"}
TORCH_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64")
LEARNER_MODULE = "dllab_lab_learner"


class WireError(ValueError):
    """A message that does not follow the wire format (cut short, too big, a bad tag…)."""


# ---------------------------------------------------------------- the wire format


def encode(value: Any, blobs: list[bytes], handle: Any = None) -> Any:
    """`value` as a JSON tree, its arrays appended to `blobs`.

    `handle(obj)` turns an object that is not data (a learner's nn.Module…) into a tag; without
    it such an object is a `TypeError` (a grader bug: graders send data only).
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [encode(v, blobs, handle) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [encode(v, blobs, handle) for v in value]}
    if isinstance(value, dict):
        pairs = [[encode(k, blobs, handle), encode(v, blobs, handle)] for k, v in value.items()]
        return {"$dict": pairs}
    if isinstance(value, Path):
        return {"$path": str(value)}
    kind = type(value).__module__.split(".")[0]
    if kind == "numpy":
        import numpy as np

        if isinstance(value, np.random.Generator):
            return {"$rng": value.bit_generator.state}
        if isinstance(value, np.ndarray | np.generic):
            arr = np.ascontiguousarray(value)
            if arr.dtype.str not in DTYPES:
                if handle is None:
                    raise TypeError(f"cannot send an array of dtype {arr.dtype}")
                return handle(value)
            blobs.append(arr.tobytes())
            tag = "$nd" if isinstance(value, np.ndarray) else "$np"
            return {tag: len(blobs) - 1, "dtype": arr.dtype.str, "shape": list(arr.shape)}
    if kind == "torch":
        import torch

        if isinstance(value, torch.Tensor) and str(value.dtype)[6:] in TORCH_DTYPES:
            arr = value.detach().cpu().contiguous().numpy()
            blobs.append(arr.tobytes())
            return {
                "$torch": len(blobs) - 1,
                "dtype": arr.dtype.str,
                "shape": list(arr.shape),
                "grad": bool(value.requires_grad),
            }
    if handle is None:
        raise TypeError(f"cannot send a {type(value).__name__}")
    return handle(value)


def _array(tree: dict, key: str, blobs: list[bytes]) -> Any:
    import numpy as np

    dtype, shape, index = tree.get("dtype"), tree.get("shape"), tree.get(key)
    if dtype not in DTYPES or not isinstance(shape, list) or not isinstance(index, int):
        raise WireError(f"bad array tag {str(tree)[:80]}")
    if not 0 <= index < len(blobs) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise WireError("array tag out of range")
    dt = np.dtype(dtype)
    if len(blobs[index]) != dt.itemsize * int(np.prod(shape, dtype=np.int64)):
        raise WireError("array size does not match its shape")
    return np.frombuffer(blobs[index], dtype=dt).reshape(shape).copy()


def decode(tree: Any, blobs: list[bytes], resolve: Any = None) -> Any:
    """The value `encode` made; `resolve(tag)` turns a handle or reference tag into an object."""
    if tree is None or isinstance(tree, bool | int | float | str):
        return tree
    if isinstance(tree, list):
        return [decode(v, blobs, resolve) for v in tree]
    if not isinstance(tree, dict) or len(tree) == 0:
        raise WireError(f"unexpected {type(tree).__name__} in a message")
    if "$tuple" in tree:
        return tuple(decode(v, blobs, resolve) for v in tree["$tuple"])
    if "$dict" in tree:
        return {decode(k, blobs, resolve): decode(v, blobs, resolve) for k, v in tree["$dict"]}
    if "$path" in tree:
        return Path(str(tree["$path"]))
    if "$nd" in tree:
        return _array(tree, "$nd", blobs)
    if "$np" in tree:
        return _array(tree, "$np", blobs)[()]
    if "$torch" in tree:
        import torch

        t = torch.from_numpy(_array(tree, "$torch", blobs))
        return t.requires_grad_() if tree.get("grad") and t.is_floating_point() else t
    if "$rng" in tree:
        import numpy as np

        state = tree["$rng"]
        name = state.get("bit_generator") if isinstance(state, dict) else None
        if name not in ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937"):
            raise WireError("unknown random generator")
        rng = np.random.Generator(getattr(np.random, name)())
        rng.bit_generator.state = state
        return rng
    if ("$handle" in tree or "$ref" in tree) and resolve is not None:
        return resolve(tree)
    raise WireError(f"unknown tag {sorted(tree)[:3]}")


def pack(value: Any, handle: Any = None) -> bytes:
    """One message holding `value` (see `encode`)."""
    blobs: list[bytes] = []
    tree = encode(value, blobs, handle)
    head = json.dumps({"tree": tree, "sizes": [len(b) for b in blobs]}).encode("utf-8")
    return HEADER.pack(len(head), sum(len(b) for b in blobs)) + head + b"".join(blobs)


def unpack_body(head: bytes, body: bytes, resolve: Any = None) -> Any:
    """The value of a message whose JSON is `head` and whose array bytes are `body`."""
    try:
        meta = json.loads(head.decode("utf-8"))
        sizes = meta["sizes"]
        tree = meta["tree"]
    except (ValueError, KeyError, TypeError) as exc:
        raise WireError(f"unreadable message: {exc}") from None
    if not isinstance(sizes, list) or sum(sizes) != len(body) or min(sizes, default=0) < 0:
        raise WireError("blob sizes do not add up")
    blobs, at = [], 0
    for size in sizes:
        blobs.append(body[at : at + size])
        at += size
    return decode(tree, blobs, resolve)


def check_header(header: bytes) -> tuple[int, int]:
    """(JSON length, blob length) of a message, refusing sizes past the limits."""
    n_json, n_blobs = HEADER.unpack(header)
    if n_json > MAX_JSON or n_blobs > MAX_BLOBS:
        raise WireError(f"message too large ({n_json} + {n_blobs} bytes)")
    return n_json, n_blobs


# ---------------------------------------------------------------- running the learner's code


class LearnerFailure(Exception):
    """The learner's code failed while a driver ran it: `record` says how, `label` where."""

    def __init__(self, record: dict, label: str) -> None:
        super().__init__(label)
        self.record = record
        self.label = label


def one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


def learner_frame(exc: BaseException, filename: str | None) -> str:
    """' (conv2d.py:12 in conv2d: `out = cols @ w`)' for the deepest frame in the learner's file."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    if not frames:
        return ""
    f = frames[-1]
    return f" ({Path(f.filename).name}:{f.lineno} in {f.name}: `{(f.line or '').strip()}`)"


def failure_record(exc: BaseException, filename: str | None, name: str) -> dict:
    """How a call of the learner's `name` went wrong, as data the parent words."""
    if isinstance(exc, LearnerFailure):
        return exc.record | {"label": exc.label}
    if isinstance(exc, NotImplementedError):
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
        stub = frames[-1].name if frames else name
        return {"kind": "not_implemented", "stub": name if stub in (name, "__init__") else stub}
    if isinstance(exc, SystemExit):
        return {"kind": "exit", "code": repr(exc.code)}
    return {"kind": "raised", "error": one_line(exc), "where": learner_frame(exc, filename)}


class Learner:
    """What a driver gets: the learner's module and calls that turn failures into records."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """The learner's top-level `name(*args, **kwargs)`."""
        fn = getattr(self.module, name, None)
        if fn is None or not callable(fn):
            raise LearnerFailure({"kind": "missing" if fn is None else "not_callable"}, name)
        return self.invoke(name, fn, *args, **kwargs)

    def invoke(self, label: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)`, code of the learner's (e.g. `model(x)`), shown as `label`."""
        try:
            return fn(*args, **kwargs)
        except LearnerFailure:
            raise
        except (Exception, SystemExit) as exc:
            raise LearnerFailure(failure_record(exc, self.module.__file__, label), label) from None


def compile_learner(path: Path) -> CodeType | dict:
    """The learner's file compiled, or a record of why it cannot be."""
    try:
        return compile(path.read_text(encoding="utf-8"), str(path), "exec")
    except SyntaxError as exc:
        return {"kind": "syntax", "lineno": exc.lineno, "msg": exc.msg, "line": exc.text or ""}
    except (OSError, UnicodeDecodeError) as exc:
        return {"kind": "unreadable", "error": one_line(exc)}


class Session:
    """Answers the parent's requests, one at a time, about one learner's file.

    Objects that are not data (a learner's model) stay here and travel as handles, so that a
    later request can pass them back to a driver.
    """

    def __init__(self) -> None:
        self.module: ModuleType | None = None
        self.objects: dict[int, Any] = {}
        self.drivers: dict[str, dict[str, Any]] = {}

    def _handle(self, obj: Any) -> dict:
        key = next((k for k, known in self.objects.items() if known is obj), None)
        if key is None:
            key = len(self.objects) + 1
            self.objects[key] = obj
        mro = [f"{c.__module__}.{c.__qualname__}" for c in type(obj).__mro__]
        return {"$handle": key, "type": type(obj).__name__, "mro": mro}

    def _resolve(self, tag: dict) -> Any:
        key = tag.get("$ref")
        if key not in self.objects:
            raise WireError(f"unknown object reference {key!r}")
        return self.objects[key]

    def answer(self, request: dict) -> dict:
        """The reply to one decoded request (a dict with "op")."""
        op = request.get("op")
        try:
            if op == "load":
                reply = self._load(Path(request["path"]))
            elif op == "seed":
                if "torch" in sys.modules:
                    sys.modules["torch"].manual_seed(int(request["seed"]))
                reply = {}
            elif op == "call":
                reply = self._call(request)
            elif op == "drive":
                reply = self._drive(request)
            else:
                raise WireError(f"unknown request {op!r}")
        except WireError:
            raise
        reply["torch"] = "torch" in sys.modules
        return reply

    def _load(self, path: Path) -> dict:
        code = compile_learner(path)
        if isinstance(code, dict):
            return {"error": code}
        module = ModuleType(LEARNER_MODULE)
        module.__file__ = str(path)
        sys.modules[module.__name__] = module  # dataclasses look their module up here
        try:
            exec(code, module.__dict__)
        except (Exception, SystemExit) as exc:
            return {"error": failure_record(exc, str(path), "<load>")}
        self.module = module
        return {}

    def _call(self, request: dict) -> dict:
        assert self.module is not None, "load first"
        name, args, kwargs = request["name"], request["args"], request["kwargs"]
        try:
            value = Learner(self.module).call(name, *args, **kwargs)
        except LearnerFailure as exc:
            return {"error": failure_record(exc, self.module.__file__, name)}
        after = [a if _is_array(a) else None for a in args]  # in-place changes go back too
        return {"value": value, "after": after}

    def _drive(self, request: dict) -> dict:
        assert self.module is not None, "load first"
        source = request["source"]
        if source not in self.drivers:
            namespace: dict[str, Any] = {"__name__": "dllab_lab_driver"}
            exec(compile(source, "<driver>", "exec"), namespace)
            self.drivers[source] = namespace
        fn = self.drivers[source][request["fn"]]
        try:
            value = fn(Learner(self.module), *request["args"])
        except LearnerFailure as exc:
            return {"error": failure_record(exc, self.module.__file__, exc.label)}
        except (Exception, SystemExit) as exc:
            # the learner's objects can fail inside driver code too (a method that raises)
            return {"error": failure_record(exc, self.module.__file__, request["fn"])}
        return {"value": value}

    def respond(self, head: bytes, body: bytes) -> bytes:
        """Decode a request, answer it, encode the reply."""
        request = unpack_body(head, body, self._resolve)
        return pack(self.answer(request), self._handle)


def _is_array(value: Any) -> bool:
    kind = type(value).__module__.split(".")[0]
    return kind in ("numpy", "torch") and hasattr(value, "shape")


# ---------------------------------------------------------------- the child process


class _Refuse(importlib.abc.MetaPathFinder):
    """Refuses to import the grader's package (and torch in a NumPy exercise), saying why.

    The child does not know the learner's language, so its own refusals (these and the audit
    hook's) say it in English and Chinese on one line; the report carries them as they are.
    """

    def __init__(self, refused: dict[str, str]) -> None:
        self.refused = refused

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        why = self.refused.get(name.partition(".")[0])
        if why is not None:
            raise ImportError(why, name=name)
        return None


SPAWN_EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn"}
SPAWN_EVENTS |= {"os.fork", "os.forkpty", "pty.spawn"}


def _guard(workspace: str, learner_file: str) -> Any:
    """An audit hook: no sockets, no new processes, no writes outside the temporary folder and
    nothing read from the learner's workspace but the learner's own file (the record's key
    lives there). Python-level only: native code (ctypes) is not watched."""
    here = os.getcwd()

    def hook(event: str, args: tuple) -> None:
        if event.startswith("socket.") or event in SPAWN_EVENTS:
            raise PermissionError(
                f"{event} is not allowed while grading (no network, no processes)"
                f" / 评分时不允许 {event}（不能联网，不能启动进程）"
            )
        if event == "open" and isinstance(args[0], str | bytes | os.PathLike):
            path = os.path.realpath(os.fsdecode(args[0]))
            mode, flags = args[1] or "r", args[2] if len(args) > 2 else 0
            writes = any(c in str(mode) for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR)
            if path != learner_file and path.startswith(workspace + os.sep):
                raise PermissionError(
                    f"the grader does not let your code open {path} / 评分器不允许你的代码打开 {path}"
                )
            if writes and not (path.startswith(here + os.sep) or path in (here, os.devnull)):
                raise PermissionError(
                    f"write outside the grading folder refused: {path} / 不允许在评分文件夹之外写入：{path}"
                )

    return hook


def _read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 2**20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def main(argv: list[str]) -> None:
    """Read the set-up message, prepare the interpreter, then answer requests until EOF."""
    request_fd, reply_fd = int(argv[0]), int(argv[1])
    n_json, n_blobs = check_header(_read_exact(request_fd, HEADER.size))
    setup = unpack_body(_read_exact(request_fd, n_json), _read_exact(request_fd, n_blobs))
    sys.path[:] = [p for p in sys.path if "site-packages" not in p] + setup["sys_path"]
    refused = {
        "dllab": "the grader's package is not available to your code: write the exercise "
        "yourself (dllab lab hint NAME helps) / 你的代码不能使用评分器的包：请自己完成练习"
        "（dllab lab hint NAME 可以帮你）"
    }
    if setup["numpy_only"]:
        refused["torch"] = (
            "torch is not allowed in this exercise: it is NumPy by hand (remove `import torch`)"
            " / 这个练习不允许使用 torch：要用 NumPy 手写（删掉 `import torch`）"
        )
        # perceptron and pca_svd are checked against scikit-learn: it must not do the work
        refused["sklearn"] = (
            "scikit-learn is not allowed in this exercise: it is NumPy by hand (remove the "
            "sklearn import) / 这个练习不允许使用 scikit-learn：要用 NumPy 手写（删掉 sklearn 的导入）"
        )
    sys.meta_path.insert(0, _Refuse(refused))
    sys.dont_write_bytecode = True  # nothing to write outside the temporary folder
    import numpy  # noqa: F401  (loaded before the clock starts, like torch below)

    if not setup["numpy_only"]:
        import torch

        torch.set_num_threads(1)
    sys.addaudithook(_guard(setup["workspace"], setup["learner"]))
    session = Session()
    _write_all(reply_fd, pack({"ready": True}))
    while True:
        try:
            n_json, n_blobs = check_header(_read_exact(request_fd, HEADER.size))
            head, body = _read_exact(request_fd, n_json), _read_exact(request_fd, n_blobs)
        except EOFError:
            return
        _write_all(reply_fd, session.respond(head, body))


if __name__ == "__main__":
    main(sys.argv[1:])
