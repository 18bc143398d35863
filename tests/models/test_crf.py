"""The BiLSTM-CRF tagger: the CRF against brute force over every tag path, the vectorised
path score against pytorch-crf's loop, and the padded two-LSTM BiLSTM against a packed
`nn.LSTM(bidirectional=True)`."""

import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torchcrf import CRF

from dllab.errors import ConfigError
from dllab.models import create_model
from dllab.models.crf import BiLSTM, PathScoreCRF, length_mask, reverse_within


def random_crf(num_tags: int, seed: int) -> PathScoreCRF:
    torch.manual_seed(seed)
    crf = PathScoreCRF(num_tags, batch_first=True)
    for p in crf.parameters():
        torch.nn.init.normal_(p)  # pytorch-crf starts near zero; make transitions matter
    return crf


def path_score(crf: CRF, emissions: torch.Tensor, path: tuple[int, ...]) -> torch.Tensor:
    """start[y0] + sum emit[t, y_t] + sum trans[y_{t-1}, y_t] + end[y_last], written out."""
    s = crf.start_transitions[path[0]] + crf.end_transitions[path[-1]]
    for t, tag in enumerate(path):
        s = s + emissions[t, tag]
        if t:
            s = s + crf.transitions[path[t - 1], tag]
    return s


def tiny_batch(seed: int, num_tags: int = 3, batch: int = 4, max_len: int = 4):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, max_len + 1, (batch,), generator=g)
    lengths[0] = max_len
    emissions = torch.randn(batch, max_len, num_tags, generator=g)
    tags = torch.randint(0, num_tags, (batch, max_len), generator=g)
    return emissions, tags, lengths


@pytest.mark.parametrize("seed", range(6))
def test_viterbi_equals_the_best_of_all_tag_paths(seed):
    k = 3
    crf = random_crf(k, seed)
    emissions, _, lengths = tiny_batch(seed, k)
    decoded = crf.decode(emissions, mask=length_mask(lengths, emissions.shape[1]))
    for b, n in enumerate(lengths.tolist()):
        paths = list(itertools.product(range(k), repeat=n))
        scores = torch.stack([path_score(crf, emissions[b], p) for p in paths])
        assert tuple(decoded[b]) == paths[int(scores.argmax())]


@pytest.mark.parametrize("seed", range(6))
def test_log_likelihood_equals_brute_force_log_sum_exp(seed):
    k = 3
    crf = random_crf(k, seed)
    emissions, tags, lengths = tiny_batch(seed, k)
    llh = crf(emissions, tags, mask=length_mask(lengths, emissions.shape[1]), reduction="none")
    for b, n in enumerate(lengths.tolist()):
        paths = list(itertools.product(range(k), repeat=n))
        log_z = torch.logsumexp(torch.stack([path_score(crf, emissions[b], p) for p in paths]), 0)
        gold = path_score(crf, emissions[b], tuple(tags[b, :n].tolist()))
        torch.testing.assert_close(llh[b], gold - log_z, atol=1e-5, rtol=1e-5)


def test_vectorised_path_score_equals_pytorch_crf_loop_with_gradients():
    crf = random_crf(7, 0)
    loop = CRF(7, batch_first=True)
    loop.load_state_dict(crf.state_dict())
    emissions, tags, lengths = tiny_batch(1, 7, batch=5, max_len=9)
    mask = length_mask(lengths, 9)
    ours = crf(emissions, tags, mask=mask, reduction="sum")
    theirs = loop(emissions, tags, mask=mask, reduction="sum")
    torch.testing.assert_close(ours, theirs)
    ours.backward(), theirs.backward()
    for a, b in zip(crf.parameters(), loop.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad)


def test_reverse_within_keeps_padding_in_place_and_is_its_own_inverse():
    x = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    lengths = torch.tensor([3, 2])
    assert reverse_within(x, lengths).tolist() == [[3, 2, 1, 0], [5, 4, 0, 0]]
    y = torch.randn(2, 4, 3)
    torch.testing.assert_close(reverse_within(reverse_within(y, lengths), lengths), y)


def test_padded_bilstm_equals_packed_bidirectional_lstm():
    torch.manual_seed(0)
    ours = BiLSTM(5, 4, num_layers=2, dropout=0.0)
    ref = torch.nn.LSTM(5, 4, num_layers=2, bidirectional=True, batch_first=True)
    with torch.no_grad():
        for layer in range(2):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                fwd = getattr(ours.forward_lstms[layer], f"{name}_l0")
                bwd = getattr(ours.backward_lstms[layer], f"{name}_l0")
                getattr(ref, f"{name}_l{layer}").copy_(fwd)
                getattr(ref, f"{name}_l{layer}_reverse").copy_(bwd)
    x, lengths = torch.randn(3, 7, 5), torch.tensor([7, 2, 5])
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    want, _ = pad_packed_sequence(ref(packed)[0], batch_first=True, total_length=7)
    real = length_mask(lengths, 7)
    torch.testing.assert_close(ours(x, lengths)[real], want[real], atol=1e-6, rtol=1e-5)


def test_a_sentence_tags_the_same_alone_and_in_a_padded_batch():
    model = create_model("bilstm-crf", vocab_size=30, bigram_vocab_size=40, num_tags=5).eval()
    g = torch.Generator().manual_seed(0)
    tokens, bi = (
        torch.randint(1, 30, (3, 8), generator=g),
        torch.randint(1, 40, (3, 8), generator=g),
    )
    lengths = torch.tensor([8, 3, 6])
    for b in range(3):
        tokens[b, lengths[b] :] = bi[b, lengths[b] :] = 0
    batch = model(tokens, lengths, bi)
    n = int(lengths[1])
    alone = model(tokens[1:2, :n], lengths[1:2], bi[1:2, :n])
    torch.testing.assert_close(batch[1:2, :n], alone, atol=1e-6, rtol=1e-5)
    assert model.decode(batch, lengths)[1] == model.decode(alone, lengths[1:2])[0]
    loss = model.loss(batch, torch.zeros(3, 8, dtype=torch.long), lengths)
    assert loss.ndim == 0 and float(loss.detach()) > 0


def test_unknown_option_names_the_valid_ones():
    with pytest.raises(ConfigError, match="no option 'hiden_size'.*hidden_size"):
        create_model("bilstm-crf", hiden_size=3)
