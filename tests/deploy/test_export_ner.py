"""NER export: emissions in ONNX with dynamic batch and sequence axes, the CRF's Viterbi in
NumPy beside them, and the same entities as PyTorch on 100 test sentences."""

import json

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pad_sequence

from dllab.config import load_recipe, recipe_to_yaml
from dllab.data.bio import tags_to_entities
from dllab.data.ner_text import encode_text
from dllab.data.text import Vocab
from dllab.deploy.export import export_onnx
from dllab.deploy.export_graphs import ort_session
from dllab.deploy.export_ner import TOLERANCE, onnx_tag_paths, viterbi
from dllab.errors import InputError
from dllab.tasks import create_task
from dllab.train.checkpoint import save_checkpoint
from tests.tasks.test_ner import corpus_lines


def make_ner_run(root) -> tuple:
    """A 2-layer bilstm-crf run (character bigrams on; dropout between the layers, which the
    export must switch off) on a generated corpus of 1200 sentences, its
    CRF made decisive so that decoding finds entities, and its task for the test split."""
    corpus = root / "199801.txt"
    corpus.write_text("\n".join(corpus_lines(1200, seed=1)) + "\n", encoding="utf-8")
    overrides = ["model.kwargs.hidden_size=8", "model.kwargs.embed_dim=8",
                 "model.kwargs.bigram_dim=4", "model.kwargs.num_layers=2", "task.max_len=40",
                 "data.test_fraction=0.2"]  # fmt: skip
    recipe = load_recipe("ner-peoples-daily", overrides)
    task = create_task("ner", recipe=recipe)
    task.setup(path=corpus)
    torch.manual_seed(0)
    model = task.build_model().eval()
    with torch.no_grad():  # untrained scores are all near 0: spread them so paths differ
        model.head.weight.mul_(20)
        model.crf.transitions.normal_(0, 1)
    run = root / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(recipe_to_yaml(recipe))
    save_checkpoint(
        run / "checkpoints/best.safetensors",
        {"model": model.state_dict(), "meta": task.model_metadata(), "metrics": {}, "step": 0},
    )
    return run, model, task


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory):
    """The NER run, its task and its ONNX export."""
    run, model, task = make_ner_run(tmp_path_factory.mktemp("ner"))
    return run, model, task, export_onnx(run)


def test_emissions_match_pytorch_within_the_stated_tolerance(ner_run):
    run, model, task, res = ner_run
    assert res.ok and res.max_abs_diff <= TOLERANCE == res.tolerance
    described = json.loads((run / "export/model.json").read_text())["onnx"]
    graph = described["graphs"][0]
    shapes = {i["name"]: i["shape"] for i in graph["inputs"]}
    assert shapes == {
        "tokens": ["batch", "sequence"],
        "lengths": ["batch"],
        "bigrams": ["batch", "sequence"],
    }
    assert graph["outputs"] == [{"name": "emissions", "axes": {"0": "batch", "1": "sequence"}}]
    assert described["end_to_end"]["same_tag_paths"] == described["end_to_end"]["items"] == 100
    # A batch and lengths the export never saw.
    g = torch.Generator().manual_seed(9)
    tokens = torch.randint(1, len(task.vocab_), (5, 33), generator=g)
    bigrams = torch.randint(1, len(task.bigram_vocab_), (5, 33), generator=g)
    lengths = torch.tensor([33, 2, 20, 1, 7])
    with torch.no_grad():
        expected = model(tokens, lengths, bigrams).numpy()
    feed = {"tokens": tokens.numpy(), "lengths": lengths.numpy(), "bigrams": bigrams.numpy()}
    got = ort_session(res.path).run(None, feed)[0]
    for row, n in enumerate(lengths.tolist()):  # padded positions are junk in both
        np.testing.assert_allclose(got[row, :n], expected[row, :n], atol=TOLERANCE)


def test_numpy_viterbi_is_torchcrf_decode():
    torch.manual_seed(1)
    from dllab.models.crf import PathScoreCRF

    crf = PathScoreCRF(5, batch_first=True)
    torch.nn.init.normal_(crf.transitions)
    emissions = torch.randn(3, 12, 5) * 3
    tables = {
        "start": crf.start_transitions.tolist(),
        "end": crf.end_transitions.tolist(),
        "transitions": crf.transitions.tolist(),
    }
    mask = torch.ones(3, 12, dtype=torch.bool)
    for row, path in enumerate(crf.decode(emissions, mask=mask)):
        assert viterbi(emissions[row].detach().numpy(), tables) == path


def test_the_same_entity_spans_as_pytorch_on_100_test_sentences(ner_run):
    run, model, task, res = ner_run
    meta = json.loads((run / "export/model.json").read_text())
    chars = Vocab(meta["vocab"])
    bigram_vocab = Vocab(meta["bigram_vocab"])
    texts = [text for text, _ in task.texts_["test"]][:100]
    assert len(texts) == 100
    encoded = [encode_text(text, chars, bigram_vocab) for text in texts]
    tokens = pad_sequence([torch.tensor(c) for c, _ in encoded], batch_first=True)
    bigrams = pad_sequence([torch.tensor(b) for _, b in encoded], batch_first=True)
    lengths = torch.tensor([len(c) for c, _ in encoded])
    with torch.no_grad():
        want = model.decode(model(tokens, lengths, bigrams), lengths)
    got = onnx_tag_paths(
        ort_session(res.path), meta["onnx"]["crf"], tokens.numpy(), lengths.numpy(), bigrams.numpy()
    )
    found = 0
    for text, g, w in zip(texts, got, want, strict=True):
        spans = tags_to_entities([meta["tags"][t] for t in g])
        assert spans == tags_to_entities([meta["tags"][t] for t in w]), text
        found += len(spans)
    assert found > 50  # the comparison is about entities, not empty lists


def test_an_existing_out_file_is_not_replaced_without_force(ner_run, tmp_path):
    run, *_ = ner_run
    out = tmp_path / "ner.onnx"
    out.write_bytes(b"mine")
    with pytest.raises(InputError, match="already exists; nothing was written"):
        export_onnx(run, out)
    assert out.read_bytes() == b"mine" and not (tmp_path / "model.json").exists()
