"""Masked-language-model pretraining of a small k-mer DNA BERT (the backbone of BertSNR when DNABERT weights are
not available).

Data: real genomic windows only — ``bound == 1`` rows with ``split == train`` of the tfbs-snr tables and the
``train``/``valid`` windows of the tfbs-multilabel set (never a test row); duplicates removed; a seeded held-out
fraction measures MLM accuracy. Masking follows DNABERT: because overlapping k-mers reveal their neighbours, whole
spans of k consecutive tokens are masked (about ``mask_prob`` of the tokens), each masked token replaced by [MASK]
(80%), a random k-mer (10%) or kept (10%). The result is saved as a ``transformers`` BERT directory
(``config.json``, ``model.safetensors``, ``vocab.txt``) plus ``pretraining.json`` (data, settings, tokens seen,
wall time, held-out MLM accuracy), loadable by :meth:`tfscope.snr.bertsnr.BertSNR.from_backbone`.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..io.atomic import atomic_write, respect_umask
from ..io.tables import read_snr_table
from ..sequence import one_hot
from ..train import fit
from .bertsnr import SMALL_BERT
from .kmer import MASK, N_SPECIAL, kmer_vocab, tokenize_one_hot


def pretraining_windows(snr_dir=None, multilabel=None, *, max_windows: int | None = None, heldout: float = 0.02,
                        seed: int = 0) -> tuple[list[str], list[str], dict]:
    """Collect unique 100 bp genomic windows for pretraining and split off a held-out set.

    Returns ``(train, heldout, summary)``. Raises :class:`InputError` when no window is found.
    """

    seqs: set[str] = set()
    summary = {"snr_tables": 0, "snr_windows": 0, "multilabel_windows": 0}
    if snr_dir:
        for p in sorted(Path(snr_dir).glob("*.tsv*")):
            t = read_snr_table(p)
            keep = (t["bound"] == 1) & (t["split"] == "train")
            seqs.update(t["sequence"][keep].tolist())
            summary["snr_tables"] += 1
            summary["snr_windows"] += int(keep.sum())
    if multilabel:
        with gzip.open(multilabel, "rt") as fh:
            header = fh.readline().rstrip("\n").split("\t")
            i_split, i_seq = header.index("split"), header.index("sequence")
            for line in fh:
                c = line.rstrip("\n").split("\t")
                if c[i_split] in ("train", "valid"):
                    seqs.add(c[i_seq].upper())
                    summary["multilabel_windows"] += 1
    if not seqs:
        raise InputError("no pretraining windows found (give --snr-dir and/or --multilabel)")
    arr = sorted(seqs)
    rng = np.random.default_rng(seed)
    rng.shuffle(arr)
    if max_windows:
        arr = arr[:max_windows]
    n_held = max(1, int(len(arr) * heldout))
    summary.update({"unique_windows": len(arr), "heldout_windows": n_held})
    return arr[n_held:], arr[:n_held], summary


def span_mask(ids: torch.Tensor, k: int, mask_prob: float, vocab_size: int, generator=None):
    """DNABERT-style span masking of token ids ``(N, T)`` ([CLS] ... [SEP]).

    Returns ``(masked_ids, labels)`` where ``labels`` holds the original id at masked positions and -100 elsewhere.
    """
    n, T = ids.shape
    body = torch.zeros(n, T, dtype=torch.bool, device=ids.device)
    starts = torch.rand(n, T - 2, generator=generator, device=ids.device) < mask_prob / k
    spans = F.max_pool1d(F.pad(starts.float().unsqueeze(1), (k - 1, 0)), k, stride=1).squeeze(1) > 0
    body[:, 1:-1] = spans
    labels = torch.where(body, ids, torch.full_like(ids, -100))
    r = torch.rand(n, T, generator=generator, device=ids.device)
    masked = ids.clone()
    masked[body & (r < 0.8)] = MASK
    rand_tok = torch.randint(N_SPECIAL, vocab_size, (n, T), generator=generator, device=ids.device)
    swap = body & (r >= 0.8) & (r < 0.9)
    masked[swap] = rand_tok[swap]
    return masked, labels


class MaskedDNALM(nn.Module):
    """k-mer BERT for masked language modelling on one-hot input; ``forward`` masks and returns (logits, labels)."""

    def __init__(self, k: int = 3, bert: dict | None = None, mask_prob: float = 0.15):
        super().__init__()
        from transformers import BertConfig, BertForMaskedLM

        self.k, self.mask_prob = k, mask_prob
        self.vocab = kmer_vocab(k)
        self.config = BertConfig(**{**SMALL_BERT, **(bert or {}), "vocab_size": len(self.vocab)})
        self.mlm = BertForMaskedLM(self.config)

    def forward(self, x: torch.Tensor, generator=None):
        ids = tokenize_one_hot(x, self.k)
        masked, labels = span_mask(ids, self.k, self.mask_prob, len(self.vocab), generator)
        return self.mlm(input_ids=masked, attention_mask=torch.ones_like(ids)).logits, labels


def mlm_loss(out, *_unused) -> torch.Tensor:
    """Cross-entropy over masked tokens of a :class:`MaskedDNALM` output."""
    logits, labels = out
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


@torch.no_grad()
def mlm_accuracy(model: MaskedDNALM, x: np.ndarray, *, batch_size: int = 256, seed: int = 0) -> float:
    """Fraction of masked tokens predicted exactly (held-out windows, seeded masking)."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    hit = total = 0
    for i in range(0, len(x), batch_size):
        logits, labels = model(torch.from_numpy(x[i:i + batch_size]), generator=g)
        m = labels != -100
        hit += int((logits.argmax(-1)[m] == labels[m]).sum())
        total += int(m.sum())
    return hit / max(total, 1)


