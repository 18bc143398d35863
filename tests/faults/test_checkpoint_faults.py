"""Issue 13, item 5: bad checkpoints. A pickle payload disguised as a checkpoint is never run
(it would create a marker file), a damaged or truncated safetensors file and a checkpoint of
another model are refused: exit status 2, one stderr line, and no file of the run changed.
Each command that reads a checkpoint is tried: `eval`, `predict` and `export` read `best`,
`run --resume` reads `last`.
"""

from __future__ import annotations

import io
import json
import pathlib
import pickle
import shutil
import struct

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from ._cases import cases, cli
from .conftest import hashes, one_line

MARKER = "PWNED"


class _Payload:
    """Unpickling this creates the marker file: proof that the checkpoint's code ran."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def _raw_pickle(path: pathlib.Path, marker: pathlib.Path) -> None:
    path.write_bytes(pickle.dumps({"model": _Payload(marker)}, protocol=2))


def _torch_save(path: pathlib.Path, marker: pathlib.Path) -> None:
    buffer = io.BytesIO()
    torch.save({"model": _Payload(marker)}, buffer)  # PyTorch's zip format, a pickle inside
    path.write_bytes(buffer.getvalue())


def _unsafe_load(path: pathlib.Path) -> None:
    """What must never happen to a checkpoint: unpickling it (here, to prove the payload works)."""
    if path.read_bytes()[:2] == b"PK":  # the zip of torch.save
        torch.load(io.BytesIO(path.read_bytes()), weights_only=False)
    else:
        pickle.loads(path.read_bytes())


def _read(path: pathlib.Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    with safe_open(str(path), framework="pt") as f:
        return f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118


def _truncated(path: pathlib.Path, marker: pathlib.Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _empty(path: pathlib.Path, marker: pathlib.Path) -> None:
    path.write_bytes(b"")


def _header_size_lies(path: pathlib.Path, marker: pathlib.Path) -> None:
    path.write_bytes(struct.pack("<Q", 1 << 62) + b'{"a": 1}' + bytes(64))


def _not_dllab(path: pathlib.Path, marker: pathlib.Path) -> None:
    save_file({"weight": torch.zeros(3)}, str(path))  # a safetensors file of something else


def _damaged_json(path: pathlib.Path, marker: pathlib.Path) -> None:
    header, tensors = _read(path)
    save_file(tensors, str(path), metadata={**header, "dllab": '{"model": {"__tensor__"'})


def _dangling_tensor(path: pathlib.Path, marker: pathlib.Path) -> None:
    header, tensors = _read(path)
    meta = json.loads(header["dllab"])
    meta["model"] = {"weight": {"__tensor__": "s.not.in.the.file"}}
    save_file(tensors, str(path), metadata={**header, "dllab": json.dumps(meta)})


def _nan_header(path: pathlib.Path, marker: pathlib.Path) -> None:
    header, tensors = _read(path)
    save_file(tensors, str(path), metadata={**header, "dllab": "[1, 2, 3]"})


@pytest.fixture
def run(finished_run, tmp_path) -> pathlib.Path:
    """A copy of a finished quickstart run, and an 8x8 digit to predict, in tmp_path."""
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "digit.png")
    return copy


COMMANDS = {
    "eval": lambda run: ["eval", str(run)],
    "predict": lambda run: ["predict", str(run), "digit.png"],
    "export": lambda run: ["export", str(run), "--out", "model.onnx"],
    "resume": lambda run: ["run", "quickstart", "--resume", str(run)],
}


def refused(run: pathlib.Path, command: str) -> str:
    """Run `command` on `run` (in its parent folder); exit 2, one line, nothing changed."""
    if command == "resume":
        (run / "summary.json").unlink()  # an unfinished run, so that it can be resumed
    before = hashes(run.parent)
    line = one_line(cli(*COMMANDS[command](run), cwd=run.parent))
    assert line.startswith("dllab: error: "), line
    assert hashes(run.parent) == before
    return line


def _which(command: str) -> str:
    return "last" if command == "resume" else "best"


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("write", [_raw_pickle, _torch_save], ids=["pickle", "torch-save"])
def test_a_pickle_disguised_as_a_checkpoint_is_never_run(run, command, write):
    marker = run.parent / MARKER
    path = run / "checkpoints" / f"{_which(command)}.safetensors"
    write(path, marker)
    _unsafe_load(path)  # the payload is live: loaded the unsafe way, it makes the marker
    assert marker.exists()
    marker.unlink()
    line = refused(run, command)
    assert f"{_which(command)}.safetensors" in line, line
    assert not marker.exists()


@pytest.mark.parametrize("command", ["eval", "resume"])
@pytest.mark.parametrize(
    "damage",
    cases(
        ("truncated", _truncated),
        ("empty", _empty),
        ("header-size-lies", _header_size_lies),
        ("not-a-dllab-checkpoint", _not_dllab),
        ("damaged-json", _damaged_json),
        ("dangling-tensor-reference", _dangling_tensor),
        ("header-not-a-mapping", _nan_header),
    ),
)
def test_a_damaged_checkpoint_is_one_line(run, command, damage):
    path = run / "checkpoints" / f"{_which(command)}.safetensors"
    damage(path, run.parent / MARKER)
    line = refused(run, command)
    assert path.name in line, line


def _sliced(path: pathlib.Path) -> str:
    """Cut one weight of the checkpoint to a different shape; return the tensor's name."""
    header, tensors = _read(path)
    name = next(k for k in sorted(tensors) if k.startswith("s.model.") and k.endswith(".weight"))
    tensors[name] = tensors[name][..., :1].contiguous()
    save_file(tensors, str(path), metadata=header)
    return name.removeprefix("s.model.")


@pytest.mark.parametrize("command", cases(("eval", "eval"), ("predict", "predict")))
def test_a_checkpoint_with_other_shapes_names_the_tensor(run, command):
    tensor = _sliced(run / "checkpoints" / "best.safetensors")
    line = refused(run, command)
    assert tensor in line and "checkpoint" in line, line


def test_export_of_a_checkpoint_with_other_shapes_names_the_tensor(run):
    pytest.importorskip("onnxruntime")
    tensor = _sliced(run / "checkpoints" / "best.safetensors")
    line = refused(run, "export")
    assert tensor in line and "checkpoint" in line, line


def _another_model(path: pathlib.Path) -> None:
    """The best checkpoint of a model for 3-channel 16x16 images, with its own metadata."""
    from dllab.models import create_model

    header, tensors = _read(path)
    state = json.loads(header["dllab"])
    kwargs = {"num_classes": 10, "in_channels": 3, "image_size": 16}
    model = create_model("quickstart-cnn", **kwargs)
    tensors = {k: v for k, v in tensors.items() if not k.startswith("s.model.")}
    state["model"] = {}
    for k, v in model.state_dict().items():
        tensors[f"s.model.{k}"] = v.contiguous()
        state["model"][k] = {"__tensor__": f"s.model.{k}"}
    state["meta"].update(model_kwargs=kwargs, in_channels=3, image_size=16)
    save_file(tensors, str(path), metadata={**header, "dllab": json.dumps(state)})


@pytest.mark.parametrize(
    "command",
    cases(
        ("eval", "eval"),
        ("resume", "resume"),
    ),
)
def test_a_checkpoint_of_another_model_is_one_line(run, command):
    # `predict` is not a case: it prepares inputs from the checkpoint's own metadata.
    _another_model(run / "checkpoints" / f"{_which(command)}.safetensors")
    line = refused(run, command)
    assert "16" in line or "3" in line, line  # says what differs
