"""Checkpoints without pickle: every tensor in safetensors, everything else as JSON.

A checkpoint is ONE `.safetensors` file; the non-tensor state (epoch, step, optimiser
hyper-parameters, scheduler and callback state, metadata for rebuilding the model) is JSON
stored in the file's header under the key `dllab`. One file means one atomic `os.replace`, so a
kill at any moment leaves either the old checkpoint or the new one, never a torn pair.
Nested state (e.g. `optimizer.state_dict()`) is flattened: each tensor goes to the tensor
table under a dotted key and is replaced in the JSON by `{"__tensor__": key}`.
"""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from dllab.errors import CheckpointError

FORMAT = "dllab-checkpoint-v1"


def _split(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": prefix}
    if isinstance(obj, np.ndarray):
        tensors[prefix] = torch.from_numpy(np.ascontiguousarray(obj)).clone()
        return {"__tensor__": prefix, "numpy": True}
    if isinstance(obj, dict):
        keys = list(obj)
        out = {str(k): _split(v, f"{prefix}.{k}", tensors) for k, v in obj.items()}
        if any(not isinstance(k, str) for k in keys):  # optimizer state uses int keys
            return {"__intkeys__": out}
        return out
    if isinstance(obj, tuple):
        return {"__tuple__": [_split(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_split(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} at {prefix!r} in a checkpoint")


def _join(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            t = tensors[obj["__tensor__"]]
            return t.numpy() if obj.get("numpy") else t
        if "__tuple__" in obj:
            return tuple(_join(v, tensors) for v in obj["__tuple__"])
        if "__intkeys__" in obj:
            return {int(k): _join(v, tensors) for k, v in obj["__intkeys__"].items()}
        return {k: _join(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join(v, tensors) for v in obj]
    return obj


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it (/proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it, then put it back
    os.umask(mask)
    return mask


def usual_permissions(tmp: str) -> None:
    """`mkstemp` files are private (0600); a run's files get what the umask gives, like PNGs."""
    os.chmod(tmp, 0o666 & ~_umask())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        usual_permissions(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Save nested `state` (tensors, numbers, strings, lists, dicts) atomically to `path`."""
    tensors: dict[str, torch.Tensor] = {}
    meta = _split(state, "s", tensors)
    header = {"format": FORMAT, "dllab": json.dumps(meta)}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=header)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        usual_permissions(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint written by `save_checkpoint`; anything else is a CheckpointError."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found; was the run trained to a checkpoint?")
    if not os.access(path, os.R_OK):  # safetensors would call it missing
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path} is not a readable safetensors checkpoint ({exc}); it is corrupt or "
            "truncated: use another checkpoint or retrain"
        ) from exc
    if header.get("format") != FORMAT or "dllab" not in header:
        raise CheckpointError(
            f"{path} is a safetensors file but not a dllab checkpoint; "
            "pass a run folder made by `dllab run`"
        )
    try:
        record = json.loads(header["dllab"])
        if not isinstance(record, dict):
            raise TypeError(f"the header is a {type(record).__name__}, not a mapping")
        return _join(record, tensors)
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} has a damaged dllab header; retrain or resume") from exc


_TENSOR_MISMATCH = re.compile(
    r"size mismatch for (?P<size>\S+?): copying a param with shape torch\.Size\((?P<saved>.*?)\)"
    r" from checkpoint, the shape in current model is torch\.Size\((?P<model>.*?)\)"
    r'|Missing key\(s\) in state_dict: "(?P<missing>[^"]+)"'
    r'|Unexpected key\(s\) in state_dict: "(?P<unexpected>[^"]+)"'
)


def state_dict_mismatch(exc: RuntimeError) -> str | None:
    """The first tensor that keeps a checkpoint from loading into a model, in words (None
    when `exc` is not `load_state_dict`'s error). Torch lists every mismatch over many lines;
    a user needs the first one named."""
    if "Error(s) in loading state_dict" not in str(exc):
        return None
    m = _TENSOR_MISMATCH.search(str(exc))
    if m and m["size"]:
        return f"tensor {m['size']} has shape {m['saved']} in the checkpoint, {m['model']} in the model"
    if m:
        where = "missing from the checkpoint" if m["missing"] else "not in the model"
        return f"tensor {m['missing'] or m['unexpected']} is {where}"
    return str(exc).splitlines()[0]
