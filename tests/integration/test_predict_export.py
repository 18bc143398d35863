"""predict reads image files; export writes ONNX that onnxruntime runs like PyTorch."""

import json

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def test_predict_top_k_on_real_digit_images(quick_run, tmp_path, dllab):
    digits = load_digits()
    paths = []
    for i in (0, 1, 2):  # digits 0, 1, 2 as 8x8 PNGs, like a user would save them
        img = (digits.images[i] * 255 / 16).astype(np.uint8)
        paths.append(tmp_path / f"digit{i}.png")
        Image.fromarray(img).save(paths[-1])
    jpeg = tmp_path / "digit3.jpg"
    Image.fromarray((digits.images[3] * 255 / 16).astype(np.uint8)).resize((32, 32)).save(jpeg)
    out = dllab(
        "predict", str(quick_run), *map(str, paths), str(jpeg), "--top-k", "2", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 4
    for i, line in enumerate(lines[:3]):
        first = line.split(": ", 1)[1].split(",")[0].split()
        assert first[0] == str(i) and 0 < float(first[1]) <= 1
    assert len(lines[0].split(",")) == 2


def test_export_onnx_matches_pytorch(quick_run, tmp_path, dllab):
    out = dllab("export", str(quick_run), "--format", "onnx", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "max abs diff" in out.stdout and ": ok" in out.stdout
    onnx_path = quick_run / "export" / "model.onnx"
    import onnx
    import onnxruntime as ort

    meta = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert json.loads(meta["dllab"])["classes"] == [str(i) for i in range(10)]
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    batch = np.random.default_rng(0).standard_normal((7, 1, 8, 8)).astype(np.float32)
    assert session.run(None, {"input": batch})[0].shape == (7, 10)  # dynamic batch


def test_export_rejects_unknown_format(quick_run, tmp_path, dllab):
    out = dllab("export", str(quick_run), "--format", "tflite-x", cwd=tmp_path)
    assert out.returncode == 2
