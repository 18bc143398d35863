"""Translation export: encoder and decoder-step graphs with dynamic batch, source and prefix
axes, and the same greedy translations as PyTorch on 100 test sentences."""

import json
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dllab.config import load_recipe, recipe_to_yaml
from dllab.data.bpe import BOS, EOS, PAD, decode_ids, pad_rows, train_bpe
from dllab.deploy.export import export_onnx
from dllab.deploy.export_graphs import ort_session
from dllab.deploy.export_translation import TOLERANCE, greedy_onnx
from dllab.models import create_model
from dllab.models.decoding import stepper_for
from dllab.models.translate import translate_ids
from dllab.train.checkpoint import save_checkpoint

VERBS = [
    ("Open", "打开"),
    ("Save", "保存"),
    ("Delete", "删除"),
    ("Copy", "复制"),
    ("Print", "打印"),
]
NOUNS = [
    ("file", "文件"),
    ("folder", "文件夹"),
    ("image", "图像"),
    ("page", "页面"),
    ("window", "窗口"),
]
SIZES = {"transformer-seq2seq": {"d_model": 16, "n_heads": 2, "n_layers": 1, "d_ff": 32},
         "gru-seq2seq": {"embed_dim": 8, "hidden_size": 8}}  # fmt: skip
STEPS = {"transformer-seq2seq": 60, "gru-seq2seq": 40}  # the GRU steps token by token: slower


def sentences(n: int, seed: int) -> list[tuple[str, str]]:
    """English UI messages and their Chinese, as the gettext corpus holds them."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        (v, zv), (a, za), (b, zb) = rng.choice(VERBS), rng.choice(NOUNS), rng.choice(NOUNS)
        out.append((f"{v} the {a} in this {b}", f"在此{zb}中{zv}{za}"))
    return out


def make_translation_run(root, name: str) -> tuple:
    """A translation model trained for a few steps on generated pairs with a BPE learnt on
    them, saved as the translation task saves it."""
    pairs = sentences(200, seed=0)
    tok = train_bpe([s for s, _ in pairs] + [t for _, t in pairs], 300)
    vocab = tok.get_vocab_size()
    # With dropout, which the export must switch off in the graphs and in the checks.
    kwargs = {**SIZES[name], "src_vocab_size": vocab, "tgt_vocab_size": vocab, "pad_idx": PAD,
              "dropout": 0.1, "max_len": 26}  # fmt: skip
    torch.manual_seed(0)
    model = create_model(name, **kwargs)
    src = pad_rows([e.ids for e in tok.encode_batch([s for s, _ in pairs])])
    tgt = pad_rows([[BOS, *e.ids, EOS] for e in tok.encode_batch([t for _, t in pairs])])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for step in range(STEPS[name]):  # enough to copy the sentence pattern: outputs differ
        rows = torch.arange(step * 32, step * 32 + 32) % len(pairs)
        logits = model(src[rows], tgt[rows, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), tgt[rows, 1:].flatten(), ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    meta = {"task": "translation", "model": name, "model_kwargs": kwargs,
            "tokenizer": tok.to_str(), "recipe": "translate-en-zh",
            "task_options": {"bpe_vocab_size": 300, "max_tokens": 24, "beam_size": 2,
                             "length_penalty": 0.6}}  # fmt: skip
    run = root / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(recipe_to_yaml(load_recipe("fashion-mnist-fast")))
    save_checkpoint(
        run / "checkpoints/best.safetensors",
        {"model": model.state_dict(), "meta": meta, "metrics": {}, "step": 0},
    )
    return run, model, tok


@pytest.fixture(scope="module", params=list(SIZES))
def translation_run(request, tmp_path_factory):
    """Each translation model's run and its ONNX export."""
    run, model, tok = make_translation_run(tmp_path_factory.mktemp("translation"), request.param)
    return run, model, tok, export_onnx(run)


def test_encoder_and_decoder_graphs_have_dynamic_axes_and_match(translation_run):
    run, model, _, res = translation_run
    assert res.ok and res.tolerance == TOLERANCE
    described = json.loads((run / "export/model.json").read_text())["onnx"]
    inputs = {g["file"]: {i["name"]: i["shape"] for i in g["inputs"]} for g in described["graphs"]}
    assert inputs["model.encoder.onnx"] == {"src": ["batch", "source"]}
    decoder = inputs["model.decoder.onnx"]
    assert decoder["prefix"] == ["batch", "prefix"]
    assert all(shape[0] == "batch" for shape in decoder.values())
    assert described["end_to_end"]["same_translations"] == 100
    # One step on a batch and lengths the export never saw.
    encoder, step = ort_session(res.graphs["encoder"]), ort_session(res.graphs["decoder"])
    src = pad_rows([[5, 9, 30, 7, 11, 40, 8, 12, 5, 6, 7], [4, 5], [9] * 15])
    prefix = torch.tensor([[BOS, 20, 21, 22]] * 3)
    stepper = stepper_for(model)
    with torch.no_grad():
        want, _ = stepper.step(stepper.start(src, None), prefix)
    names = [o.name for o in encoder.get_outputs()]
    state = dict(zip(names, encoder.run(None, {"src": src.numpy()}), strict=True))
    got = step.run(["log_probs"], {"prefix": prefix.numpy(), **state})[0]
    np.testing.assert_allclose(got, want.numpy(), atol=TOLERANCE)


def test_the_same_greedy_translations_on_100_test_sentences(translation_run):
    _, model, tok, res = translation_run
    sessions = ort_session(res.graphs["encoder"]), ort_session(res.graphs["decoder"])
    test = [s for s, _ in sentences(100, seed=1)]
    src = pad_rows([e.ids for e in tok.encode_batch(test)])
    want = [decode_ids(tok, ids) for ids in translate_ids(model, src)]
    got = [
        decode_ids(tok, ids)
        for ids in greedy_onnx(*sessions, src.numpy(), stepper_for(model).max_len)
    ]
    assert got == want
    assert len(set(got)) > 10  # the sources get translations of their own
