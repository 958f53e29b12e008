"""ESM-2 protein language-model classifier: full fine-tuning or LoRA (Hassan et al., bioRxiv 2025).

Architecture: ``transformers.EsmModel`` (no pooler) -> attention-mask-aware mean over residue tokens (``<cls>``,
``<eos>`` and padding excluded) -> dropout -> linear -> one logit (P(positive) = sigmoid).

LoRA (Hu et al. 2021) through ``peft``: low-rank adapters on the ``query``, ``key``, ``value`` and ``dense``
linear layers of every transformer block (rank ``r``, scaling ``alpha/r``, dropout configurable); the
classification head is trained fully. Adapters are merged into the backbone before saving, so a LoRA model is
saved and loaded exactly like a fully fine-tuned one (one checkpoint format: :mod:`tfscope.checkpoint`).

Long proteins: ESM-2 was trained on at most 1,022 residues (1,024 tokens with ``<cls>``/``<eos>``).
``long_mode="truncate"`` keeps the first ``max_residues``; ``long_mode="window"`` cuts the protein into windows of
``max_residues`` with ``stride`` (last window aligned to the C-terminus), trains on every window with the
protein's label, and averages the window probabilities at prediction.

Backbones: a local directory or a hub name (``facebook/esm2_t6_8M_UR50D``) through ``EsmModel.from_pretrained``;
``local_files_only=True`` by default so nothing is downloaded unless asked (``allow_download=True``).
Tokenisation uses the fixed 33-token ESM-2 vocabulary below (identical for all ESM-2 sizes; own code so that no
tokenizer files need to be fetched).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checkpoint import load_checkpoint, save_checkpoint
from ..device import resolve_device
from ..errors import CheckpointError, InputError
from ..train import fit, predict, seed_everything
from .classic import ArrayModel

ESM_VOCAB = ["<cls>", "<pad>", "<eos>", "<unk>", "L", "A", "G", "V", "S", "E", "R", "T", "I", "D", "P", "K", "Q",
             "N", "F", "Y", "M", "H", "W", "C", "X", "B", "U", "Z", "O", ".", "-", "<null_1>", "<mask>"]
CLS, PAD, EOS, UNK = 0, 1, 2, 3
_TOK = np.full(256, UNK, dtype=np.int64)
for _i, _t in enumerate(ESM_VOCAB):
    if len(_t) == 1:
        _TOK[ord(_t)] = _i
LORA_TARGETS = ("query", "key", "value", "dense")


def tiny_esm_config(**overrides) -> dict:
    """A small random ESM-2-shaped config (for tests and demos; NOT a pretrained model)."""
    cfg = dict(vocab_size=33, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
               max_position_embeddings=1026, position_embedding_type="rotary", pad_token_id=PAD, mask_token_id=32,
               token_dropout=True, emb_layer_norm_before=False, hidden_dropout_prob=0.0,
               attention_probs_dropout_prob=0.0)
    cfg.update(overrides)
    return cfg


def protein_windows(seq: str, max_residues: int = 1022, mode: str = "truncate", stride: int | None = None
                    ) -> list[str]:
    """Pieces of ``seq`` fed to the model (see module docstring). ``stride`` defaults to ``max_residues // 2``."""
    if mode not in ("truncate", "window"):
        raise InputError(f"long-sequence mode must be 'truncate' or 'window', not {mode!r}")
    if len(seq) <= max_residues or mode == "truncate":
        return [seq[:max_residues]]
    stride = stride or max(1, max_residues // 2)
    starts = list(range(0, len(seq) - max_residues + 1, stride))
    if starts[-1] + max_residues < len(seq):
        starts.append(len(seq) - max_residues)
    return [seq[s:s + max_residues] for s in starts]


def tokenize(seqs, *, max_residues: int = 1022, mode: str = "truncate", stride: int | None = None):
    """ESM-2 token ids, padded with ``<pad>``.

    Returns
    -------
    (ids, owner) : int64 arrays of shape (M, T) and (M,); ``owner[j]`` is the index in ``seqs`` of row ``j``
        (several rows per protein in window mode). ``T = longest piece + 2``.
    """
    pieces, owner = [], []
    for i, s in enumerate(seqs):
        for w in protein_windows(s, max_residues, mode, stride):
            pieces.append(w)
            owner.append(i)
    T = max(len(p) for p in pieces) + 2
    ids = np.full((len(pieces), T), PAD, dtype=np.int64)
    for j, p in enumerate(pieces):
        ids[j, 0] = CLS
        ids[j, 1:len(p) + 1] = _TOK[np.frombuffer(p.upper().encode("ascii", "replace"), dtype=np.uint8)]
        ids[j, len(p) + 1] = EOS
    return ids, np.asarray(owner, dtype=np.int64)


class EsmClassifier(nn.Module):
    """ESM-2 backbone + masked-mean-pooled linear head. Input ``(N, T)`` token ids; output ``(N,)`` logits.

    Parameters
    ----------
    esm_config : dict
        ``transformers.EsmConfig`` fields (``config.to_json_string()``), enough to rebuild the backbone.
    dropout : float
        Dropout before the linear head.
    """

    def __init__(self, esm_config: dict, dropout: float = 0.1):
        super().__init__()
        from transformers import EsmConfig, EsmModel

        cfg = EsmConfig(**{k: v for k, v in esm_config.items() if k not in ("transformers_version",)})
        self.backbone = EsmModel(cfg, add_pooling_layer=False)
        _eager(self.backbone)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(cfg.hidden_size, 1)

    @staticmethod
    def residue_mask(ids: torch.Tensor) -> torch.Tensor:
        return (ids != PAD) & (ids != CLS) & (ids != EOS)

    def forward(self, ids: torch.Tensor, output_attentions: bool = False):
        ids = ids.long()
        keep = int((ids != PAD).any(0).nonzero().max()) + 1  # drop all-padding columns of this batch
        ids = ids[:, :keep]
        att = (ids != PAD).long()
        out = self.backbone(input_ids=ids, attention_mask=att, output_attentions=output_attentions)
        m = self.residue_mask(ids).unsqueeze(-1).to(out.last_hidden_state.dtype)
        pooled = (out.last_hidden_state * m).sum(1) / m.sum(1).clamp(min=1.0)
        logit = self.head(self.dropout(pooled)).squeeze(-1)
        return (logit, out.attentions) if output_attentions else logit


def _eager(backbone) -> None:
    """Use eager attention so attention probabilities can be returned (SDPA cannot return them)."""
    if hasattr(backbone, "set_attn_implementation"):
        backbone.set_attn_implementation("eager")
    else:  # older transformers
        backbone.config._attn_implementation = "eager"


def classifier_from_backbone(backbone: str | Path, *, dropout: float = 0.1, allow_download: bool = False
                             ) -> EsmClassifier:
    """An :class:`EsmClassifier` whose backbone weights come from ``backbone`` (directory or hub name).

    Raises
    ------
    InputError
        The backbone cannot be found locally (and ``allow_download`` is False) or is not an ESM model.
    """
    from transformers import EsmModel

    try:
        bb = EsmModel.from_pretrained(str(backbone), add_pooling_layer=False, local_files_only=not allow_download)
    except (OSError, ValueError) as e:
        hint = "" if allow_download else " (not found locally; pass --allow-download to fetch it from the hub)"
        raise InputError(f"cannot load ESM backbone {str(backbone)!r}{hint}: {str(e).splitlines()[0]}") from e
    model = EsmClassifier(json.loads(bb.config.to_json_string()), dropout=dropout)
    missing, unexpected = model.backbone.load_state_dict(bb.state_dict(), strict=False)
    if any(not k.endswith("position_ids") for k in missing):
        raise InputError(f"backbone {backbone!r} does not match EsmModel: missing {missing[:3]}")
    return model


def add_lora(model: EsmClassifier, *, r: int = 8, alpha: int = 16, dropout: float = 0.05,
             targets=LORA_TARGETS) -> EsmClassifier:
    """Wrap the backbone with peft LoRA adapters (backbone frozen, adapters and head trainable). In place."""
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets), bias="none")
    model.backbone = get_peft_model(model.backbone, cfg)
    for p in model.head.parameters():
        p.requires_grad_(True)
    return model


