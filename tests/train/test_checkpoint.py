"""Checkpoints: a round trip of nested training state, no pickle, clear errors."""

import json

import pytest
import torch
from safetensors.torch import save_file

from dllab.errors import CheckpointError
from dllab.train.checkpoint import load_checkpoint, save_checkpoint
from dllab.train.rng import rng_state, set_rng_state


def _trained_optimizer():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(8, 4)).sum().backward()
    opt.step()
    return model, opt


def test_round_trip_of_model_optimizer_and_rng(tmp_path):
    model, opt = _trained_optimizer()
    state = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "rng": rng_state(),
        "trainer": {"epoch": 1, "batch": 7, "step": 42},
        "meta": {"classes": ["a", "b"]},
    }
    path = tmp_path / "last.safetensors"
    save_checkpoint(path, state)
    back = load_checkpoint(path)
    for k, v in model.state_dict().items():
        assert torch.equal(back["model"][k], v)
    opt2 = torch.optim.AdamW(model.parameters(), lr=0.1)
    opt2.load_state_dict(back["optimizer"])
    assert opt2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]
    for i, s in opt.state_dict()["state"].items():
        for name, t in s.items():
            assert torch.equal(opt2.state_dict()["state"][i][name], t)
    assert back["trainer"] == state["trainer"] and back["meta"] == state["meta"]
    expected = torch.rand(5)
    set_rng_state(back["rng"])
    assert torch.equal(torch.rand(5), expected)


def test_rng_state_restores_numpy_and_python():
    import random

    import numpy as np

    s = rng_state()
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(s)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def test_file_is_plain_safetensors_with_json_header(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, {"w": torch.ones(2), "n": 3})
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])
    assert json.loads(header["__metadata__"]["dllab"])["n"] == 3


def test_corrupt_truncated_and_foreign_files_are_checkpoint_errors(tmp_path):
    good = tmp_path / "good.safetensors"
    save_checkpoint(good, {"w": torch.ones(100)})
    truncated = tmp_path / "t.safetensors"
    truncated.write_bytes(good.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(truncated)
    foreign = tmp_path / "f.safetensors"
    save_file({"x": torch.zeros(1)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a dllab checkpoint"):
        load_checkpoint(foreign)
    pickle_file = tmp_path / "p.safetensors"
    torch.save({"x": 1}, pickle_file)
    with pytest.raises(CheckpointError):
        load_checkpoint(pickle_file)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_a_failed_write_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.safetensors"
    save_checkpoint(path, {"v": 1})
    import dllab.train.checkpoint as ck

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(ck, "save_file", broken)
    with pytest.raises(OSError):
        save_checkpoint(path, {"v": 2})
    assert load_checkpoint(path)["v"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]


def test_run_files_get_the_permissions_the_umask_gives(tmp_path):
    """config.yaml, summary.json and checkpoints were 0600 while PNGs were 0644."""
    import os
    import stat

    import torch

    from dllab.train.checkpoint import atomic_write_text, save_checkpoint
    from dllab.viz.figure import new_figure, save_figure

    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "config.yaml", "a: 1\n")
        save_checkpoint(tmp_path / "last.safetensors", {"w": torch.zeros(2)})
        save_figure(new_figure(2, 2), tmp_path / "curves.png")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"config.yaml": 0o640, "last.safetensors": 0o640, "curves.png": 0o640}
