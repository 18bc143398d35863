"""Translation export: the encoder and the decoder step as two graphs, greedy search beside.

A translation is a search: encode the source once, then ask the decoder for the next token
again and again. The two graphs are the two halves of `models/decoding.py`'s `Stepper`:

- `model.encoder.onnx`: `src (B, S)` -> the decoder's state: for `transformer-seq2seq` the
  encoder's `memory (B, S, d)` and its `memory_padding (B, S)` (True at padding); for
  `gru-seq2seq` the `annotations`, their projected `keys`, the `padding` and the first
  `hidden (B, H)` state;
- `model.decoder.onnx`: `prefix (B, t)` (BOS first) and the state -> `log_probs (B, V)` of
  the next token, and for the GRU the new state `next_hidden` (its cache).

The documented alternative to a decoder with a self-attention cache: the Transformer decoder
graph re-reads the whole prefix each step, exactly as the PyTorch `TransformerStepper` does
(outputs are at most `2 S + 4` tokens, so the quadratic cost stays small); the encoder's
memory, the expensive half, is computed once. Caching the self-attention keys would need a
second decoder implementation to keep in step with `models/transformer.py`; the GRU's
recurrent state already is a cache of one vector.

`greedy_onnx` is `translate_ids(model, src)` (greedy, `beam_size=0`) on the graphs; the
end-to-end check translates 100 generated sources both ways and requires the same tokens.
Beam search drives the same two graphs (its state is indexed by row) but is not checked here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dllab.data.bpe import BOS, EOS, PAD
from dllab.deploy.export_graphs import Graph, GraphPlan, ort_session
from dllab.errors import InputError
from dllab.tasks.example_inputs import token_batch
from dllab.train.protocol import ExampleInput

__all__ = ["Decoder", "Encoder", "greedy_onnx", "plan"]

TOLERANCE = 1e-4  # encoder states and log-probabilities: max abs difference vs PyTorch
SOURCES = 100  # generated sources translated both ways at export

# Per model: the state's tensors and which of them a decoder step changes.
STATES: dict[str, tuple[list[str], list[str]]] = {
    "Transformer": (["memory", "memory_padding"], []),
    "GRUSeq2Seq": (["annotations", "keys", "padding", "hidden"], ["hidden"]),
}
SOURCE_AXES = {0: "batch", 1: "source"}  # every state tensor but the GRU's hidden


class Encoder(nn.Module):
    """`src (B, S)` -> the stepper's start state (padding read from PAD tokens)."""

    def __init__(self, stepper: Any) -> None:
        super().__init__()
        self.model, self.stepper = stepper.model.eval(), stepper

    def forward(self, src: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.stepper.start(src, None))


