"""`--format pt2`: torch.export programs with dynamic axes, saved, loaded back with
torch.export.load and equal to eager PyTorch; recurrent models refused in one line."""

import json

import pytest
import torch

from dllab.config import load_recipe, recipe_to_yaml
from dllab.deploy.export_pt2 import TOLERANCE, export_pt2, load_pt2
from dllab.errors import InputError
from dllab.models import create_model
from dllab.models.gpt import KVCache
from dllab.train.checkpoint import save_checkpoint
from tests.deploy.test_export import META
from tests.deploy.test_export_lm import VOCAB, make_lm_run
from tests.deploy.test_export_ner import make_ner_run


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    """An untrained bn-cnn classifier run (as tests/deploy/test_export.py builds it)."""
    torch.manual_seed(0)
    model = create_model("bn-cnn", width=8).eval()
    run = tmp_path_factory.mktemp("pt2") / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(recipe_to_yaml(load_recipe("fashion-mnist-fast")))
    save_checkpoint(
        run / "checkpoints/best.safetensors",
        {"model": model.state_dict(), "meta": META, "metrics": {}, "step": 0},
    )
    return run, model


def test_a_classifier_loads_back_with_a_dynamic_batch_and_equal_logits(cnn_run):
    run, model = cnn_run
    # Both formats share model.json: each keeps the other's section.
    (run / "export").mkdir(exist_ok=True)
    (run / "export/model.json").write_text(json.dumps({**META, "onnx": {"inputs": "as was"}}))
    res = export_pt2(run)
    assert res.path == run / "export/model.pt2" and res.max_abs_diff <= TOLERANCE
    described = json.loads((run / "export/model.json").read_text())
    assert described["classes"][3] == "c3" and described["onnx"] == {"inputs": "as was"}
    assert described["pt2"]["graphs"][0]["inputs"][0]["shape"] == ["batch", 1, 28, 28]
    loaded = load_pt2(res.path)
    images = torch.randn(7, 1, 28, 28)  # a batch size the export never saw
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), model(images), atol=TOLERANCE, rtol=0)
    assert not [p for p in res.path.parent.iterdir() if p.name.endswith(".tmp")]


def test_gpt_prefill_and_decode_programs_reproduce_the_kv_cache(tmp_path):
    run, model = make_lm_run(tmp_path)
    res = export_pt2(run)
    assert sorted(res.graphs) == ["decode", "prefill"] and res.max_abs_diff <= TOLERANCE
    prefill, decode = load_pt2(res.graphs["prefill"]), load_pt2(res.graphs["decode"])
    g = torch.Generator().manual_seed(2)
    prompt = torch.randint(0, len(VOCAB), (5, 9), generator=g)
    more = torch.randint(0, len(VOCAB), (5, 1), generator=g)
    cache = KVCache()
    with torch.no_grad():
        want_prompt, want_more = model(prompt, cache), model(more, cache)
        logits, keys, values = prefill(prompt)
        torch.testing.assert_close(logits, want_prompt, atol=TOLERANCE, rtol=0)
        logits, *_ = decode(more, keys, values)
        torch.testing.assert_close(logits, want_more, atol=TOLERANCE, rtol=0)


def test_an_existing_out_file_is_not_replaced_without_force(cnn_run, tmp_path):
    run, _ = cnn_run
    out = tmp_path / "mine.pt2"
    out.write_bytes(b"mine")
    with pytest.raises(InputError, match="already exists; nothing was written"):
        export_pt2(run, out)
    assert out.read_bytes() == b"mine"


def test_a_recurrent_model_is_refused_in_one_line_naming_onnx(tmp_path):
    run, *_ = make_ner_run(tmp_path)
    with pytest.raises(InputError, match="unrolls recurrent layers.*use --format onnx") as info:
        export_pt2(run)
    assert "\n" not in str(info.value)
    assert not (run / "export").exists()
