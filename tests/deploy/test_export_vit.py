"""A ViT end to end on the digits: it learns, its report gets attention.png, and its ONNX
export computes what PyTorch computes."""

import json

from PIL import Image

from dllab.config import load_recipe
from dllab.deploy.export import export_onnx
from dllab.experiment import run_recipe

VIT = [
    "model.name=vit-tiny",
    "model.kwargs={patch_size: 2, d_model: 32, n_layers: 2, n_heads: 4}",  # 4 x 4 patches
    "train.max_epochs=4",
    "train.threads=1",  # tiny matrices: a second thread only waits (and spins) on a busy CPU
    "optim.lr=0.003",
]


def test_vit_on_digits_learns_plots_attention_and_exports(tmp_path):
    run = run_recipe(
        load_recipe("quickstart", VIT),
        run_dir=tmp_path / "run",
        echo=lambda _: None,
        progress=False,
    )
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test"]["test/accuracy"] > 0.5  # chance is 0.1
    with Image.open(run / "attention.png") as img:
        assert img.size[0] > 600  # input, rollout, mean and four heads side by side
    res = export_onnx(run)
    assert res.ok and res.exporter == "torch.export", (res.max_abs_diff, res.exporter)
    assert res.inputs == [{"name": "input", "dtype": "float32", "shape": ["batch", 1, 8, 8]}]
