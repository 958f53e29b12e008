"""One nucleotide-resolution model for many TFs, trained on real genome windows: the genomic zoo.

Per-TF models trained against a few genome windows each (the first genomic zoo) cannot tell a TF's site from the
same motif bound by a paralog or partner, because they never see most of the windows those TFs bind. This module
trains **one** dilated residual CNN with a shared trunk and one nucleotide-resolution output track per TF
(:class:`tfscope.models.dilated.DilatedResNet` with ``n_outputs = T``) on:

- **every genome window** of the tfbs-multilabel train chromosomes (never chr7/chr8), with per-nucleotide labels
  for all T TFs from the JASPAR ChIP-seq sites of the tfbs-snr tables (:func:`tfscope.zoo.genomic.genomic_labels`);
  a window that overlaps a *test-split* tfbs-snr site of TF X is masked for X (the paper-protocol test rows never
  train their TF's output);
- **paper-protocol rows** of each TF's tfbs-snr table (train split, not on chr7/chr8; a seeded sample of at most
  ``pairs_per_tf`` bound windows with their dinucleotide shuffles): a bound row labels its own TF only (the other
  TFs are masked), a shuffle is a negative for every TF. This keeps the model quiet on shuffled DNA, so the BertSNR
  protocol can still be measured on it.

Early stopping uses the chr7 windows (all TFs); each TF's call threshold is then calibrated on chr7 at window
level (best F1, as :func:`tfscope.snr.train.calibrate_threshold`), and the TF's paper-protocol test metrics are measured
on its tfbs-snr test rows. The checkpoint is one standard tfscope checkpoint (``task = snr``) whose ``meta.tfs``
names the output tracks and ``meta.per_tf`` holds each TF's threshold, calibration and test metrics;
:func:`tfscope.scan.models.load_scan_models` turns it into one :class:`~tfscope.scan.engine.ScanModel` per TF that share the
trunk, so scanning runs the trunk once for all TFs.

Multi-task learning across TFs follows the multi-label models of the field (DeepSEA, Zhou & Troyanskaya 2015;
Basset) at nucleotide resolution (BPNet-style profile outputs); genomic negatives follow Ghandi et al. 2014 and
Koo & Ploenzke 2020.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..checkpoint import load_checkpoint, save_checkpoint
from ..device import resolve_device
from ..errors import CheckpointError, InputError
from ..io.windows import load_windows
from ..metrics import best_f1_threshold, binary_metrics, snr_metrics
from ..models import build_model
from ..scan.engine import ScanModel, window_max_scores
from ..sequence import decode
from ..snr.data import load_snr, pair_groups, snr_table_path
from ..snr.train import TASK
from ..train import fit, predict
from .genomic import HOLDOUT_CHROMS, genomic_labels, site_intervals

#: hyper-parameters of the shipped genomic zoo (chosen for a 2-core CPU budget; see docs/genomic.md)
DEFAULTS = {"channels": 64, "n_blocks": 5, "kernel": 3, "dropout": 0.1, "pairs_per_tf": 2000, "batch_size": 256,
            "lr": 1e-3, "epochs": 4, "patience": 2, "lam": 0.0, "strands": "mean"}


@dataclass
class MultiTaskData:
    """Windows with per-nucleotide labels for T TFs.

    Attributes
    ----------
    x : (N, 4, L) float32 one-hot
    y : (N, T, L) uint8, 1 on site nucleotides of each TF
    mask : (N, T) uint8, 1 where the TF's label of the window is known (0: not trained or scored for that TF)
    source : (N,) str, ``genome`` (tfbs-multilabel window), ``bound`` or ``shuffled`` (tfbs-snr rows)
    """

    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    @staticmethod
    def concat(parts: list["MultiTaskData"]) -> "MultiTaskData":
        """Rows of ``parts`` stacked in order."""
        return MultiTaskData(*(np.concatenate([getattr(p, f) for p in parts])
                               for f in ("x", "y", "mask", "source")))


def genome_window_data(windows, rows: np.ndarray, sites: dict, tfs: list[str], *,
                       mask_test_sites: bool = True) -> MultiTaskData:
    """Genome windows ``rows`` of a tfbs-multilabel table labelled for every TF.

    Parameters
    ----------
    windows : :class:`tfscope.io.windows.MultiLabelData` with ``start``
    rows : (N,) int indices of the windows to take
    sites : dict TF -> :class:`tfscope.zoo.genomic.SiteIntervals`
    tfs : the T TF names (output order)
    mask_test_sites : mask TF X in windows that overlap one of X's test-split sites

    Raises
    ------
    InputError
        If the windows lack genome starts or a TF has no sites.
    """
    if windows.start is None:
        raise InputError("genome windows need their genome start (the table's start column)")
    chrom, start = windows.chrom[rows], windows.start[rows]
    L = windows.x.shape[-1]
    y = np.zeros((len(rows), len(tfs), L), np.uint8)
    mask = np.ones((len(rows), len(tfs)), np.uint8)
    for t, tf in enumerate(tfs):
        if tf not in sites:
            raise InputError(f"no binding sites for TF {tf!r}")
        s = sites[tf]
        y[:, t] = genomic_labels(chrom, start, L, s)
        if mask_test_sites:
            test = s.split == "test"
            if test.any():
                mask[:, t] = genomic_labels(chrom, start, L, s.subset(test)).max(axis=1) == 0
    return MultiTaskData(windows.x[rows], y, mask, np.full(len(rows), "genome"))


def snr_rows_data(snr_dir, tfs: list[str], *, pairs_per_tf: int = 2000, seed: int = 0,
                  exclude_chroms=None) -> MultiTaskData:
    """Paper-protocol training rows of each TF's tfbs-snr table for the multi-TF model.

    Takes the table's ``train`` rows (the paper's split), drops bound windows on ``exclude_chroms`` (default
    :data:`tfscope.zoo.genomic.HOLDOUT_CHROMS`: chr7, chr8 and the withheld chr9; the shipped detector was trained
    before chr9 was added and saw its rows) with their shuffles, and keeps a seeded sample of at most ``pairs_per_tf`` (bound, shuffled) groups per TF. A bound row is
    labelled for its own TF only (other TFs masked: the row may hold their sites); a shuffled row is a negative for
    every TF.

    Raises
    ------
    InputError
        Missing or bad table (see :func:`tfscope.snr.data.load_snr`).
    """
    exclude_chroms = HOLDOUT_CHROMS if exclude_chroms is None else exclude_chroms
    rng = np.random.default_rng(seed)
    parts = []
    for t, tf in enumerate(tfs):
        d = load_snr(snr_table_path(tf, snr_dir))
        tr = np.flatnonzero(d.split == "train")
        group = tr[pair_groups(d.y_seq[tr])]
        held = np.isin(d.chrom[group], exclude_chroms)
        tr, group = tr[~held], group[~held]
        groups = np.unique(group)
        if len(groups) > pairs_per_tf:
            groups = rng.choice(groups, pairs_per_tf, replace=False)
        take = np.sort(tr[np.isin(group, groups)])
        bound = d.y_seq[take] > 0
        L = d.x.shape[-1]
        y = np.zeros((len(take), len(tfs), L), np.uint8)
        y[:, t] = d.y_nt[take].astype(np.uint8)
        mask = np.ones((len(take), len(tfs)), np.uint8)
        mask[bound] = 0
        mask[bound, t] = 1
        parts.append(MultiTaskData(d.x[take], y, mask, np.where(bound, "bound", "shuffled")))
    return MultiTaskData.concat(parts)


def masked_nucleotide_loss(logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
                           pos_weight: torch.Tensor | None = None, lam: float = 0.0) -> torch.Tensor:
    """Binary cross-entropy over the known (window, TF) labels: ``lam * BCE(window) + (1 - lam) * BCE(nucleotide)``.

    The window term follows BertSNR's multi-task loss (Luo et al., Bioinformatics 2024: sequence-level + token-level,
    weighted by lambda) with the window logit taken as the maximum nucleotide logit (multiple-instance pooling), so it
    trains exactly the score that ranks windows (a window's highest nucleotide probability) and calls sites.

    Parameters
    ----------
    logits : (B, T, L); y : (B, T, L) 0/1 (any dtype); mask : (B, T) 0/1
    pos_weight : (T,) weight of positive nucleotides per TF, optional (nucleotide term only)
    lam : weight of the window term in [0, 1] (0: nucleotide BCE only)

    Returns
    -------
    Scalar: mean loss over the unmasked (window, TF) pairs.
    """
    pw = None if pos_weight is None else pos_weight.to(logits.device)[:, None]
    y = y.float()
    loss = F.binary_cross_entropy_with_logits(logits, y, pos_weight=pw, reduction="none").mean(-1)
    if lam:
        window = F.binary_cross_entropy_with_logits(logits.amax(-1), y.amax(-1), reduction="none")
        loss = lam * window + (1 - lam) * loss
    m = mask.float()
    return (loss * m).sum() / m.sum().clamp_min(1.0)


def _pos_weight(data: MultiTaskData) -> torch.Tensor:
    """Return per-TF positive weights for the nucleotide loss.

    Per-TF positive weight ``sqrt(n_negative / n_positive)`` over known nucleotide labels (the multi-label benchmark's
    weighting), clipped to [1, 100].
    """
    m = data.mask.astype(np.float64)[:, :, None]
    pos = np.zeros(data.y.shape[1])
    for i in range(0, len(data), 20_000):  # chunked: y is large
        pos += (data.y[i:i + 20_000] * m[i:i + 20_000]).sum((0, 2))
    total = m.sum((0, 2)) * data.y.shape[-1]
    return torch.tensor(np.clip(np.sqrt((total - pos) / np.maximum(pos, 1)), 1, 100), dtype=torch.float32)


def build_data(windows_path, snr_dir, tfs: list[str] | None = None, *, pairs_per_tf: int = DEFAULTS["pairs_per_tf"],
               seed: int = 0, max_train_windows: int | None = None, verbose: bool = True):
    """Training data, chr7 validation windows (genomic order) and the sites of every TF.

    Returns
    -------
    (train, valid, valid_windows, sites, tfs) : MultiTaskData, MultiTaskData (chr7, no masks), the chr7 window
    sequences in genomic order, dict TF -> SiteIntervals, TF names (sorted tfbs-snr table names by default)
    """
    t0 = time.time()
    w, tr, va, sites, tfs = load_training_windows(windows_path, snr_dir, tfs)
    if max_train_windows is not None and len(tr) > max_train_windows:
        tr = np.sort(np.random.default_rng(seed).choice(tr, max_train_windows, replace=False))
    genome = genome_window_data(w, tr, sites, tfs)
    valid = genome_window_data(w, va, sites, tfs, mask_test_sites=False)
    train = MultiTaskData.concat([genome, snr_rows_data(snr_dir, tfs, pairs_per_tf=pairs_per_tf, seed=seed)])
    if verbose:
        print(f"[multitask] {len(genome):,} genome + {len(train) - len(genome):,} tfbs-snr training windows, "
              f"{len(valid):,} chr7 windows, {len(tfs)} TFs ({time.time() - t0:.0f}s)", flush=True)

    return train, valid, decode(w.x[va]), sites, tfs


def load_training_windows(windows_path, snr_dir, tfs):
    """Return the windows table, its train-chromosome and chr7 (genomic order) row indices, the sites and the TF names."""
    snr_dir = Path(snr_dir)
    if tfs is None:
        tfs = sorted(p.name.split(".")[0] for p in snr_dir.glob("*.tsv.gz"))
    if not tfs:
        raise InputError("no tfbs-snr tables (<TF>.tsv.gz)", str(snr_dir))
    sites = {tf: site_intervals(snr_table_path(tf, snr_dir)) for tf in tfs}
    w = load_windows(windows_path)
    tr = np.flatnonzero((w.split == "train") & ~np.isin(w.chrom, HOLDOUT_CHROMS))
    va = np.flatnonzero(w.chrom == "chr7")
    va = va[np.argsort(w.start[va], kind="stable")]
    if not len(tr) or not len(va):
        raise InputError("the windows table needs train-chromosome windows and chr7 windows", str(windows_path))
    return w, tr, va, sites, tfs


def recalibrate(checkpoint, windows_path, snr_dir, *, strands: str = DEFAULTS["strands"], workers: int = 1) -> dict:
    """Re-choose the per-TF call thresholds of a multi-TF checkpoint on chr7.

    Re-choose the per-TF call thresholds of a multi-TF checkpoint on chr7 (:func:`calibrate_all`) for the strand rule
    ``strands`` (:func:`tfscope.scan.engine.combine_strands`) and rewrite its ``meta`` (``strands``,
    ``per_tf[TF].threshold`` and ``calibration``; weights and test metrics untouched).

    Returns
    -------
    dict TF -> calibration record

    Raises
    ------
    CheckpointError
        If ``checkpoint`` is not a multi-TF snr checkpoint (:func:`tfscope.checkpoint.load_checkpoint`).
    """
    net, cfg = load_checkpoint(checkpoint, task=TASK)
    meta = cfg.get("meta", {})
    if "tfs" not in meta:
        raise CheckpointError("not a multi-TF checkpoint (no meta.tfs)", str(checkpoint))
    tfs = list(meta["tfs"])
    w, _, va, sites, _ = load_training_windows(windows_path, snr_dir, tfs)
    valid = genome_window_data(w, va, sites, tfs, mask_test_sites=False)
    cal = calibrate_all(net.eval(), tfs, valid, decode(w.x[va]), workers=workers, strands=strands)
    per_tf = meta.get("per_tf", {})
    for tf in tfs:
        per_tf[tf] = {**per_tf.get(tf, {}), "threshold": cal[tf]["threshold"], "calibration": cal[tf]}
    save_checkpoint(checkpoint, net, model_name=cfg.get("model", "dilated"), task=TASK, hparams=cfg["hparams"],
                    meta={**meta, "strands": strands, "per_tf": per_tf})
    return cal


def calibrate_all(net, tfs: list[str], valid: MultiTaskData, valid_windows: list[str], *, workers: int = 1,
                  strands: str = "max") -> dict:
    """Per-TF call thresholds of a multi-TF model on chr7 genome windows (window level, best F1).

    With the two strands combined by ``strands`` (:func:`tfscope.scan.engine.combine_strands`).

    The windows are scanned as one sequence (:func:`tfscope.scan.engine.window_max_scores`) exactly like the per-TF
    :func:`tfscope.snr.train.calibrate_threshold`; a window is positive for a TF when it holds a site nucleotide of it.

    Returns
    -------
    dict TF -> ``threshold``, ``precision``, ``recall``, ``window_auroc``, ``window_auprc``, ``n_windows``,
    ``n_positive``, ``set``
    """
    models = [ScanModel(tf, net, output=t, strands=strands) for t, tf in enumerate(tfs)]
    return window_calibration(window_max_scores(models, valid_windows, workers=workers), tfs, valid)


def window_calibration(score: np.ndarray, tfs: list[str], valid: MultiTaskData) -> dict:
    """Per-TF call threshold (best window-level F1) and its chr7 precision, recall.

    AUROC and AUPRC from window scores ``(T, N)`` of the chr7 windows ``valid`` (a window is positive for a TF when it
    holds a site nucleotide of it). Returns dict TF -> calibration record (see :func:`calibrate_all`).
    """
    out = {}
    for t, tf in enumerate(tfs):
        y = valid.y[:, t].max(axis=1)
        thr = best_f1_threshold(y, score[t])
        m = binary_metrics(y, score[t], threshold=thr)
        out[tf] = {"threshold": float(thr), "precision": m["precision"], "recall": m["recall"],
                   "window_auroc": m["auroc"], "window_auprc": m["auprc"], "n_windows": m["n"],
                   "n_positive": m["n_pos"],
                   "set": "tfbs-multilabel genome windows on chr7, scanned in genomic order; best window-level F1"}
    return out


def paper_protocol_metrics(net, tfs: list[str], snr_dir, *, device: str = "auto") -> dict:
    """Return each TF's BertSNR-protocol test metrics.

    Each TF's BertSNR-protocol test metrics (:func:`tfscope.metrics.snr_metrics` on its tfbs-snr ``test`` rows, the TF's
    output track). Returns dict TF -> metrics.
    """
    out = {}
    for t, tf in enumerate(tfs):
        d = load_snr(snr_table_path(tf, snr_dir))
        te = d.subset(d.split == "test")
        if not len(te):
            continue
        p = predict(net, te.x, device=device)[:, t]
        out[tf] = snr_metrics(te.y_nt, p, te.y_seq, p.max(axis=1))
    return out


def train_multitask(windows_path, snr_dir, *, out=None, tfs: list[str] | None = None, seed: int = 0,
                    channels: int | None = None, n_blocks: int | None = None, epochs: int | None = None,
                    lr: float | None = None, batch_size: int | None = None, patience: int | None = None,
                    pairs_per_tf: int | None = None, lam: float | None = None, strands: str | None = None,
                    max_seconds: float | None = None, max_train_windows: int | None = None, init=None, device: str = "auto",
                    amp: str | None = None, workers: int = 1, verbose: bool = True) -> dict:
    """Train, calibrate and evaluate the multi-TF genomic zoo model (see the module docstring).

    Parameters
    ----------
    windows_path : tfbs-multilabel ``windows.tsv.gz`` (genome windows, chr7 = valid, chr8 = test)
    snr_dir : directory of tfbs-snr ``<TF>.tsv.gz`` tables (sites and paper-protocol rows)
    out : checkpoint directory to write (atomic; also rewritten after every epoch, so a killed run keeps its best
        epoch so far)
    tfs : TF names (default: every table in ``snr_dir``, sorted)
    lam : weight of the window term of :func:`masked_nucleotide_loss` (default 0: nucleotide BCE only)
    strands : how the scan combines the two strands (:func:`tfscope.scan.engine.combine_strands`, default ``mean``);
        stored in ``meta.strands`` and used for the chr7 calibration
    max_seconds : wall-time budget of training (:func:`tfscope.train.fit`)
    max_train_windows : subsample the genome training windows (tests, quick runs)
    init : checkpoint directory of an earlier run (e.g. ``out`` of a run stopped by its budget) to continue
        training from; its TFs and architecture must match
    device, amp : as :func:`tfscope.train.fit`; the checkpoint is device-free
    workers : processes for the chr7 calibration scan

    Returns
    -------
    dict
        ``tfs``, ``per_tf`` (threshold, calibration, test_metrics), ``history``, ``train_seconds``, ``checkpoint``,
        ``net``.

    Raises
    ------
    InputError
        Bad or missing tables.
    """
    cfg = {**DEFAULTS, **{k: v for k, v in dict(channels=channels, n_blocks=n_blocks, epochs=epochs, lr=lr,
                                                 batch_size=batch_size, patience=patience,
                                                 pairs_per_tf=pairs_per_tf, lam=lam,
                                                 strands=strands).items() if v is not None}}
    train, valid, valid_windows, _, tfs = build_data(windows_path, snr_dir, tfs, pairs_per_tf=cfg["pairs_per_tf"],
                                                     seed=seed, max_train_windows=max_train_windows,
                                                     verbose=verbose)
    hp = {"channels": cfg["channels"], "n_blocks": cfg["n_blocks"], "kernel": cfg["kernel"],
          "dropout": cfg["dropout"], "n_outputs": len(tfs)}
    torch.manual_seed(seed)
    net = build_model("dilated", **hp)
    history0 = {}
    if init is not None:

        prev, prev_cfg = load_checkpoint(init, task=TASK)
        if prev_cfg.get("meta", {}).get("tfs") != list(tfs) or prev_cfg.get("hparams") != hp:
            raise CheckpointError(f"cannot continue from {init}: its TFs or hyper-parameters differ from this run's")
        net.load_state_dict(prev.state_dict())
        history0 = prev_cfg["meta"].get("history", {})
    pw = _pos_weight(train)
    device = resolve_device(device)
    meta = {"tf": "+".join(tfs) if len(tfs) <= 3 else f"{len(tfs)} TFs", "tfs": list(tfs), "labels": list(tfs),
            "window": int(train.x.shape[-1]), "negatives": "genomic+shuffled", "multitask": True, "seed": seed,
            "train_rows": int(len(train)), "valid_rows": int(len(valid)),
            "train_sources": {s: int((train.source == s).sum()) for s in ("genome", "bound", "shuffled")},
            "recipe": {k: cfg[k] for k in ("pairs_per_tf", "batch_size", "lr", "epochs", "patience", "lam")},
            "pos_weight": [round(float(v), 3) for v in pw], "strands": cfg["strands"],
            "excluded_chroms": list(HOLDOUT_CHROMS)}  # no tfbs-snr pair and no genome window of these trained it
    if init is not None:
        meta["continued_from"] = {"checkpoint": str(init), "history": history0}

    def save(per_tf=None, history=None):
        if out is not None:
            save_checkpoint(out, net, model_name="dilated", task=TASK, hparams=hp,
                            meta={**meta, "per_tf": per_tf or {}, "history": history or {}})

    t0 = time.time()
    res = fit(net, (train.x, train.y, train.mask), (valid.x, valid.y, valid.mask),
              loss_fn=lambda o, y, m: masked_nucleotide_loss(o, y, m, pw, lam=cfg["lam"]), epochs=cfg["epochs"], lr=cfg["lr"],
              batch_size=cfg["batch_size"], patience=cfg["patience"], seed=seed, device=device, amp=amp,
              max_seconds=max_seconds, verbose=verbose, desc="multitask",
              on_epoch_end=lambda e, m, r: save(history=r.as_dict()))
    train_seconds = time.time() - t0
    net.to("cpu").eval()
    cal = calibrate_all(net, tfs, valid, valid_windows, workers=workers, strands=cfg["strands"])
    test = paper_protocol_metrics(net, tfs, snr_dir)
    per_tf = {tf: {"threshold": cal[tf]["threshold"], "calibration": cal[tf], "test_metrics": test.get(tf, {})}
              for tf in tfs}
    meta["train_seconds"] = round(train_seconds, 2)
    save(per_tf, res.as_dict())
    return {"tfs": tfs, "per_tf": per_tf, "history": res.as_dict(), "train_seconds": train_seconds,
            "checkpoint": str(out) if out is not None else None, "net": net}
