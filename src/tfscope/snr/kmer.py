"""k-mer tokens for DNA language models (DNABERT convention) and the BertSNR token <-> nucleotide label rule.

Vocabulary: ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (ids 0-4) followed by all ``4**k`` k-mers in lexicographic
A<C<G<T order, as in DNABERT's ``vocab.txt`` files (a backbone directory's own ``vocab.txt`` is read and checked
by :func:`read_vocab`). A sequence of length L gives ``L - k + 1`` overlapping k-mer tokens, framed by [CLS]/[SEP];
a k-mer with an N (an all-zero one-hot column) is [UNK].

Label rule (Luo et al. 2024, BertSNR): a token is positive only when all k nucleotides it spans are positive; a
positive token marks all k nucleotides. For probabilities the nucleotide score is the maximum over the (up to k)
tokens covering it, which reduces to that rule for 0/1 labels.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..sequence import one_hot

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNK, CLS, SEP, MASK = range(5)
N_SPECIAL = len(SPECIAL_TOKENS)


def kmer_vocab(k: int) -> list[str]:
    """DNABERT-compatible vocabulary for k-mers (k = 3..6): special tokens then ``4**k`` k-mers."""
    if not 1 <= k <= 8:
        raise InputError(f"k must be between 1 and 8, got {k}")
    return SPECIAL_TOKENS + ["".join(p) for p in itertools.product("ACGT", repeat=k)]


def read_vocab(path, k: int) -> list[str]:
    """Read a backbone's ``vocab.txt`` and check it is the k-mer vocabulary this module produces.

    Raises
    ------
    InputError
        If the file's tokens differ from :func:`kmer_vocab` (another k or another token order).
    """
    tokens = [t.strip() for t in Path(path).read_text().splitlines() if t.strip()]
    expected = kmer_vocab(k)
    if sorted(tokens) != sorted(expected):
        raise InputError(f"vocabulary is not the DNABERT {k}-mer vocabulary ({len(tokens)} tokens)", str(path))
    return tokens


def tokenize_one_hot(x: torch.Tensor, k: int, vocab: list[str] | None = None) -> torch.Tensor:
    """Token ids ``(N, L - k + 2)`` ([CLS] k-mers [SEP]) from one-hot ``(N, 4, L)``; differentiable-free, on device.

    ``vocab`` (a backbone's token order) remaps ids when it is not the default lexicographic order.
    """
    n, _, L = x.shape
    if L < k:
        raise InputError(f"sequence length {L} is shorter than k = {k}")
    base = x.argmax(1)                                             # (N, L)
    valid = x.sum(1) > 0
    weights = (4 ** torch.arange(k - 1, -1, -1, device=x.device)).view(1, 1, k).float()
    code = F.conv1d(base.float().unsqueeze(1), weights).squeeze(1).long()          # (N, L-k+1)
    ok = F.conv1d(valid.float().unsqueeze(1), torch.ones(1, 1, k, device=x.device)).squeeze(1) >= k - 0.5
    ids = torch.where(ok, code + N_SPECIAL, torch.full_like(code, UNK))
    if vocab is not None and vocab != kmer_vocab(k):
        remap = torch.tensor([vocab.index(t) for t in kmer_vocab(k)], device=x.device)
        ids = remap[ids]
    cls = torch.full((n, 1), CLS, dtype=torch.long, device=x.device)
    sep = torch.full((n, 1), SEP, dtype=torch.long, device=x.device)
    return torch.cat([cls, ids, sep], dim=1)


def tokenize(seqs, k: int) -> np.ndarray:
    """Token ids ``(N, L - k + 2)`` of equal-length DNA strings (see :func:`tokenize_one_hot`)."""

    return tokenize_one_hot(torch.from_numpy(one_hot(seqs)), k).numpy()


def nucleotide_to_token_labels(y_nt, k: int):
    """Token labels ``(N, L - k + 1)``: 1 only where all k covered nucleotide labels are 1 (numpy or torch)."""
    if isinstance(y_nt, np.ndarray):
        return np.lib.stride_tricks.sliding_window_view(y_nt, k, axis=1).min(-1)
    return -F.max_pool1d(-y_nt.float().unsqueeze(1), k, stride=1).squeeze(1)


def token_to_nucleotide_scores(token_scores, k: int):
    """Nucleotide scores ``(N, L)`` = max over the tokens covering each nucleotide (``(N, L - k + 1)`` input).

    For 0/1 token labels this marks all k nucleotides of each positive token. Works on numpy arrays and tensors
    (logits or probabilities: max commutes with the sigmoid).
    """
    is_np = isinstance(token_scores, np.ndarray)
    t = torch.as_tensor(token_scores).float().unsqueeze(1)
    out = F.max_pool1d(F.pad(t, (k - 1, k - 1), value=float("-inf")), k, stride=1).squeeze(1)
    return out.numpy() if is_np else out