class Decoder(nn.Module):
    """`prefix (B, t)` and the state -> next-token log-probabilities `(B, V)` and the state
    tensors the step changes."""

    def __init__(self, stepper: Any, changed: list[int]) -> None:
        super().__init__()
        self.model, self.stepper, self.changed = stepper.model.eval(), stepper, changed

    def forward(self, prefix: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        log_probs, new = self.stepper.step(tuple(state), prefix)
        return (log_probs, *(new[i] for i in self.changed))


def greedy_onnx(encoder: Any, decoder: Any, src: np.ndarray, max_len: int) -> list[list[int]]:
    """`translate_ids(model, src)` on onnxruntime sessions: token lists without BOS/EOS.

    `max_len` is the stepper's (positions the decoder knows); at most `2 S + 4` tokens, as
    `translate_ids` allows."""
    names = [o.name for o in encoder.get_outputs()]
    state = dict(zip(names, encoder.run(None, {"src": src.astype(np.int64)}), strict=True))
    changed = [o.name.removeprefix("next_") for o in decoder.get_outputs()][1:]
    b = src.shape[0]
    prefix = np.full((b, 1), BOS, dtype=np.int64)
    done = np.zeros(b, dtype=bool)
    for _ in range(min(max_len, 2 * src.shape[1] + 4)):
        log_probs, *new = decoder.run(None, {"prefix": prefix, **state})
        state.update(zip(changed, new, strict=True))
        token = np.where(done, PAD, log_probs.argmax(-1))  # (B,)
        prefix = np.concatenate([prefix, token[:, None]], axis=1)
        done |= token == EOS
        if done.all():
            break
    out = []
    for row in prefix[:, 1:].tolist():
        ended = [i for i, t in enumerate(row) if t in (EOS, PAD)]
        out.append(row[: ended[0]] if ended else row)
    return out


def plan(model: nn.Module, meta: dict[str, Any]) -> GraphPlan:
    """Encoder and decoder-step graphs of a translation run, and the greedy check."""
    from dllab.models.decoding import stepper_for
    from dllab.models.translate import translate_ids

    kind = type(model).__name__
    if kind not in STATES:
        raise InputError(
            f"cannot export a translation run to ONNX: model {meta['model']!r} is not "
            "transformer-seq2seq or gru-seq2seq, whose encoder and decoder the greedy and "
            "beam search drive"
        )
    stepper = stepper_for(model)
    names, changed = STATES[kind]
    vocab = int(meta["model_kwargs"]["src_vocab_size"])
    src, _ = token_batch(vocab, [7, 3, 5], PAD, seed=0)
    probe, _ = token_batch(vocab, [2, 12], PAD, seed=1)
    state_axes = [{0: "batch"} if n == "hidden" else SOURCE_AXES for n in names]
    encoder = Graph(
        "encoder",
        Encoder(stepper),
        ExampleInput((src,), (probe,), ["src"], [SOURCE_AXES]),
        names,
        TOLERANCE,
        dict(zip(names, state_axes, strict=True)),
    )

    def step_input(s: torch.Tensor, t: int, seed: int) -> tuple[torch.Tensor, ...]:
        with torch.no_grad():
            state = encoder.module(s)
        g = torch.Generator().manual_seed(seed)
        prefix = torch.randint(
            4, int(meta["model_kwargs"]["tgt_vocab_size"]), (len(s), t), generator=g
        )
        prefix[:, 0] = BOS
        return (prefix, *state)

    outputs = ["log_probs", *(f"next_{n}" for n in changed)]  # ONNX names are unique
    decoder = Graph(
        "decoder",
        Decoder(stepper, [names.index(n) for n in changed]),
        ExampleInput(
            step_input(src, 4, 2),
            step_input(probe, 1, 3),
            ["prefix", *names],
            [{0: "batch", 1: "prefix"}, *state_axes],
        ),
        outputs,
        TOLERANCE,
        {"log_probs": {0: "batch"}, **{f"next_{n}": {0: "batch"} for n in changed}},
    )

    def check(paths: dict[str, Path]) -> dict[str, Any]:
        sessions = ort_session(paths["encoder"]), ort_session(paths["decoder"])
        g = torch.Generator().manual_seed(4)
        lengths = torch.randint(1, 20, (SOURCES,), generator=g).tolist()
        same = 0
        for start in range(0, SOURCES, 25):  # batches of 25 sources of mixed lengths
            batch, _ = token_batch(vocab, lengths[start : start + 25], PAD, seed=5 + start)
            want = translate_ids(model, batch)
            got = greedy_onnx(*sessions, batch.numpy(), stepper.max_len)
            same += sum(g == w for g, w in zip(got, want, strict=True))
        if same != SOURCES:
            raise InputError(
                f"greedy translation on the ONNX graphs differs from PyTorch for "
                f"{SOURCES - same} of {SOURCES} generated sources"
            )
        return {"sources": SOURCES, "same_translations": same, "search": "greedy"}

    extra = {
        "decoding": {
            "bos": BOS,
            "eos": EOS,
            "pad": PAD,
            "state": names,
            "decoder_returns": changed,
            "max_len": stepper.max_len,
            "max_new_tokens": "min(max_len, 2 * source_length + 4)",
            "cache": "the GRU's hidden state; the Transformer decoder re-reads the prefix",
        }
    }
    return GraphPlan([encoder, decoder], extra, check)
