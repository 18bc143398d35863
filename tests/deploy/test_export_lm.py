"""GPT export with a KV cache: prefill and decode graphs with dynamic batch, sequence and past
axes, logits within tolerance of PyTorch, and the same greedy generations from 100 prompts."""

import json

import numpy as np
import pytest
import torch

from dllab.config import load_recipe, recipe_to_yaml
from dllab.deploy.export import export_onnx
from dllab.deploy.export_graphs import ort_session
from dllab.deploy.export_lm import TOLERANCE, greedy_onnx
from dllab.models import create_model
from dllab.models.gpt import KVCache
from dllab.train.checkpoint import save_checkpoint

VOCAB = [
    "<pad>",
    "<unk>",
    "\n",
    *"的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要",
]
MAX_LEN = 24  # short, so that 100 prompts of up to 24 tokens + 16 new outgrow it


def make_lm_run(root) -> tuple:
    """A run folder holding an untrained 2-block GPT, as the language_model task saves it."""
    # With dropout, which the export must switch off in the graphs and in the checks.
    kwargs = {"vocab_size": len(VOCAB), "max_len": MAX_LEN, "n_layers": 2, "n_heads": 2,
              "d_model": 16, "dropout": 0.1}  # fmt: skip
    torch.manual_seed(0)
    model = create_model("gpt-nano", **kwargs).eval()
    with torch.no_grad():  # larger weights: sharp attention, greedy picks far from ties
        for p in model.parameters():
            p.mul_(4)
    meta = {"task": "language_model", "model": "gpt-nano", "model_kwargs": kwargs,
            "vocab": VOCAB, "task_options": {"min_freq": 1}, "recipe": "gpt-peoples-daily"}  # fmt: skip
    run = root / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(recipe_to_yaml(load_recipe("fashion-mnist-fast")))
    save_checkpoint(
        run / "checkpoints/best.safetensors",
        {"model": model.state_dict(), "meta": meta, "metrics": {}, "step": 0},
    )
    return run, model


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    """The GPT run and its ONNX export."""
    run, model = make_lm_run(tmp_path_factory.mktemp("lm"))
    return run, model, export_onnx(run)


def test_prefill_and_decode_graphs_have_dynamic_batch_sequence_and_past_axes(lm_run):
    run, _, res = lm_run
    assert res.ok and res.tolerance == TOLERANCE
    assert sorted(res.graphs) == ["decode", "prefill"]
    described = json.loads((run / "export/model.json").read_text())["onnx"]
    shapes = {g["file"]: {i["name"]: i["shape"] for i in g["inputs"]} for g in described["graphs"]}
    cache = [2, "batch", 2, "past", 8]
    assert shapes == {
        "model.prefill.onnx": {"tokens": ["batch", "sequence"]},
        "model.decode.onnx": {
            "tokens": ["batch", "sequence"],
            "past_keys": cache,
            "past_values": cache,
        },
    }
    assert described["end_to_end"] == {"prompts": 100, "new_tokens": 16, "same_generations": 100}


def test_logits_and_cache_match_the_models_own_kv_cache(lm_run):
    _, model, res = lm_run
    prefill, decode = ort_session(res.graphs["prefill"]), ort_session(res.graphs["decode"])
    g = torch.Generator().manual_seed(4)
    prompt = torch.randint(0, len(VOCAB), (7, 13), generator=g)
    more = torch.randint(0, len(VOCAB), (7, 3), generator=g)
    cache = KVCache()
    with torch.no_grad():
        want_prompt = model(prompt, cache).numpy()
        want_more = model(more, cache).numpy()
    logits, keys, values = prefill.run(None, {"tokens": prompt.numpy()})
    np.testing.assert_allclose(logits, want_prompt, atol=TOLERANCE)
    feed = {"tokens": more.numpy(), "past_keys": keys, "past_values": values}
    logits, keys, _ = decode.run(None, feed)
    np.testing.assert_allclose(logits, want_more, atol=TOLERANCE)
    np.testing.assert_allclose(keys, torch.stack(cache.keys).numpy(), atol=TOLERANCE)


def test_greedy_generation_is_the_same_on_onnx_and_pytorch_from_100_prompts(lm_run):
    _, model, res = lm_run
    sessions = ort_session(res.graphs["prefill"]), ort_session(res.graphs["decode"])
    g = torch.Generator().manual_seed(8)
    for rows, length in [(50, 6), (50, 20)]:  # the second outgrows max_len: the window slides
        prompts = torch.randint(0, len(VOCAB), (rows, length), generator=g)
        with torch.no_grad():
            want = model.generate(prompts, 16, temperature=0).numpy()
        got = greedy_onnx(*sessions, prompts.numpy(), 16, MAX_LEN)
        np.testing.assert_array_equal(got, want)
        assert len({tuple(r) for r in got[:, length:]}) > rows // 2  # not one fixed answer