def pretrain(train_seqs: list[str], heldout_seqs: list[str], out, *, k: int = 3, bert: dict | None = None,
             epochs: int = 1, batch_size: int = 128, lr: float = 5e-4, max_seconds: float | None = None,
             seed: int = 0, data_summary: dict | None = None, verbose: bool = True, device: str = "auto",
             amp: str | None = None) -> dict:
    """Pretrain a k-mer DNA BERT by MLM with the shared training loop and save it as a backbone directory.

    ``device`` (``auto``: CUDA when available) and ``amp`` (``bf16``/``fp16`` on CUDA) go to
    :func:`tfscope.train.fit`; held-out accuracy is measured on CPU (seeded masking) and the saved backbone is
    device-free.

    Returns the ``pretraining.json`` record (tokens seen, wall time, held-out MLM accuracy, settings).
    """

    torch.manual_seed(seed)
    model = MaskedDNALM(k=k, bert=bert)
    x = one_hot(train_seqs)
    xh = one_hot(heldout_seqs)
    acc0 = mlm_accuracy(model, xh[:2000], seed=seed)
    dummy = np.zeros(len(x), np.float32)
    res = fit(model, (x, dummy), None, loss_fn=mlm_loss, epochs=epochs, batch_size=batch_size, lr=lr,
              weight_decay=0.01, seed=seed, verbose=verbose, desc="pretrain", max_seconds=max_seconds,
              device=device, amp=amp)
    model.to("cpu")
    acc = mlm_accuracy(model, xh, seed=seed)
    tokens_per_window = x.shape[-1] - k + 1
    n_epochs = len(res.train_loss)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.mlm.save_pretrained(str(out), safe_serialization=True)
    (out / "vocab.txt").write_text("\n".join(model.vocab) + "\n")

    for f in out.glob("*.safetensors"):  # safetensors writes 0600 weights; only touch what was written here
        respect_umask(f)
    record = {"k": k, "bert": {kk: v for kk, v in model.config.to_dict().items()
                               if kk in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                         "intermediate_size", "max_position_embeddings", "vocab_size")},
              "parameters": int(sum(p.numel() for p in model.parameters())), "epochs_run": n_epochs,
              "windows": len(x), "windows_seen": res.samples_seen,
              "tokens_seen": int(res.samples_seen * tokens_per_window),
              "wall_seconds": round(res.seconds, 1), "train_loss": res.train_loss,
              "heldout_windows": len(xh), "heldout_mlm_accuracy": round(acc, 4),
              "heldout_mlm_accuracy_before": round(acc0, 4), "chance_accuracy": 1 / 4 ** k,
              "mask": "DNABERT span masking, 15% of tokens, 80/10/10", "lr": lr, "batch_size": batch_size,
              "seed": seed, "data": data_summary or {}}
    with atomic_write(out / "pretraining.json") as fh:
        json.dump(record, fh, indent=2)
    return record
