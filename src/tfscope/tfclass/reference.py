"""Classifying motifs against JASPAR 2024 with the shipped family model (``tfscope family predict``,
``tfscope family evaluate --mode reference``).

The shipped checkpoint ``resources/family/knn_kmer`` (a :class:`~tfscope.tfclass.model.KnnKmerHeads`, the one
checkpoint format) holds the default model, ``knn-kmer-vote`` (:data:`tfscope.tfclass.stack.DEFAULT_MODEL`): the
knn-stack (5 metrics: 3 column metrics, the gapped and the ungapped k-mer profile correlations) and kmer-lr heads
fitted on all 2,112 JASPAR 2024 motifs, the class-shared conditional logit over both and the soft vote of that
conditional logit with the heads' log-linear pool; its two temperatures, pool weight and abstain threshold are
calibrated on grouped inner out-of-fold predictions (``config.json`` ``meta``). Its ``meta`` names the recipe
(``variant``) and lists the JASPAR matrix IDs it was fitted on: the stack's features are similarities to exactly
those motifs, so a checkpoint fitted on another reference set is refused. Built by :func:`fit_reference_model`
(``tfscope tfclass train``; ``--model knn-kmer-clogit`` / ``knn-kmer-dedup`` / ``knn-kmer`` for the earlier
defaults).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import CheckpointError
from ..motif import information_content
from .kmer_profile import kmer_profile
from .knn import METRICS, all_similarities, knn_ensemble_proba
from .stack import DEFAULT_MODEL, KnnKmer, make_model, normalise_similarity, uses_gapped, uses_groups

MODEL_NAME = "family_knn_kmer"


def fit_reference_model(ds, out, *, variant: str = DEFAULT_MODEL, k: int = 6, seed: int = 0, progress=print
                        ) -> KnnKmer:
    """Fit the family model ``variant`` (:data:`tfscope.tfclass.stack.RECIPES`: ``knn-kmer-vote``, the default,
    ``knn-kmer-clogit``, ``knn-kmer-dedup`` or ``knn-kmer``) on all motifs of ``ds`` (a
    :class:`~tfscope.tfclass.data.FamilyDataset`) and save it to the checkpoint directory ``out`` (atomic). Returns
    the fitted model. Raises ValueError for an unknown variant."""
    import time

    from ..checkpoint import save_checkpoint
    from .splits import paralog_group

    model = make_model(variant, len(ds.classes), seed=seed, k=k)
    t = time.time()
    raw, _ = all_similarities(ds.pfms, ds.pfms, exclude_self=True)
    progress(f"all-vs-all similarities of {len(ds)} motifs: {time.time() - t:.0f} s")
    L = np.array([p.shape[1] for p in ds.pfms])
    sims = [normalise_similarity(s, m, L) for s, m in zip(raw, METRICS)]
    groups = [paralog_group(n) for n in ds.names] if uses_groups(variant) else None
    model.fit(sims, kmer_profile(ds.pfms, k), ds.labels, groups,
              gapped=kmer_profile(ds.pfms, k, gapped=True) if uses_gapped(variant) else None)
    progress(f"fitted {variant}: stack C {model.stack.C_}, pooling weight {model.weight_}"
             + (f" ({'pool temperature ' + format(model.pool_temperature_, '.3f') if model.vote else 'not used'}; "
                f"conditional logit beta {np.round(model.clogit_[0], 3).tolist()}, gamma "
                f"{np.round(model.clogit_[1], 3).tolist()})" if model.clogit_ is not None else "")
             + f", temperature {model.temperature_:.3f}, abstain below {model.min_confidence_}")
    mod = model.to_module()
    save_checkpoint(out, mod, model_name=MODEL_NAME, task="family", hparams=mod.hparams,
                    meta={"variant": variant, "classes": ds.classes, "release": ds.release,
                          "matrix_ids": list(ds.ids), "stack_C": model.stack.C_, "pool_weight": model.weight_,
                          "inner_nll": model.inner_nll, "kmer_C": model.kmer_C, **model.meta(),
                          **({"clogit": {n: np.round(v, 6).tolist() for n, v in zip(("beta", "gamma", "alpha"),
                                                                                    model.clogit_)}}
                             if model.clogit_ is not None else {})})
    return model


def load_reference_model(ds, path=None) -> KnnKmer:
    """Load a ``family_knn_kmer`` checkpoint (default: the shipped ``knn-kmer-vote``) for the reference set
    ``ds``; the returned model's ``variant`` is its recipe name (``knn-kmer`` for checkpoints without one).

    Raises CheckpointError if the checkpoint is not a ``family_knn_kmer`` model or was fitted on other classes or
    other reference motifs than ``ds``.
    """
    from ..checkpoint import load_checkpoint

    from ..resources import resource

    path = resource("tfclass_model") if path is None else Path(path)
    net, cfg = load_checkpoint(path, task="family")
    if cfg.get("model") != MODEL_NAME:
        raise CheckpointError(f"{path}: a {cfg.get('model')!r} checkpoint, expected {MODEL_NAME!r}")
    meta = cfg.get("meta", {})
    if meta.get("classes") != list(ds.classes):
        raise CheckpointError(f"{path}: checkpoint classes differ from the {ds.release} dataset's")
    if meta.get("matrix_ids") != list(ds.ids):
        raise CheckpointError(f"{path}: fitted on other reference motifs than the {len(ds)} {ds.release} motifs")
    groups = None
    if meta.get("dedup"):
        from .splits import paralog_group

        groups = [paralog_group(n) for n in ds.names]
    try:
        k = int(cfg["hparams"]["k"])
        kmer_ref = kmer_profile(ds.pfms, k) if meta.get("kmer_metric") else None
        gapped_ref = kmer_profile(ds.pfms, k, gapped=True) if meta.get("gapped_metric") else None
        model = KnnKmer.from_module(net, ds.labels, top=int(meta.get("top", 2)), train_groups=groups,
                                    dedup=bool(meta.get("dedup", False)),
                                    temperature=float(meta.get("temperature", 1.0)),
                                    min_confidence=meta.get("min_confidence"),
                                    row_standardise=bool(meta.get("row_standardise", False)),
                                    kmer_metric=bool(meta.get("kmer_metric", False)), kmer_reference=kmer_ref,
                                    gapped_metric=bool(meta.get("gapped_metric", False)),
                                    gapped_reference=gapped_ref, vote=bool(meta.get("vote", False)),
                                    pool_temperature=float(meta.get("pool_temperature", 1.0)))
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from e
    model.variant = meta.get("variant", "knn-kmer")
    return model


def classify(pfms, ds=None, *, model_path=None) -> dict:
    """Class probabilities of motifs ``(4, L_i)`` against the JASPAR 2024 reference set.

    Returns ``{"dataset": ds, "sims": raw similarity matrices (METRICS order), "tomtom_p": (n, n_reference),
    "proba": {model: (n, n_classes)}, "model": the checkpoint's recipe name, "min_confidence": its abstain
    threshold (None if it has none)}`` for the models ``knn-ensemble-k1`` (thesis vote), ``knn-stack``, ``kmer-lr``
    and the checkpoint's model (``knn-kmer-vote`` for the shipped one; its knn-stack and kmer-lr heads give the
    two before; ``model_path`` default: shipped), plus ``"information_bits"`` ``(n,)`` (each query's total
    information content), ``"min_information_bits"`` (the least informative reference motif's) and
    ``"informative"`` ``(n,)`` bool (query at least as informative as that). The models' features are all relative
    to the query's best match, so a near-uniform query (which Tomtom matches well to the flat stretches of long
    motifs) can get a confident-looking class; ``predict`` treats queries that are not ``informative`` as low
    confidence.
    """
    from .data import build_dataset

    ds = build_dataset() if ds is None else ds
    model = load_reference_model(ds, model_path)
    raw, pv = all_similarities(pfms, ds.pfms)
    L = np.array([p.shape[1] for p in pfms])
    sims = [normalise_similarity(s, m, L) for s, m in zip(raw, METRICS)]
    kmers = kmer_profile(pfms, model.k)
    gapped = kmer_profile(pfms, model.k, gapped=True) if model.gapped_metric else None
    lp_stack, lp_kmer = model.part_log_proba(sims, kmers, gapped)
    proba = {"knn-ensemble-k1": knn_ensemble_proba(raw, ds.labels, len(ds.classes), 1),
             "knn-stack": np.exp(lp_stack), "kmer-lr": np.exp(lp_kmer),
             model.variant: np.exp(model.predict_log_proba(sims, kmers, gapped))}
    bits = np.array([information_content(p).sum() for p in pfms])
    floor = float(min(information_content(p).sum() for p in ds.pfms))
    return {"dataset": ds, "sims": raw, "tomtom_p": pv, "proba": proba, "model": model.variant,
            "min_confidence": model.min_confidence_, "information_bits": bits, "min_information_bits": floor,
            "informative": bits >= floor}