def merge_lora(model: EsmClassifier) -> EsmClassifier:
    """Merge LoRA adapters into the backbone weights (no-op without adapters). In place."""
    if hasattr(model.backbone, "merge_and_unload"):
        model.backbone = model.backbone.merge_and_unload()
    return model


@dataclass
class EsmProteinModel(ArrayModel):
    """A trained :class:`EsmClassifier` plus its tokenisation settings; ``predict_proba(seqs) -> (N,)``.

    Saved alone by :func:`save_esm_classifier`; as the member of a composite (the inner model of
    :class:`tfscope.protein.dbdmodel.DbdTieredModel`) through the :class:`~tfscope.protein.classic.ArrayModel`
    interface: its state dict as float32 arrays and the backbone config in the composite's checkpoint.
    """

    MODEL_NAME = "protein-esm"  # as a composite's member (alone: model "esm-classifier", save_esm_classifier)

    net: EsmClassifier
    max_residues: int = 1022
    long_mode: str = "truncate"
    stride: int | None = None
    threshold: float = 0.5
    labels: tuple = ("positive", "negative")
    meta: dict = field(default_factory=dict)

    def predict_proba(self, seqs, batch_size: int = 8, device: str | None = None) -> np.ndarray:
        """P(positive), shape ``(n_proteins,)`` (window mode: the mean over a protein's windows). ``device``: where to
        run (``auto``: CUDA when present; default: where the weights are, and they stay there)."""
        ids, owner = tokenize(list(seqs), max_residues=self.max_residues, mode=self.long_mode, stride=self.stride)
        p = predict(self.net, ids, batch_size=batch_size, activation="sigmoid", device=device)
        out = np.zeros(len(seqs))
        np.add.at(out, owner, p)
        return out / np.bincount(owner, minlength=len(seqs))

    def checkpoint_arrays(self) -> dict:
        return {k: v.detach().cpu().float().numpy() for k, v in self.net.state_dict().items()}

    def checkpoint_hparams(self) -> dict:
        return {"esm_config": json.loads(self.net.backbone.config.to_json_string()),
                "dropout": float(self.net.dropout.p), "max_residues": self.max_residues, "long_mode": self.long_mode,
                "stride": self.stride, **self._common()}

    @classmethod
    def from_checkpoint(cls, arrays: dict, cfg: dict) -> "EsmProteinModel":
        """Rebuild from :meth:`checkpoint_arrays` and the config. Raises CheckpointError on mismatched weights."""
        hp = cfg["hparams"]
        net = EsmClassifier(hp["esm_config"], dropout=float(hp.get("dropout", 0.1)))
        try:
            net.load_state_dict({k: torch.as_tensor(v) for k, v in arrays.items()}, strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"ESM weights do not match their config: {str(e).splitlines()[0]}") from e
        return cls(net.eval(), int(hp["max_residues"]), hp["long_mode"], hp.get("stride"),
                   meta=cfg.get("meta", {}).get("fit", {}), **cls._labels(hp))


