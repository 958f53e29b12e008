"""Nucleotide-resolution TFBS prediction (the BertSNR task): train, evaluate, predict.

Every model maps one-hot windows ``(N, 4, L)`` to per-nucleotide logits ``(N, L)``. The sequence-level score of
a window is its highest nucleotide probability. Models: ``dilated`` (tfscope's dilated residual CNN),
``deepsnr`` (Salekin et al. 2018), ``daednet`` (Zhang et al. 2021) and ``pwm`` (JASPAR PWM matching).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..checkpoint import load_checkpoint, save_checkpoint
from ..checkpoint_schema import NAME_RULE, is_name
from ..device import resolve_device
from ..errors import InputError
from ..io.jaspar import DEFAULT_RELEASE, jaspar_matrices, jaspar_matrix, motif_pfm, pfm_to_log_odds
from ..io.motifs import read_motifs
from ..metrics import best_f1_threshold, binary_metrics, snr_metrics
from ..models import build_model
from ..models.pwm import PWMScanner
from ..resources import resource
from ..scan.engine import ScanModel, window_max_scores
from ..scan.models import load_scan_models
from ..sequence import decode
from ..train import fit, predict
from ..zoo.genomic import HOLDOUT_CHROMS, site_intervals
from .bertsnr import BertSNR, MultiTaskView, bertsnr_loss
from .data import SnrData, load_snr, pair_groups, train_valid_test

TASK = "snr"
NEURAL_MODELS = ("dilated", "deepsnr", "daednet", "bertsnr", "bertsnr-single", "bertsnr-scratch")
BERT_MODELS = ("bertsnr", "bertsnr-single", "bertsnr-scratch")
DEFAULTS = {  # per-model training settings (merged with user overrides)
    "dilated": {"epochs": 6, "lr": 2e-3, "batch_size": 128, "patience": 2, "min_samples": 30_000,
                "hparams": {"channels": 32}},
    "deepsnr": {"epochs": 20, "lr": 2e-3, "batch_size": 128, "patience": 15, "min_samples": 300_000,
                "hparams": {"motif_length": 20}},
    "daednet": {"epochs": 8, "lr": 2e-3, "batch_size": 128, "patience": 2, "min_samples": 30_000, "hparams": {}},
    # BertSNR: pretrained backbone + multi-task heads; -single: token head only; -scratch: no pretraining
    # (one recipe for all three variants, so that only the initialisation differs; lr 3e-4 and patience 4 are the
    # recipe the shipped h256 backbone was fine-tuned with on GPU, see docs/bertsnr.md). lam 0.1, not 0.5: chosen on
    # the tfbs-snr validation rows (benchmarks/bertsnr_ablation.py: KLF4 / E2F1 nt AUPRC 0.908 / 0.893 vs 0.738 /
    # 0.503 with 0.5, whose sequence loss starves the token head of gradient)
    "bertsnr": {"epochs": 4, "lr": 3e-4, "batch_size": 64, "patience": 4, "min_samples": 30_000, "hparams": {},
                "lam": 0.1},
    "bertsnr-single": {"epochs": 4, "lr": 3e-4, "batch_size": 64, "patience": 4, "min_samples": 30_000,
                       "hparams": {}, "lam": 0.0},
    "bertsnr-scratch": {"epochs": 4, "lr": 3e-4, "batch_size": 64, "patience": 4, "min_samples": 30_000,
                        "hparams": {"k": 3}, "lam": 0.1},
}


def nucleotide_loss(logits: torch.Tensor, y_nt: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over all nucleotides (logits and labels ``(N, L)``)."""
    return F.binary_cross_entropy_with_logits(logits, y_nt)


