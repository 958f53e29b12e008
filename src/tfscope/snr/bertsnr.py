"""BertSNR (Luo et al., Bioinformatics 2024): a k-mer DNA BERT with sequence- and token-level heads.

The encoder is a ``transformers`` ``BertModel`` over overlapping k-mer tokens (DNABERT vocabulary, see
:mod:`tfscope.snr.kmer`); tokenisation happens inside the module from the one-hot input, so BertSNR keeps the
nucleotide-model contract (one-hot ``(N, 4, L)`` in, nucleotide logits ``(N, L)`` out) and works with the shared
training loop, scanning and attribution code. Heads: a sequence-level logit from the [CLS] state and a token-level
logit per k-mer; nucleotide logits are the max over the tokens covering each nucleotide (the paper's label rule).
Multi-task loss: ``lambda * BCE_seq + (1 - lambda) * BCE_token`` (:func:`bertsnr_loss`).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .kmer import kmer_vocab, nucleotide_to_token_labels, read_vocab, token_to_nucleotide_scores, tokenize_one_hot

# BertConfig fields recorded in checkpoints (enough to rebuild the encoder exactly)
BERT_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
               "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
               "type_vocab_size", "layer_norm_eps", "pad_token_id")
# the size of the shipped pretrained backbone (``resources/backbone``), chosen for 2-core CPU machines: fine-tuning
# runs at about 200 windows/s per thread (a 128-wide, 4-layer model: about 70)
SMALL_BERT = {"hidden_size": 64, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 256,
              "max_position_embeddings": 128, "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
              "type_vocab_size": 1, "pad_token_id": 0}


class BertSNR(nn.Module):
    """k-mer BERT encoder + sequence head ([CLS]) + token head.

    Parameters
    ----------
    k : int
        k-mer size (3..6).
    bert : dict, optional
        ``BertConfig`` fields (see :data:`BERT_FIELDS`); defaults to :data:`SMALL_BERT`; ``vocab_size`` is set
        from the vocabulary.
    multitask : bool
        True: sequence and token heads (BertSNR); False: token head only (the paper's single-task variant).
    vocab : list of str, optional
        Token order of a pretrained backbone (DNABERT ``vocab.txt``); default lexicographic k-mers.
    seq_pool : {"cls", "mean"}
        Input of the sequence head: the ``[CLS]`` state (the paper's) or the mean of the k-mer token states.

    Raises
    ------
    InputError
        Unknown ``seq_pool``.

    Shapes
    ------
    input ``(N, 4, L)`` one-hot with ``L - k + 3 <= max_position_embeddings``; ``forward`` returns nucleotide
    logits ``(N, L)``; :meth:`forward_all` returns the sequence logit ``(N,)``, token logits ``(N, L - k + 1)`` and
    optionally attentions (one ``(N, heads, T, T)`` tensor per layer, T = L - k + 3).
    """

    def __init__(self, k: int = 3, bert: dict | None = None, multitask: bool = True, vocab: list[str] | None = None,
                 seq_pool: str = "cls"):
        super().__init__()
        if seq_pool not in ("cls", "mean"):
            raise InputError(f"seq_pool must be 'cls' or 'mean', got {seq_pool!r}")
        self.seq_pool = seq_pool
        from transformers import BertConfig, BertModel

        self.k = k
        self.vocab = list(vocab) if vocab is not None else kmer_vocab(k)
        cfg = {**SMALL_BERT, **(bert or {}), "vocab_size": len(self.vocab)}
        self.config = BertConfig(**cfg, attn_implementation="eager")
        self.bert = BertModel(self.config, add_pooling_layer=False)
        self.multitask = multitask
        self.dropout = nn.Dropout(self.config.hidden_dropout_prob)
        self.token_head = nn.Linear(self.config.hidden_size, 1)
        self.seq_head = nn.Linear(self.config.hidden_size, 1) if multitask else None

    def hparams(self) -> dict:
        """Constructor arguments that rebuild this module (stored in checkpoints)."""
        d = self.config.to_dict()
        hp = {"k": self.k, "bert": {f: d[f] for f in BERT_FIELDS if f in d}, "multitask": self.multitask,
              "vocab": self.vocab if self.vocab != kmer_vocab(self.k) else None}
        if self.seq_pool != "cls":  # older checkpoints (and the paper's model) read [CLS]
            hp["seq_pool"] = self.seq_pool
        return hp

    @classmethod
    def from_backbone(cls, path, *, k: int | None = None, multitask: bool = True, seq_pool: str = "cls") -> "BertSNR":
        """Build BertSNR on a DNABERT-style pretrained encoder saved in a local directory.

        The directory holds a ``transformers`` BERT (``config.json`` + ``model.safetensors``/``pytorch_model.bin``)
        and a ``vocab.txt`` of k-mers (``k`` is inferred from it when not given). Heads start random. Weights stored
        in fp16 or bf16 are loaded as fp32.

        Raises
        ------
        InputError
            Missing directory/files, or a vocabulary that is not a k-mer vocabulary.
        """
        from transformers import BertModel

        path = Path(path)
        if not (path / "config.json").exists():
            raise InputError("not a transformers model directory (no config.json)", str(path))
        vocab_file = path / "vocab.txt"
        if not vocab_file.exists():
            raise InputError("backbone directory has no vocab.txt (k-mer vocabulary)", str(path))
        toks = [t.strip() for t in vocab_file.read_text().splitlines() if t.strip()]
        kk = k or max(len(t) for t in toks if not t.startswith("["))
        vocab = read_vocab(vocab_file, kk)
        from transformers.utils import logging as hf_logging

        level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()  # the MLM head of a pretrained checkpoint is dropped on purpose: no report
        hf_logging.disable_progress_bar()
        try:
            # dtype float32: a backbone stored in fp16 (the shipped one) is restored to fp32 for training
            encoder = BertModel.from_pretrained(str(path), add_pooling_layer=False, local_files_only=True,
                                                attn_implementation="eager", dtype=torch.float32)
        finally:
            hf_logging.set_verbosity(level)
            if bars:
                hf_logging.enable_progress_bar()
        d = encoder.config.to_dict()
        model = cls(k=kk, bert={f: d[f] for f in BERT_FIELDS if f in d}, multitask=multitask, vocab=vocab,
                    seq_pool=seq_pool)
        missing = model.bert.load_state_dict(encoder.state_dict(), strict=False)
        if missing.missing_keys:
            raise InputError(f"backbone lacks encoder weights: {missing.missing_keys[:3]}", str(path))
        return model

    def forward_all(self, x: torch.Tensor, *, output_attentions: bool = False) -> dict:
        ids = tokenize_one_hot(x, self.k, self.vocab)
        if ids.shape[1] > self.config.max_position_embeddings:
            raise InputError(f"{ids.shape[1]} tokens exceed the model's {self.config.max_position_embeddings} "
                             "positions (use 100 bp windows)")
        out = self.bert(input_ids=ids, attention_mask=torch.ones_like(ids), output_attentions=output_attentions)
        h = self.dropout(out.last_hidden_state)
        res = {"token": self.token_head(h[:, 1:-1]).squeeze(-1)}
        if self.seq_head is not None:
            res["seq"] = self.seq_head(h[:, 0] if self.seq_pool == "cls" else h[:, 1:-1].mean(1)).squeeze(-1)
        if output_attentions:
            res["attentions"] = out.attentions
        return res

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return token_to_nucleotide_scores(self.forward_all(x)["token"], self.k)


class MultiTaskView(nn.Module):
    """Training view of a :class:`BertSNR`: ``forward`` returns :meth:`BertSNR.forward_all` (for the loss)."""

    def __init__(self, model: BertSNR):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.forward_all(x)


def bertsnr_loss(out: dict, y_nt: torch.Tensor, y_seq: torch.Tensor, *, k: int, lam: float = 0.1) -> torch.Tensor:
    """``lam * BCE(seq) + (1 - lam) * BCE(token)``; token labels from nucleotide labels by the BertSNR rule.

    Single-task models (no ``seq`` output) use the token loss only.
    """
    tok = F.binary_cross_entropy_with_logits(out["token"], nucleotide_to_token_labels(y_nt, k))
    if "seq" not in out:
        return tok
    return lam * F.binary_cross_entropy_with_logits(out["seq"], y_seq) + (1 - lam) * tok