def train_esm(train_seqs, y_train, valid=None, *, backbone=None, esm_config: dict | None = None, lora: bool = True,
              lora_r: int = 8, lora_alpha: int = 16, lora_dropout: float = 0.05, max_residues: int = 1022,
              long_mode: str = "truncate", stride: int | None = None, epochs: int = 3, batch_size: int = 8,
              lr: float | None = None, patience: int = 2, seed: int = 0, labels=("positive", "negative"),
              allow_download: bool = False, verbose: bool = False, max_seconds: float | None = None,
              device: str = "auto", amp: str | None = None) -> EsmProteinModel:
    """Fine-tune (``lora=False``) or LoRA-tune an ESM-2 classifier with :func:`tfscope.train.fit` (BCE loss).

    Parameters
    ----------
    backbone : directory or hub name of a pretrained ESM-2; or ``esm_config`` (dict) for a randomly initialised
        backbone (tests only).
    valid : ``(seqs, y)`` for early stopping, optional.
    device, amp : where to train (``auto``: CUDA when available) and CUDA autocast, as in :func:`tfscope.train.fit`;
        the returned model is on CPU.
    lr : default 1e-4 for full fine-tuning, 5e-4 for LoRA.

    Returns
    -------
    EsmProteinModel with LoRA merged into the backbone.
    """

    seed_everything(seed)
    if backbone is not None:
        net = classifier_from_backbone(backbone, allow_download=allow_download)
    elif esm_config is not None:
        net = EsmClassifier(esm_config)
    else:
        raise InputError("give an ESM backbone (directory or hub name) or an esm_config")
    if lora:
        add_lora(net, r=lora_r, alpha=lora_alpha, dropout=lora_dropout)
    x, owner = tokenize(list(train_seqs), max_residues=max_residues, mode=long_mode, stride=stride)
    yt = np.asarray(y_train, dtype=np.float32)[owner]
    vdata = None
    if valid is not None:
        xv, ov = tokenize(list(valid[0]), max_residues=max_residues, mode=long_mode, stride=stride)
        vdata = (xv, np.asarray(valid[1], dtype=np.float32)[ov])
    loss = nn.BCEWithLogitsLoss()
    res = fit(net, (x, yt), vdata, loss_fn=lambda out, t: loss(out, t), epochs=epochs, batch_size=batch_size,
              lr=lr or (5e-4 if lora else 1e-4), patience=patience, seed=seed, verbose=verbose, desc="esm",
              max_seconds=max_seconds, device=device, amp=amp)
    net.cpu()
    n_trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    merge_lora(net)
    net.eval()
    meta = {"backbone": str(backbone) if backbone is not None else "random esm_config", "lora": lora,
            "lora_r": lora_r, "lora_alpha": lora_alpha, "lora_dropout": lora_dropout,
            "lora_targets": list(LORA_TARGETS) if lora else [], "trainable_parameters": int(n_trainable),
            "epochs_run": len(res.as_dict().get("train_loss", [])) if hasattr(res, "as_dict") else None}
    return EsmProteinModel(net, max_residues, long_mode, stride, 0.5, tuple(labels), meta)


