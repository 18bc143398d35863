"""`--format tflite`: an image CNN through litert-torch, run under the LiteRT interpreter;
blocked in one line where litert-torch is missing (it is not a dllab dependency)."""

import json
import sys

import numpy as np
import pytest
import torch

from dllab.deploy.export_tflite import BLOCKED, TOLERANCE, export_tflite, tflite_run
from dllab.errors import InputError
from tests.deploy.test_export_pt2 import cnn_run  # noqa: F401  the bn-cnn run fixture


def test_without_litert_torch_the_format_is_blocked_in_one_line(cnn_run, monkeypatch):  # noqa: F811
    run, _ = cnn_run
    monkeypatch.setitem(sys.modules, "litert_torch", None)  # as if not installed
    with pytest.raises(InputError) as info:
        export_tflite(run)
    assert str(info.value) == BLOCKED and "\n" not in BLOCKED
    assert not (run / "export" / "model.tflite").exists()


def test_a_cnn_runs_under_the_litert_interpreter_like_pytorch(cnn_run):  # noqa: F811
    pytest.importorskip("litert_torch", reason="litert-torch is optional (see export_tflite.py)")
    run, model = cnn_run
    res = export_tflite(run)
    assert res.path.suffix == ".tflite" and res.max_abs_diff <= TOLERANCE
    described = json.loads((run / "export/model.json").read_text())["tflite"]
    batch = described["inputs"][0]["shape"][0]
    images = torch.randn(3 if batch == "batch" else 1, 1, 28, 28)
    with torch.no_grad():
        want = model(images).numpy()
    np.testing.assert_allclose(tflite_run(res.path, images.numpy()), want, atol=TOLERANCE)
