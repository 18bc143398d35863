"""bf16 is kept where the hardware has it and replaced by fp32 where it is only emulated."""

import json
from unittest import mock

import pytest
import torch

from dllab.config import load_recipe
from dllab.experiment import run_recipe
from dllab.train import precision
from dllab.train.precision import native_bf16, resolve_precision


def test_fp32_and_fp16_pass_through():
    assert resolve_precision("fp32", "cpu") == ("fp32", None)
    assert resolve_precision("fp16", "cuda") == ("fp16", None)


@pytest.mark.parametrize(
    ("machine", "avx512_bf16", "amx", "native"),
    [
        ("x86_64", False, False, False),  # AVX2-only: emulated
        ("x86_64", True, False, True),
        ("x86_64", False, True, True),
        ("aarch64", False, False, True),  # Arm: oneDNN/ACL bf16
    ],
)
def test_native_bf16_reads_the_cpu(monkeypatch, machine, avx512_bf16, amx, native):
    monkeypatch.setattr(precision.platform, "machine", lambda: machine)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert native_bf16("cpu") is native
    assert native_bf16("cuda")  # a GPU decides for itself
    got, note = resolve_precision("bf16", "cpu")
    assert got == ("bf16" if native else "fp32")
    assert (note is None) == native and (native or "fp32" in note)


@pytest.mark.parametrize("native", [False, True])
def test_run_records_and_trains_in_the_resolved_precision(tmp_path, native):
    recipe = load_recipe(
        "quickstart", ["train.precision=bf16", "train.max_epochs=1", "train.threads=1"]
    )
    lines: list[str] = []
    seen: list[str] = []
    real_autocast = torch.autocast

    def spy(device_type, dtype=None, **kw):
        seen.append(str(dtype))
        return real_autocast(device_type, dtype=dtype, **kw)

    with (
        mock.patch.object(precision, "native_bf16", lambda device="cpu": native),
        mock.patch("dllab.train.trainer.torch.autocast", spy),
    ):
        run = run_recipe(recipe, run_dir=tmp_path / "run", echo=lines.append, progress=False)
    env = json.loads((run / "env.json").read_text())
    assert env["precision"] == ("bf16" if native else "fp32")
    assert bool(seen) is native  # autocast entered only when bf16 is kept
    assert any("training in fp32" in line for line in lines) is not native
    assert "precision: bf16" in (run / "config.yaml").read_text()  # the recipe as written
