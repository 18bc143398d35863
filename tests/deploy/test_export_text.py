"""ONNX export of text classifiers: token ids and lengths in, with dynamic batch and sequence
axes; parity with PyTorch on texts of other lengths. Tasks built around a search (NER,
translation, the language model) export as graphs of their own (tests/deploy/test_export_ner.py
and beside it); here a model without the parts their loop needs is refused in one line."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from dllab.config import load_recipe, recipe_to_yaml
from dllab.deploy.export import export_onnx, token_batch
from dllab.errors import InputError
from dllab.models import create_model
from dllab.train.checkpoint import save_checkpoint

VOCAB = ["<pad>", "<unk>", *"的一是了我不人在他有这个上们来到时大地为子中你说生国"]


def text_run(tmp_path, model_name: str, task: str = "sentiment", **kwargs) -> tuple:
    """A run folder holding an untrained text classifier, as the sentiment task saves it."""
    model_kwargs = {"vocab_size": len(VOCAB), "num_classes": 2, "pad_idx": 0, **kwargs}
    torch.manual_seed(0)
    model = create_model(model_name, **model_kwargs).eval()
    meta = {
        "task": task,
        "model": model_name,
        "model_kwargs": model_kwargs,
        "classes": ["negative", "positive"],
        "vocab": VOCAB,
        "tokenizer": "char",
        "max_len": 32,
        "recipe": "sentiment-zh",
    }
    run = tmp_path / model_name
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(recipe_to_yaml(load_recipe("fashion-mnist-fast")))
    save_checkpoint(
        run / "checkpoints/best.safetensors",
        {"model": model.state_dict(), "meta": meta, "metrics": {}, "step": 0},
    )
    return run, model


def onnx_logits(path, ids: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"tokens": ids.numpy(), "lengths": lengths.numpy()})[0]


def test_bilstm_attention_exports_with_dynamic_batch_and_sequence_axes(tmp_path):
    run, model = text_run(tmp_path, "bilstm-attention", embed_dim=8, hidden_size=12)
    res = export_onnx(run)
    assert res.ok, res.max_abs_diff
    shapes = {i["name"]: i["shape"] for i in res.inputs}
    assert shapes == {"tokens": ["batch", "sequence"], "lengths": ["batch"]}
    # Texts of lengths the export never saw, in a batch of another size.
    ids, lengths = token_batch(len(VOCAB), [27, 3, 11, 1, 30], seed=7)
    with torch.no_grad():
        expected = model(ids, lengths).numpy()
    np.testing.assert_allclose(onnx_logits(res.path, ids, lengths), expected, atol=1e-4)
    meta = json.loads((res.path.parent / "model.json").read_text())
    assert meta["vocab"] == VOCAB and meta["onnx"]["inputs"][0]["dtype"] == "int64"


@pytest.mark.slow  # ~35 s here: three exports before the one that keeps parity
def test_textcnn_exports_and_matches_pytorch_on_padded_texts(tmp_path):
    run, model = text_run(tmp_path, "textcnn", embed_dim=8, num_filters=4)
    res = export_onnx(run)
    assert res.ok, res.max_abs_diff
    shapes = {i["name"]: i["shape"] for i in res.inputs}
    seq = shapes["tokens"][1]
    t = seq if isinstance(seq, int) else 21  # a frozen axis is the model's max_len
    ids, lengths = token_batch(len(VOCAB), [t, 4, 2], seed=3)
    with torch.no_grad():
        expected = model(ids, lengths).numpy()
    np.testing.assert_allclose(onnx_logits(res.path, ids, lengths), expected, atol=1e-4)


@pytest.mark.parametrize("task", ["translation", "language_model", "ner"])
def test_search_tasks_refuse_a_model_without_the_parts_their_loop_needs(tmp_path, task):
    run, _ = text_run(tmp_path, "textcnn", task=task, embed_dim=8, num_filters=4)
    with pytest.raises(InputError, match=f"cannot export a {task} run") as info:
        export_onnx(run)
    assert "\n" not in str(info.value)
    assert not (run / "export" / "model.onnx").exists()


@pytest.mark.parametrize(("task", "why"), [("translation", "beam search"), ("ner", "Viterbi")])
def test_ner_and_translation_refusals_name_the_search_their_model_must_serve(tmp_path, task, why):
    run, _ = text_run(tmp_path, "textcnn", task=task, embed_dim=8, num_filters=4)
    with pytest.raises(InputError, match=f"cannot export a {task} run to ONNX: .*{why}"):
        export_onnx(run)
