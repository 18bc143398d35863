"""NER export: the BiLSTM's tag scores (emissions) in ONNX, the CRF's Viterbi beside it.

The CRF's answer is a search over tag paths, not a forward pass, so the graph stops at the
emissions `(B, T, num_tags)`: `tokens (B, T)`, `lengths (B,)` (and `bigrams (B, T)` when the
model reads character bigrams) in, with dynamic batch and sequence axes. The CRF's three
small tables (start, end and transition scores) go into `model.json` under `onnx.crf`, and
`viterbi` below decodes the emissions with them in NumPy: the same recurrence as
`torchcrf.CRF.decode`, in the same float32 order of additions, so both pick the same path.

The end-to-end check decodes 100 generated sentences both ways (PyTorch emissions +
`torchcrf`, onnxruntime emissions + `viterbi`) and requires every tag path to be equal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dllab.deploy.export_graphs import Graph, GraphPlan, ort_session
from dllab.errors import InputError
from dllab.tasks.example_inputs import token_batch
from dllab.train.protocol import ExampleInput

__all__ = ["Emissions", "crf_tables", "onnx_tag_paths", "plan", "viterbi"]

TOLERANCE = 1e-4  # emissions: max abs difference onnxruntime vs PyTorch (fp32 LSTM)
END_TO_END_ITEMS = 100  # generated sentences decoded both ways at export


class Emissions(nn.Module):
    """A `bilstm-crf` model up to its tag scores, in eval mode: what `forward` computes
    without its check on the lengths' values (the graph cannot raise on data)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.eval()

    def forward(
        self, tokens: torch.Tensor, lengths: torch.Tensor, bigrams: torch.Tensor | None = None
    ) -> torch.Tensor:
        m = self.model
        x = m.embedding(tokens)  # (B, T, E)
        if m.bigram_embedding is not None:
            x = torch.cat([x, m.bigram_embedding(bigrams)], dim=-1)  # (B, T, E + Eb)
        return m.head(m.lstm(x, lengths))  # (B, T, num_tags)


def crf_tables(model: nn.Module) -> dict[str, list[Any]]:
    """The CRF's start `(K,)`, end `(K,)` and transition `(K, K)` scores, as lists."""
    crf = model.crf
    return {
        "start": crf.start_transitions.detach().tolist(),
        "end": crf.end_transitions.detach().tolist(),
        "transitions": crf.transitions.detach().tolist(),  # [from, to]
    }


def viterbi(emissions: np.ndarray, crf: dict[str, list[Any]]) -> list[int]:
    """The best tag path of one sentence's emissions `(T, K)` under a linear-chain CRF.

    score_0 = start + e_0; score_t[j] = max_i(score_{t-1}[i] + trans[i, j]) + e_t[j];
    the path ends at argmax(score_{T-1} + end) and is followed back (Lafferty et al. 2001;
    the order of additions is torchcrf's, in float32, so ties break the same way).
    """
    e = emissions.astype(np.float32)
    trans = np.asarray(crf["transitions"], dtype=np.float32)
    score = np.asarray(crf["start"], dtype=np.float32) + e[0]  # (K,)
    back = []
    for t in range(1, len(e)):
        total = score[:, None] + trans + e[t][None, :]  # (K_prev, K)
        back.append(total.argmax(axis=0))
        score = total.max(axis=0)
    score = score + np.asarray(crf["end"], dtype=np.float32)
    path = [int(score.argmax())]
    for best in reversed(back):
        path.append(int(best[path[-1]]))
    return path[::-1]


def onnx_tag_paths(
    session: Any,
    crf: dict[str, list[Any]],
    tokens: np.ndarray,
    lengths: np.ndarray,
    bigrams: np.ndarray | None = None,
) -> list[list[int]]:
    """Tag paths of a right-padded batch: onnxruntime emissions, then `viterbi` per row."""
    feed = {"tokens": tokens.astype(np.int64), "lengths": lengths.astype(np.int64)}
    if bigrams is not None and "bigrams" in {i.name for i in session.get_inputs()}:
        feed["bigrams"] = bigrams.astype(np.int64)
    emissions = session.run(["emissions"], feed)[0]  # (B, T, K)
    return [viterbi(emissions[b, : int(n)], crf) for b, n in enumerate(lengths)]


def _batch(meta: dict[str, Any], lengths: list[int], seed: int) -> tuple[torch.Tensor, ...]:
    kw = meta["model_kwargs"]
    pad = int(kw.get("pad_idx", 0))
    tokens, n = token_batch(int(kw["vocab_size"]), lengths, pad, seed)
    if not kw.get("bigram_vocab_size"):
        return tokens, n
    bigrams, _ = token_batch(int(kw["bigram_vocab_size"]), lengths, pad, seed + 1)
    return tokens, n, bigrams


def plan(model: nn.Module, meta: dict[str, Any]) -> GraphPlan:
    """The emissions graph, the CRF tables and the Viterbi check of a `bilstm-crf` run."""
    if not hasattr(model, "crf") or not hasattr(model, "lstm"):
        raise InputError(
            f"cannot export a ner run to ONNX: model {meta['model']!r} has no BiLSTM and CRF; "
            "the Viterbi decoding beside the graph needs a bilstm-crf model"
        )
    emissions = Emissions(model)
    inputs, probe = _batch(meta, [9, 6, 4, 1], 0), _batch(meta, [3, 17, 11], 2)
    names = ["tokens", "lengths", "bigrams"][: len(inputs)]
    axes = [{0: "batch", 1: "sequence"}, {0: "batch"}, {0: "batch", 1: "sequence"}]
    spec = ExampleInput(inputs, probe, names, axes[: len(inputs)], output="emissions")
    graph = Graph(
        "",
        emissions,
        spec,
        ["emissions"],
        TOLERANCE,
        output_axes={"emissions": {0: "batch", 1: "sequence"}},
    )
    crf = crf_tables(model)

    def check(paths: dict[str, Path]) -> dict[str, Any]:
        lengths = torch.randint(
            1, 40, (END_TO_END_ITEMS,), generator=torch.Generator().manual_seed(3)
        )
        batch = _batch(meta, lengths.tolist(), 5)
        with torch.no_grad():
            expected = model.decode(emissions(*batch), batch[1])
        got = onnx_tag_paths(ort_session(paths[""]), crf, *(t.numpy() for t in batch))
        same = sum(g == e for g, e in zip(got, expected, strict=True))
        if same != len(expected):
            raise InputError(
                f"the ONNX emissions decoded with NumPy's Viterbi gave other tags than PyTorch "
                f"on {len(expected) - same} of {len(expected)} generated sentences"
            )
        return {"items": len(expected), "same_tag_paths": same, "decoder": "numpy viterbi"}

    return GraphPlan([graph], {"crf": crf, "decoding": "viterbi over emissions"}, check)
