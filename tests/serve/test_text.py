"""`dllab serve` of a text classifier (a sentiment run): texts in, the run's own labels out,
texts of different lengths batched together without changing any answer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import torch

from dllab.config import load_recipe, recipe_to_yaml
from dllab.models import create_model
from dllab.tasks.sentiment import predict_texts
from dllab.train.checkpoint import save_checkpoint

from .conftest import start_server

pytestmark = pytest.mark.xdist_group("serve")

VOCAB = ["<pad>", "<unk>", *"的一是了我不人在他有这个上们来到时大地为子中你说生国好坏"]
TEXTS = ["我是人", "这个好", "他不来了我们说的大地中国时好坏一", "坏"]


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """A sentiment run folder holding a (seeded, untrained) BiLSTM with attention."""
    kwargs = {
        "vocab_size": len(VOCAB),
        "num_classes": 2,
        "pad_idx": 0,
        "embed_dim": 8,
        "hidden_size": 12,
    }
    torch.manual_seed(0)
    model = create_model("bilstm-attention", **kwargs).eval()
    meta = {
        "task": "sentiment",
        "model": "bilstm-attention",
        "model_kwargs": kwargs,
        "classes": ["negative", "positive"],
        "vocab": VOCAB,
        "tokenizer": "char",
        "max_len": 32,
        "recipe": "sentiment-zh",
    }
    run = tmp_path_factory.mktemp("text") / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(recipe_to_yaml(load_recipe("sentiment-zh")))
    save_checkpoint(
        run / "checkpoints/best.safetensors",
        {"model": model.state_dict(), "meta": meta, "metrics": {}, "step": 0},
    )
    return run, model, meta


@pytest.fixture(scope="module")
def server(text_run):
    s = start_server(
        str(text_run[0]), "--max-latency-ms", "300", "--max-batch-size", "8", cwd=text_run[0].parent
    )
    yield s
    s.stop()


def test_texts_of_different_lengths_batched_get_their_own_labels(server, text_run):
    _, model, meta = text_run
    expected = [predict_texts(model, meta, [t], top_k=2)[0] for t in TEXTS]  # one at a time
    before = server.metric('dllab_batch_size_count{variant="A"}')
    with ThreadPoolExecutor(len(TEXTS)) as pool:
        got = list(
            pool.map(
                lambda t: httpx.post(
                    server.url + "/predict", json={"text": t, "top_k": 2}, timeout=30
                ),
                TEXTS,
            )
        )
    assert server.metric('dllab_batch_size_count{variant="A"}') - before < len(
        TEXTS
    )  # padded together
    for r, e in zip(got, expected, strict=True):
        assert r.status_code == 200, r.text
        assert r.json()["labels"] == e.labels
        assert np.allclose(r.json()["scores"], e.scores, atol=1e-5)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"text": "   "}, "'text' is empty"),
        ({"pixels": [[0]]}, "unknown field 'pixels'; valid fields: text, key, top_k"),
        ({"text": 3}, "text: Input should be a valid string"),
    ],
)
def test_bad_text_requests_are_422(server, body, says):
    r = httpx.post(server.url + "/predict", json=body)
    assert r.status_code == 422 and says in r.json()["detail"]


def test_text_runs_refuse_the_onnx_backend(text_run):
    from dllab.errors import InputError
    from dllab.serve.backends import load_backend

    with pytest.raises(InputError, match="--backend torch"):
        load_backend(text_run[0], "onnx")
