"""Classifying motifs against JASPAR 2024 with the shipped family model (``tfscope family predict``,
``tfscope family evaluate --mode reference``).

The shipped checkpoint ``resources/family/knn_kmer`` (a :class:`~tfscope.tfclass.model.KnnKmerHeads`, the one
checkpoint format) holds the default model, ``knn-kmer-vote`` (:data:`tfscope.tfclass.knn_kmer.DEFAULT_MODEL`): the
knn-stack (5 metrics: 3 column metrics, the gapped and the ungapped k-mer profile correlations) and kmer-lr heads
fitted on all 2,112 JASPAR 2024 motifs, the class-shared conditional logit over both and the soft vote of that
conditional logit with the heads' log-linear pool; its two temperatures, pool weight and abstain threshold are
calibrated on grouped inner out-of-fold predictions (``config.json`` ``meta``). Its ``meta`` names the recipe
(``variant``) and lists the JASPAR matrix IDs it was fitted on: the stack's features are similarities to exactly
those motifs, so a checkpoint fitted on another reference set is refused. Built by :func:`fit_reference_model`
(``tfscope tfclass train``; ``--model knn-kmer-clogit`` / ``knn-kmer-dedup`` / ``knn-kmer`` for the earlier
defaults).

Beside the weights, the checkpoint holds what the reference motifs need at prediction time, computed once at build
time (:func:`save_reference_pack`, ``reference.npz``: numeric arrays only, no pickles): the reference matrices with
their IDs, names and classes (so ``predict`` does not read JASPAR through pyjaspar) and their row-standardised
ungapped and gapped k-mer profiles (float16; recomputing them took about 10 s per run). ``knn-kmer-vote`` checkpoints
also carry the known-class detector (:mod:`tfscope.tfclass.novelty`) in ``meta["novelty"]``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..checkpoint import load_checkpoint, save_checkpoint
from ..errors import CheckpointError, InputError
from ..io.atomic import atomic_write
from ..motif import information_content
from ..resources import resource
from .data import FamilyDataset, build_dataset
from .kmer_profile import kmer_profile, kmer_similarity, standardise_rows
from .knn import METRICS, all_similarities, knn_ensemble_proba
from .knn_kmer import DEFAULT_MODEL, KnnKmer, make_model, uses_gapped, uses_groups
from .novelty import fit_novelty, known_probability, novelty_features
from .open_set import accept, fit_open_set_rule, open_set_features, simulate_open_set
from .splits import paralog_group
from .stack import normalise_similarity

MODEL_NAME = "family_knn_kmer"
PACK = "reference.npz"  # the reference motifs' precomputed data inside a family_knn_kmer checkpoint


def save_reference_pack(out, ds, kmer, gapped=None) -> Path:
    """Write ``out/reference.npz``: the reference set ``ds`` (matrix IDs, TF names, class labels and names, release,
    the matrices as concatenated float64 columns with their lengths) and its row-standardised k-mer profiles
    ``kmer`` / ``gapped`` ``(n, 4**k)`` (:func:`~tfscope.tfclass.kmer_profile.standardise_rows`, stored as float16:
    correlations change by < 3e-4). Written atomically. Returns the path."""

    arrays = {"ids": np.array(ds.ids), "names": np.array(ds.names), "labels": np.asarray(ds.labels, np.int64),
              "classes": np.array(ds.classes), "release": np.array(ds.release),
              "lengths": np.array([p.shape[1] for p in ds.pfms], np.int64),
              "columns": np.concatenate([np.asarray(p, np.float64).T for p in ds.pfms]),
              "kmer_z": standardise_rows(kmer).astype(np.float16)}
    if gapped is not None:
        arrays["gapped_z"] = standardise_rows(gapped).astype(np.float16)
    path = Path(out) / PACK
    with atomic_write(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path


def load_reference_pack(path) -> dict | None:
    """The reference pack of the checkpoint directory ``path`` (:func:`save_reference_pack`): ``{"dataset":
    FamilyDataset, "kmer_z": (n, 4**k) float32, "gapped_z": ... or None}``; None when the checkpoint has none
    (older checkpoints). Raises CheckpointError for an unreadable or inconsistent pack."""

    f = Path(path) / PACK
    if not f.exists():
        return None
    try:
        with np.load(f, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
        ends = np.cumsum(a["lengths"])
        if ends[-1] != len(a["columns"]) or not (len(a["ids"]) == len(a["names"]) == len(a["labels"])
                                                 == len(a["lengths"]) == len(a["kmer_z"])):
            raise ValueError("array lengths disagree")
        pfms = [c.T.copy() for c in np.split(a["columns"], ends[:-1])]
    except (OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"{f}: unreadable reference pack ({e})") from None
    ds = FamilyDataset(ids=a["ids"].tolist(), names=a["names"].tolist(), pfms=pfms, labels=a["labels"],
                       classes=a["classes"].tolist(), release=str(a["release"]))
    gz = a.get("gapped_z")
    return {"dataset": ds, "kmer_z": a["kmer_z"].astype(np.float32),
            "gapped_z": None if gz is None else gz.astype(np.float32)}


def reference_dataset(model_path=None):
    """The reference motifs of a ``family_knn_kmer`` checkpoint (default: the shipped model), from its reference pack
    when it has one, else JASPAR 2024 through pyjaspar (:func:`tfscope.tfclass.data.build_dataset`)."""

    pack = load_reference_pack(resource("tfclass_model") if model_path is None else model_path)
    return pack["dataset"] if pack is not None else build_dataset()


def fit_reference_model(ds, out, *, variant: str = DEFAULT_MODEL, k: int = 6, seed: int = 0, progress=print,
                        open_set: bool = False) -> KnnKmer:
    """Fit the family model ``variant`` (:data:`tfscope.tfclass.knn_kmer.RECIPES`: ``knn-kmer-vote``, the default,
    ``knn-kmer-clogit``, ``knn-kmer-dedup`` or ``knn-kmer``) on all motifs of ``ds`` (a
    :class:`~tfscope.tfclass.data.FamilyDataset`) and save it to the checkpoint directory ``out`` (atomic). With
    ``open_set`` (recipes with the known-class detector only) also fit the open-set rule of
    :mod:`tfscope.tfclass.open_set` on a held-out-class simulation (5 refits on parts of ``ds``) and store it in
    ``meta["open_set"]``. Returns the fitted model (``open_set_``: the rule or None). Raises ValueError for an
    unknown variant."""

    model = make_model(variant, len(ds.classes), seed=seed, k=k)
    model.variant = variant
    t = time.time()
    raw, pv = all_similarities(ds.pfms, ds.pfms, exclude_self=True)
    progress(f"all-vs-all similarities of {len(ds)} motifs: {time.time() - t:.0f} s")
    L = np.array([p.shape[1] for p in ds.pfms])
    sims = [normalise_similarity(s, m, L) for s, m in zip(raw, METRICS)]
    groups = [paralog_group(n) for n in ds.names] if uses_groups(variant) else None
    kmers = kmer_profile(ds.pfms, k)
    gapped = kmer_profile(ds.pfms, k, gapped=True) if uses_gapped(variant) else None
    model.fit(sims, kmers, ds.labels, groups, gapped=gapped)
    progress(f"fitted {variant}: stack C {model.stack.C_}, pooling weight {model.weight_}"
             + (f" ({'pool temperature ' + format(model.pool_temperature_, '.3f') if model.vote else 'not used'}; "
                f"conditional logit beta {np.round(model.clogit_[0], 3).tolist()}, gamma "
                f"{np.round(model.clogit_[1], 3).tolist()})" if model.clogit_ is not None else "")
             + f", temperature {model.temperature_:.3f}, abstain below {model.min_confidence_}")
    novelty = None
    if model.gapped_metric and model.kmer_metric:  # the known-class detector over the model's five metrics

        ref_sims = sims + [kmer_similarity(gapped, gapped, exclude_self=True),
                           kmer_similarity(kmers, kmers, exclude_self=True)]
        novelty = fit_novelty(ref_sims, ds.labels, L)
        progress(f"known-class detector: unknown below {novelty['min_known']:.3f} (flags "
                 f"{novelty['flag_rate']:.0%} of held-in motifs, catches {novelty['held_out_class_caught']:.0%} of "
                 f"held-out-class motifs, AUROC {novelty['held_out_auroc']:.3f})")
    rule = None
    if open_set and novelty is not None:
        sim = simulate_open_set(raw, pv, kmers, gapped, ds.labels, ds.names, L, variant=variant,
                                rounds=min(5, len(ds.classes)), k=k, seed=seed, progress=progress)
        rule = fit_open_set_rule(sim, len(ds.classes))
        progress(f"open-set rule: simulated known-class motifs answered {rule['simulated']['known_answered']:.0%}, "
                 f"unknown-class motifs called unknown {rule['simulated']['unknown_called_unknown']:.0%}")
    mod = model.to_module()
    save_checkpoint(out, mod, model_name=MODEL_NAME, task="family", hparams=mod.hparams,
                    meta={"variant": variant, "classes": ds.classes, "release": ds.release,
                          "matrix_ids": list(ds.ids), "stack_C": model.stack.C_, "pool_weight": model.weight_,
                          "inner_nll": model.inner_nll, "kmer_C": model.kmer_C, **model.meta(),
                          **({"novelty": novelty} if novelty is not None else {}),
                          **({"open_set": rule} if rule is not None else {}),
                          **({"clogit": {n: np.round(v, 6).tolist() for n, v in zip(("beta", "gamma", "alpha"),
                                                                                    model.clogit_)}}
                             if model.clogit_ is not None else {})})
    save_reference_pack(out, ds, kmers, gapped)
    model.novelty_, model.open_set_ = novelty, rule
    return model


def load_reference_model(ds, path=None) -> KnnKmer:
    """Load a ``family_knn_kmer`` checkpoint (default: the shipped ``knn-kmer-vote``) for the reference set
    ``ds``; the returned model's ``variant`` is its recipe name (``knn-kmer`` for checkpoints without one),
    ``novelty_`` its known-class detector and ``open_set_`` its open-set rule (:mod:`tfscope.tfclass.open_set`;
    ``meta["open_set"]`` of the checkpoint), each None when it has none.

    Raises CheckpointError if the checkpoint is not a ``family_knn_kmer`` model or was fitted on other classes or
    other reference motifs than ``ds``.
    """

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

        groups = [paralog_group(n) for n in ds.names]
    pack = load_reference_pack(path)
    if pack is not None and pack["dataset"].ids != list(ds.ids):
        raise CheckpointError(f"{path}: its reference pack lists other motifs than its config")
    try:
        k = int(cfg["hparams"]["k"])
        if pack is not None:  # precomputed at build time
            kmer_ref = pack["kmer_z"] if meta.get("kmer_metric") else None
            gapped_ref = pack["gapped_z"] if meta.get("gapped_metric") else None
        else:
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
    model.novelty_ = meta.get("novelty")
    model.open_set_ = meta.get("open_set")
    return model


def classify(pfms, ds=None, *, model_path=None, chunk: int = 16, progress: bool = False) -> dict:
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
    confidence. Checkpoints with a known-class detector (:mod:`tfscope.tfclass.novelty`) add ``"known_prob"``
    ``(n,)`` and its threshold ``"min_known"`` (both None without one); with an open-set rule
    (:mod:`tfscope.tfclass.open_set`) also ``"open_set"`` (the rule), ``"right_prob"`` ``(n,)`` (its score) and
    ``"answered"`` ``(n,)`` bool (score at or above the predicted class's threshold); all None without one.

    ``ds`` defaults to the checkpoint's reference pack (:func:`reference_dataset`). Queries are scored ``chunk`` at a
    time (results do not depend on it: Tomtom's null comes from the reference motifs); with ``progress`` a bar
    appears when a run takes more than 2 s. Raises InputError for no motifs.
    """
    from tqdm.auto import tqdm

    if not len(pfms):
        raise InputError("no motifs to classify")
    ds = reference_dataset(model_path) if ds is None else ds
    model = load_reference_model(ds, model_path)
    det = getattr(model, "novelty_", None)
    parts = {k: [] for k in ("raw", "pv", "stack", "kmer", "model", "known")}
    starts = range(0, len(pfms), chunk)
    for a in tqdm(starts, desc="tfclass predict", unit="chunk", delay=2, disable=not progress or len(starts) < 2):
        q = list(pfms[a:a + chunk])
        raw, pv = all_similarities(q, ds.pfms)
        L = np.array([p.shape[1] for p in q])
        sims = [normalise_similarity(s, m, L) for s, m in zip(raw, METRICS)]
        kmers = kmer_profile(q, model.k)
        gapped = kmer_profile(q, model.k, gapped=True) if model.gapped_metric else None
        lp_stack, lp_kmer = model.part_log_proba(sims, kmers, gapped)
        parts["raw"].append(raw)
        parts["pv"].append(pv)
        parts["stack"].append(lp_stack)
        parts["kmer"].append(lp_kmer)
        parts["model"].append(model.predict_log_proba(sims, kmers, gapped))
        if det is not None:

            parts["known"].append(known_probability(novelty_features(model.stack_sims(sims, kmers, gapped), L), det))
    raw = [np.concatenate([r[m] for r in parts["raw"]]) for m in range(len(METRICS))]
    proba = {"knn-ensemble-k1": knn_ensemble_proba(raw, ds.labels, len(ds.classes), 1),
             "knn-stack": np.exp(np.concatenate(parts["stack"])), "kmer-lr": np.exp(np.concatenate(parts["kmer"])),
             model.variant: np.exp(np.concatenate(parts["model"]))}
    bits = np.array([information_content(p).sum() for p in pfms])
    floor = float(min(information_content(p).sum() for p in ds.pfms))
    pv = np.concatenate(parts["pv"])
    known = np.concatenate(parts["known"]) if det is not None else None
    rule = getattr(model, "open_set_", None) if det is not None else None
    right_prob = answered = None
    if rule is not None:
        p = proba[model.variant]
        right_prob, answered = accept(open_set_features(p, known, pv, ds.labels), p.argmax(1), rule)
    return {"dataset": ds, "sims": raw, "tomtom_p": pv, "proba": proba,
            "model": model.variant, "min_confidence": model.min_confidence_, "information_bits": bits,
            "min_information_bits": floor, "informative": bits >= floor,
            "known_prob": known, "min_known": det["min_known"] if det is not None else None,
            "open_set": rule, "right_prob": right_prob, "answered": answered}