def predict_windows(model, x: np.ndarray, *, batch_size: int = 512,
                    device: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-nucleotide probabilities ``(N, L)`` and sequence-level scores ``(N,)`` (max over positions); ``device``
    as in :func:`tfscope.train.predict` (default: where the model is)."""
    p = predict(model, x, batch_size=batch_size, device=device)
    return p, p.max(axis=1) if len(p) else np.zeros(0, np.float32)


def pwm_candidates(tf: str, *, matrix=None, release: str | None = None) -> list[dict]:
    """The matrices :func:`fit_pwm` chooses from: ``{"matrix_id", "name", "source", "pfm" (4, W)}`` each.

    ``matrix`` None: every JASPAR CORE vertebrate matrix named ``tf`` in ``release`` (all IDs and versions,
    :func:`tfscope.io.jaspar.jaspar_matrices`). ``matrix`` a path to an existing motif file (JASPAR, MEME or plain
    PFM; :func:`tfscope.io.motifs.read_motifs`): its motifs. Otherwise a JASPAR matrix ID such as ``MA0524.1``
    (:func:`tfscope.io.jaspar.jaspar_matrix`).

    Raises InputError for an unknown TF, ID or unreadable file.
    """

    release = release or DEFAULT_RELEASE
    if matrix is None:
        return [{"matrix_id": m.matrix_id, "name": m.name, "source": release, "pfm": motif_pfm(m)}
                for m in jaspar_matrices(tf, release=release)]
    if Path(matrix).is_file():

        return [{"matrix_id": name.split()[0] if name.split() else f"motif{i + 1}",
                 "name": " ".join(name.split()[1:]) or name, "source": str(matrix), "pfm": pfm}
                for i, (name, pfm) in enumerate(read_motifs(matrix))]
    m = jaspar_matrix(str(matrix), release=release)
    return [{"matrix_id": m.matrix_id, "name": m.name, "source": m.release, "pfm": motif_pfm(m)}]


def fit_pwm(tf: str, train: SnrData, *, release: str | None = None, matrix=None, max_windows: int = 4000):
    """PWM baseline: the TF's best-fitting JASPAR matrix; relative-score threshold for best nucleotide F1 on
    ``train``.

    The candidates are :func:`pwm_candidates` (``matrix``: a JASPAR ID or a motif file; default all the TF's JASPAR
    CORE vertebrate matrices of ``release``, JASPAR 2022 by default). Each is scanned over the first
    ``max_windows`` training windows (both strands, best relative score per nucleotide), and the one whose scan
    ranks the training sites' nucleotides best (nucleotide average precision, which also rewards a width that
    matches the sites) is used. JASPAR's newest matrix by ID is often a different experiment: for TFAP2C it is
    MA0815.1 (13 bp) while the tfbs-snr-style sites are 15 bp and match MA0524.1.

    Returns ``(model, hparams, meta)``; ``meta`` names the matrix (``jaspar_id``, ``jaspar_name``,
    ``jaspar_release`` = its source) and lists every candidate's width and training AUPRC (``pwm_candidates``).
    Raises :class:`InputError` for TFs without a JASPAR motif, unknown IDs and bad motif files.
    """
    from sklearn.metrics import average_precision_score

    cands = pwm_candidates(tf, matrix=matrix, release=release)
    n = min(len(train), max_windows)
    x, y = torch.from_numpy(train.x[:n]), train.y_nt[:n]
    has_sites = 0 < y.sum() < y.size
    rows, best = [], None
    for c in cands:
        lo = pfm_to_log_odds(c["pfm"])
        model = PWMScanner(width=lo.shape[1]).set_pwm(lo)
        rel = model.relative_scores(x).numpy()
        ap = float(average_precision_score(y.ravel(), rel.ravel())) if has_sites else float("nan")
        rows.append({"matrix_id": c["matrix_id"], "width": int(lo.shape[1]), "train_nt_auprc": round(ap, 4)})
        if best is None or (has_sites and ap > best[0]):
            best = (ap, c, model, rel)
    _, c, model, rel = best
    thr = best_f1_threshold(y, rel)
    model.set_threshold(thr)
    width = int(model.log_odds.shape[1])
    hparams = {"width": width, "threshold": float(thr), "scale": model.scale}
    sites = y.sum(1)
    meta = {"jaspar_id": c["matrix_id"], "jaspar_name": c["name"], "jaspar_release": c["source"],
            "pwm_choice": "given" if len(cands) == 1 and matrix is not None else "best train nucleotide AUPRC",
            "pwm_candidates": rows, "train_site_width": float(np.median(sites[sites > 0])) if has_sites else None}
    return model, hparams, meta


def train_snr(table, *, model: str = "dilated", out=None, tf: str | None = None, seed: int = 0,
              epochs: int | None = None, lr: float | None = None, batch_size: int | None = None,
              patience: int | None = None, hparams: dict | None = None, max_seconds: float | None = None,
              min_samples: int | None = None, backbone=None, lam: float | None = None,
              background=None, exclude_chroms=(), device: str = "auto", amp: str | None = None,
              matrix=None, freeze_layers: int = 0, verbose: bool = True) -> dict:
    """Train one nucleotide-resolution model on a TFBS table and evaluate it on the table's ``test`` rows.

    Parameters
    ----------
    table : path
        TFBS window table (see :mod:`tfscope.io.tables`); ``split == train`` rows train (10% carved out for
        validation/early stopping), ``split == test`` rows evaluate.
    model : {"dilated", "deepsnr", "daednet", "pwm", "bertsnr", "bertsnr-single", "bertsnr-scratch"}
    out : path, optional
        Checkpoint directory to write (safetensors + config.json).
    tf : str, optional
        TF name (default: the table's file name stem); needed by ``pwm`` to find the JASPAR matrix.
    matrix : str or path, optional
        ``pwm`` only: a JASPAR matrix ID (``MA0524.1``) or a motif file to scan with; default: the TF's JASPAR
        matrix whose scan fits the training sites best (:func:`fit_pwm`). Printed and stored in ``meta``.
    min_samples : int, optional
        Small tables get more epochs so that at least this many windows are seen (``epochs`` is a floor; default
        per model in :data:`DEFAULTS`); early stopping still applies.
    backbone : path, optional
        DNABERT-style pretrained encoder directory for ``bertsnr``/``bertsnr-single`` (default: the backbone
        shipped in ``resources/backbone``).
    lam : float, optional
        BertSNR multi-task weight lambda of the sequence loss (default 0.1, chosen on validation rows; the
        single-task variant uses the token loss only).
    freeze_layers : int
        BertSNR variants only: keep the k-mer embeddings and the lowest ``freeze_layers`` encoder layers fixed
        (fewer gradients to compute and store on CPU; recorded as ``meta.frozen_layers``). 0: fine-tune everything.
    background : tfscope.zoo.genomic.GenomicBackground, optional
        Train against real genome too (the ``--negatives genomic`` recipe of the zoo): the table's train rows
        whose site lies on a held-out chromosome (chr7, chr8, chr9: :data:`tfscope.zoo.genomic.HOLDOUT_CHROMS`)
        are dropped, the TF's genomic training windows
        (its sites + sampled genomic negatives, :meth:`~tfscope.zoo.genomic.GenomicBackground.train_valid`) are
        added, validation uses the chr7 genome windows, and the call threshold is calibrated on them at window
        level (:func:`calibrate_threshold`). Needs genome coordinates in the table.
    exclude_chroms : sequence of str
        Drop train and validation rows whose window lies on these chromosomes (a shuffle goes with its bound row):
        the localizers of the genomic zoo train without chr7, chr8 and chr9 so that no per-site number on the
        calibration (chr7), test (chr8) or withheld (chr9) chromosome measures memorised sites. Test rows stay.
    device : str
        ``auto`` (CUDA when available), ``cpu`` or ``cuda[:N]`` for training and prediction; the saved
        checkpoint is device-free. ``amp``: autocast while training (``bf16`` on CUDA or CPU, ``fp16`` on CUDA;
        :func:`tfscope.device.autocast`); evaluation runs in fp32.

    Returns
    -------
    dict
        ``{"tf", "model", "metrics": {...}, "train_seconds", "threshold", "checkpoint", "history"}``;
        metrics are those of :func:`tfscope.metrics.snr_metrics` on the test rows (empty if there are none).
        ``pwm`` adds ``"matrix"``: the JASPAR ID, name and source used, how it was chosen and every candidate's
        width and training AUPRC (:func:`fit_pwm`).

    Raises
    ------
    InputError
        Bad table, unknown model, no train rows, unknown TF for ``pwm``, a TF name that is not a valid name
        (:data:`tfscope.checkpoint_schema.NAME_PATTERN`).
    """
    tf = tf or Path(table).name.split(".")[0]

    if not is_name(tf):  # the checkpoint would be refused at load: names become file names and page text
        raise InputError(f"TF name {tf!r} is not a valid name ({NAME_RULE}); give --tf NAME")
    if model not in (*NEURAL_MODELS, "pwm"):
        raise InputError(f"unknown model {model!r}; choose from {', '.join((*NEURAL_MODELS, 'pwm'))}")
    if freeze_layers and model not in BERT_MODELS:
        raise InputError(f"freeze_layers applies to the BertSNR models, not {model}")
    if matrix is not None and model != "pwm":
        raise InputError(f"a matrix ({matrix}) is only used by --model pwm, not {model}")
    data = load_snr(table)
    tr, va, te = train_valid_test(data, seed=seed)
    if len(exclude_chroms):
        tr, va = (d.subset(~np.isin(d.chrom[pair_groups(d.y_seq)], list(exclude_chroms))) for d in (tr, va))
    if background is not None:

        g_tr, g_va = background.train_valid(site_intervals(table), seed=seed)
        held = np.isin(tr.chrom[pair_groups(tr.y_seq)], HOLDOUT_CHROMS)  # a shuffle goes with its positive
        tr = SnrData.concat([tr.subset(~held), g_tr])
        va = SnrData.concat([va.subset(~np.isin(va.chrom[pair_groups(va.y_seq)], HOLDOUT_CHROMS)), g_va])
    t0 = time.time()
    history = {}
    if model == "pwm":
        net, hp, meta = fit_pwm(tf, tr, matrix=matrix)
        if verbose:
            print(f"{tf}/pwm: JASPAR matrix {meta['jaspar_id']} {meta['jaspar_name']} ({hp['width']} bp; "
                  f"{meta['pwm_choice']}: " + ", ".join(f"{r['matrix_id']} {r['width']} bp {r['train_nt_auprc']}"
                                                         for r in meta["pwm_candidates"]) + ")", file=sys.stderr,
                  flush=True)
        model_name = "pwm"
    else:
        cfg = {**DEFAULTS[model]}
        for k, v in (("epochs", epochs), ("lr", lr), ("batch_size", batch_size), ("patience", patience)):
            if v is not None:
                cfg[k] = v
        hp = {**cfg["hparams"], **(hparams or {})}
        ms = cfg["min_samples"] if min_samples is None else min_samples
        cfg["epochs"] = max(cfg["epochs"], -(-ms // max(len(tr), 1)))
        torch.manual_seed(seed)
        meta = {}
        common = dict(epochs=cfg["epochs"], lr=cfg["lr"], batch_size=cfg["batch_size"], patience=cfg["patience"],
                      seed=seed, verbose=verbose, desc=f"{tf}/{model}", max_seconds=max_seconds, device=device,
                      amp=amp)
        if model in BERT_MODELS:
            net, meta = _build_bertsnr(model, hp, backbone)
            lam_ = cfg["lam"] if lam is None else lam
            params = _unfrozen(net, freeze_layers)
            res = fit(MultiTaskView(net), (tr.x, tr.y_nt, tr.y_seq), (va.x, va.y_nt, va.y_seq),
                      loss_fn=lambda out, y, ys: bertsnr_loss(out, y, ys, k=net.k, lam=lam_), parameters=params,
                      **common)
            hp = net.hparams()
            meta["lambda"] = lam_
            if freeze_layers:
                meta["frozen_layers"] = int(freeze_layers)
            model_name = "bertsnr"
        else:
            net = build_model(model, **hp)
            res = fit(net, (tr.x, tr.y_nt), (va.x, va.y_nt), loss_fn=nucleotide_loss, **common)
            model_name = model
        history = res.as_dict()
    train_seconds = time.time() - t0
    dev = resolve_device(device)
    # per-TF threshold on validation windows (used by scanning); metrics below use the paper's 0.5
    calibration = None
    if background is not None:
        calibration = calibrate_threshold(net, g_va, tf=tf)
        threshold = calibration["threshold"]
    else:
        pv, _ = predict_windows(net, va.x, device=dev)
        threshold = best_f1_threshold(va.y_nt, pv) if model != "pwm" else 0.5
    metrics = {}
    if len(te):
        p_nt, p_seq = predict_windows(net, te.x, device=dev)
        metrics = snr_metrics(te.y_nt, p_nt, te.y_seq, p_seq)
    meta.update({"tf": tf, "window": int(data.x.shape[-1]), "labels": [tf], "threshold": threshold,
                 "train_rows": int(len(tr)), "valid_rows": int(len(va)), "test_rows": int(len(te)),
                 "table": Path(table).name, "seed": seed, "test_metrics": metrics,
                 "train_seconds": round(train_seconds, 2), "history": history,
                 "negatives": "genomic+shuffled" if background is not None else "shuffled"})
    if len(exclude_chroms):
        meta["excluded_chroms"] = sorted(exclude_chroms)
    bound = tr.y_seq > 0
    if bound.any():  # the width of one call (tfscope.scan.calls): the median site length of the training sites
        meta["site_width"] = int(np.median(tr.y_nt[bound].sum(1)))
    if calibration is not None:
        meta["calibration"] = calibration
    ckpt = None
    net.to("cpu")  # checkpoints and the returned model are device-free
    if out is not None:
        meta["variant"] = model
        ckpt = str(save_checkpoint(out, net, model_name=model_name, task=TASK, hparams=hp, meta=meta))
    res = {"tf": tf, "model": model, "metrics": metrics, "train_seconds": train_seconds, "threshold": threshold,
           "checkpoint": ckpt, "history": history, "net": net}
    if model == "pwm":  # which matrix was used, and how it was chosen
        res["matrix"] = {k: meta[k] for k in ("jaspar_id", "jaspar_name", "jaspar_release", "pwm_choice",
                                              "pwm_candidates")}
    return res


def calibrate_threshold(net, valid: SnrData, *, tf: str = "") -> dict:
    """Call threshold of a scanning model chosen on real genome windows (window level, best F1).

    ``valid`` holds genome windows in genomic order (the chr7 windows of tfbs-multilabel); they are scanned as
    one sequence with :func:`tfscope.scan.engine.window_max_scores`, exactly as the genomic benchmark scans chr8, and a
    window counts as called when any nucleotide reaches the threshold. The threshold maximising window-level F1 is
    returned with the precision and recall it gives there, which is what a call means: "of the validation windows
    with a call, ``precision`` held a ChIP-seq-supported JASPAR site of the TF".

    Returns
    -------
    dict
        ``threshold``, ``precision``, ``recall``, ``window_auroc``, ``window_auprc``, ``n_windows``,
        ``n_positive``, ``set`` (description of the validation windows).
    """

    score = window_max_scores([ScanModel(tf, net)], decode(valid.x))[0]
    thr = best_f1_threshold(valid.y_seq, score)
    m = binary_metrics(valid.y_seq, score, threshold=thr)
    chroms = ",".join(sorted(set(valid.chrom.tolist()))) if valid.chrom is not None else "?"
    return {"threshold": float(thr), "precision": m["precision"], "recall": m["recall"],
            "window_auroc": m["auroc"], "window_auprc": m["auprc"], "n_windows": m["n"], "n_positive": m["n_pos"],
            "set": f"tfbs-multilabel genome windows on {chroms}, scanned in genomic order; best window-level F1"}


def _unfrozen(net, freeze_layers: int):
    """Parameters of a BertSNR left to train when its embeddings and lowest ``freeze_layers`` encoder layers are
    frozen (``requires_grad`` off for those). Raises InputError when ``freeze_layers`` is negative or not below the
    number of encoder layers."""
    layers = net.bert.encoder.layer
    if not 0 <= freeze_layers < len(layers):
        raise InputError(f"freeze_layers must lie in [0, {len(layers) - 1}], got {freeze_layers}")
    if freeze_layers:
        for module in [net.bert.embeddings, *layers[:freeze_layers]]:
            for p in module.parameters():
                p.requires_grad_(False)
    return [p for p in net.parameters() if p.requires_grad]


def _build_bertsnr(variant: str, hp: dict, backbone):
    """BertSNR for a variant: pretrained backbone (``bertsnr``, ``bertsnr-single``) or random init (scratch)."""

    if variant == "bertsnr-scratch":
        return BertSNR(**{"k": 3, **hp}), {"backbone": None}
    unknown = set(hp) - {"seq_pool"}
    if unknown:  # the encoder's shape comes from the backbone; only the heads can be chosen
        raise InputError(f"hparams {sorted(unknown)} do not apply to a pretrained backbone (only seq_pool)")

    path = Path(backbone) if backbone else resource("backbone")
    if not (path / "config.json").exists():
        raise InputError("no pretrained DNA BERT backbone found (run `tfscope pretrain` or pass --backbone DIR "
                         "with a DNABERT-style model); `--model bertsnr-scratch` trains without one", str(path))
    net = BertSNR.from_backbone(path, multitask=(variant == "bertsnr"), seq_pool=hp.get("seq_pool", "cls"))
    meta = {"backbone": "shipped:" + str(path.name) if path == resource("backbone") else str(path)}
    rec = path / "pretraining.json"
    if rec.exists():  # name the backbone in the checkpoint: its size, pretraining result and source

        r = json.loads(rec.read_text())
        meta["backbone_record"] = {k: r.get(k) for k in ("k", "bert", "parameters", "heldout_mlm_accuracy",
                                                           "windows_seen", "sha256_fp32_original")}
    return net, meta


def evaluate_snr(checkpoint, table, *, split: str = "test", device: str = "auto", tf: str | None = None) -> dict:
    """Metrics of a saved model on the ``split`` rows of a TFBS table (``split="all"`` uses every row), predicted
    on ``device`` (``auto``: CUDA when available).

    A multi-TF checkpoint (:mod:`tfscope.zoo.multitask`, ``meta.tfs``) is evaluated on the output track of ``tf``
    (default: the table's file name stem, e.g. ``KLF4`` for ``KLF4.tsv.gz``).

    Raises
    ------
    CheckpointError
        If the checkpoint is not an ``snr`` model.
    InputError
        Bad table, no rows in ``split``, or a TF that a multi-TF checkpoint lacks.
    """

    net, cfg = load_checkpoint(checkpoint, task=TASK)
    if "tfs" in cfg.get("meta", {}):
        net = load_scan_models([checkpoint], tfs=[tf or Path(table).name.split(".")[0]])[0].single_output()
    data = load_snr(table, window=None)
    if split != "all":
        data = data.subset(data.split == split)
    if not len(data):
        raise InputError(f"table has no rows with split == {split!r}", str(table))
    p_nt, p_seq = predict_windows(net, data.x, device=resolve_device(device))
    return snr_metrics(data.y_nt, p_nt, data.y_seq, p_seq)
