"""Every user mistake: exit status 2, one line saying what and how to fix, nothing lost.

Mistakes refused before any work run the real entry point in this process (`cli`): a fresh
interpreter would spend seconds importing torch for each. Those that need their own
environment or show a traceback keep the `dllab` subprocess."""

import gzip
import shutil
import struct

import pytest
import torch
from safetensors.torch import save_file

from tests.faults._cases import cli


def _one_line_error(out):
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("dllab: error: "), out.stderr
    assert "Traceback" not in out.stderr
    return lines[0]


@pytest.fixture
def no_data_env(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    return {"HOME": str(tmp_path / "home"), "DLLAB_DATA": str(empty)}


def test_missing_dataset_names_files_and_where_to_put_them(tmp_path, dllab, no_data_env):
    out = dllab("run", "quickstart", "data.name=mnist", cwd=tmp_path, env=no_data_env)
    line = _one_line_error(out)
    assert "train-images-idx3-ubyte" in line and "dllab data download mnist" in line
    assert not (tmp_path / "runs").exists()


def _idx_images(path, n, magic=0x00000803):
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">IIII", magic, n, 28, 28)
    path.write_bytes(header + bytes(n * 784))


def test_corrupt_and_mismatching_idx_files(tmp_path, dllab, no_data_env):
    folder = tmp_path / "d" / "mnist"
    _idx_images(folder / "train-images-idx3-ubyte", 60_000)  # right size, wrong content
    (folder / "train-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, 60000) + bytes(60000))
    _idx_images(folder / "t10k-images-idx3-ubyte", 10, magic=0x1234)  # bad magic, short
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08")  # truncated
    out = dllab(
        "run",
        "quickstart",
        "data.name=mnist",
        f"data.data_dir={tmp_path / 'd'}",
        cwd=tmp_path,
        env=no_data_env,
    )
    line = _one_line_error(out)
    assert "mnist" in line and ("sha256" in line or "corrupt" in line or "size" in line)
    out = dllab(
        "data", "verify", "mnist", "--data-dir", str(tmp_path / "d"), cwd=tmp_path, env=no_data_env
    )
    _one_line_error(out)


def test_unknown_recipe_and_bad_overrides(tmp_path):
    assert "did you mean 'quickstart'" in _one_line_error(cli("run", "quikstart", cwd=tmp_path))
    assert "train.max_epochs" in _one_line_error(
        cli("run", "quickstart", "train.max_epocs=2", cwd=tmp_path)
    )
    assert "train.max_epochs" in _one_line_error(
        cli("run", "quickstart", "train.max_epochs=two", cwd=tmp_path)
    )
    assert not (tmp_path / "runs").exists()


def test_debug_shows_the_traceback(tmp_path, dllab):
    out = dllab("--debug", "run", "quikstart", cwd=tmp_path)
    assert out.returncode != 0 and "Traceback" in out.stderr


def test_existing_run_folder_is_never_overwritten(quick_run, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(quick_run, target)
    before = {p: p.stat().st_mtime_ns for p in target.rglob("*")}
    line = _one_line_error(cli("run", "quickstart", "--run-dir", str(target), cwd=tmp_path))
    assert "--resume" in line
    assert {p: p.stat().st_mtime_ns for p in target.rglob("*")} == before


def test_corrupt_and_foreign_checkpoints(quick_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(quick_run, run)
    best = run / "checkpoints" / "best.safetensors"
    best.write_bytes(best.read_bytes()[:100])
    image = tmp_path / "x.png"
    from PIL import Image

    Image.new("L", (8, 8)).save(image)
    assert "corrupt" in _one_line_error(cli("predict", str(run), str(image), cwd=tmp_path))
    save_file({"weight": torch.zeros(3)}, str(best))
    assert "not a dllab checkpoint" in _one_line_error(cli("export", str(run), cwd=tmp_path))
    torch.save({"weight": torch.zeros(3)}, best)  # a pickle: must never be unpickled
    _one_line_error(cli("eval", str(run), cwd=tmp_path))
    assert "not a dllab run folder" in _one_line_error(cli("eval", str(tmp_path), cwd=tmp_path))


def test_unreadable_image_given_to_predict(quick_run, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is not an image")
    line = _one_line_error(cli("predict", str(quick_run), str(bad), cwd=tmp_path))
    assert "notes.png" in line and "PNG or JPEG" in line
    line = _one_line_error(cli("predict", str(quick_run), str(tmp_path / "gone.png"), cwd=tmp_path))
    assert "not found" in line