def fit_esm_oof(seqs, y, *, folds: int = 5, seed: int = 0, labels=("positive", "negative"), verbose: bool = False,
                **train) -> EsmProteinModel:
    """:func:`train_esm` on all of ``seqs`` plus its out-of-fold P(positive) on them.

    Out-of-fold: ``folds`` stratified folds with identical sequences in one fold (scikit-learn's
    ``StratifiedGroupKFold``), one model trained per fold. The returned model carries ``oof_proba`` (shape
    ``(n_proteins,)``; not saved) and ``meta["cv_auroc"]``, its threshold is the max-MCC point of the out-of-fold
    predictions: what :func:`tfscope.protein.dbdmodel.fit_dbd_tiered` needs of an inner model (issue 46: the
    pLM inside the DBD tiers). ``train``: :func:`train_esm` arguments (``backbone`` or ``esm_config``, ``lora``...);
    the held-out folds are predicted on ``train["device"]`` and the returned model's weights stay there.

    Raises
    ------
    InputError
        Fewer than ``folds`` proteins of a class, or no backbone / config (as :func:`train_esm`).
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    from .stack import mcc_threshold, training_set

    seqs, y = training_set(seqs, y, folds)
    device = train.get("device", "auto")
    groups = np.unique(seqs, return_inverse=True)[1]
    oof = np.zeros(len(y))
    for k, (tr, va) in enumerate(StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(seqs, y, groups)):
        m = train_esm([seqs[i] for i in tr], y[tr], seed=seed, labels=labels, verbose=verbose, **train)
        oof[va] = m.predict_proba([seqs[i] for i in va], device=device)
        if verbose:
            print(f"  esm fold {k + 1}/{folds}: {len(tr)} training proteins", flush=True)
    model = train_esm(seqs, y, seed=seed, labels=labels, verbose=verbose, **train)
    model.threshold, mcc = mcc_threshold(y, oof)
    model.meta.update(cv_auroc=float(roc_auc_score(y, oof)), cv_mcc_at_threshold=float(mcc), folds=folds)
    model.oof_proba = oof
    model.net.to(resolve_device(device))  # later predictions run where it was trained
    return model


def save_esm_classifier(path, model: EsmProteinModel) -> Path:
    """Save through :func:`tfscope.checkpoint.save_checkpoint` (task ``protein``, model ``esm-classifier``)."""

    hp = {"esm_config": json.loads(model.net.backbone.config.to_json_string()),
          "dropout": float(model.net.dropout.p)}
    meta = {**model.meta, "max_residues": model.max_residues, "long_mode": model.long_mode, "stride": model.stride,
            "threshold": model.threshold, "labels": list(model.labels)}
    return save_checkpoint(path, model.net, model_name="esm-classifier", task="protein", hparams=hp, meta=meta)


def load_esm_classifier(path) -> EsmProteinModel:
    """Load a checkpoint written by :func:`save_esm_classifier`.

    Raises
    ------
    CheckpointError
        Not a protein ESM checkpoint, or weights that do not match.
    """

    net, cfg = load_checkpoint(path, task="protein")
    if not isinstance(net, EsmClassifier):
        raise CheckpointError(f"{path}: not an ESM protein classifier (model {cfg.get('model')!r})")
    m = cfg.get("meta", {})
    return EsmProteinModel(net, int(m.get("max_residues", 1022)), m.get("long_mode", "truncate"), m.get("stride"),
                           float(m.get("threshold", 0.5)), tuple(m.get("labels", ("positive", "negative"))), m)


@torch.no_grad()
def attention_maps(model: EsmProteinModel, seq: str) -> np.ndarray:
    """Last-layer attention of the first window of ``seq``: array (heads, L, L) over residues only
    (``<cls>``/``<eos>`` rows and columns removed); average over heads with ``.mean(0)``."""
    ids, _ = tokenize([seq], max_residues=model.max_residues, mode="truncate")
    model.net.eval()
    _, atts = model.net(torch.as_tensor(ids), output_attentions=True)
    if not atts:
        raise RuntimeError("backbone returned no attentions (eager attention required)")
    a = atts[-1][0].float().numpy()
    n = min(len(seq), model.max_residues)
    return a[:, 1:n + 1, 1:n + 1]


def residue_attention_profile(maps: np.ndarray) -> np.ndarray:
    """Attention received per residue (column sums of the head-averaged map), shape (L,)."""
    return maps.mean(0).sum(0)
