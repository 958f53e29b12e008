"""The layer models as a whole: choose the offline default of a layer, and save/load any protein model.

:func:`select_default` picks between the composition logistic regression (:mod:`tfscope.protein.classic`) and the
z-score stack (:mod:`tfscope.protein.stack`); :func:`save_protein_model` / :func:`load_protein_model` store and
read every classic model kind (linear, TF-IDF k-mer, ensemble, stack, alignment kNN) as JSON + safetensors, dispatching on the
JSON ``format`` (no pickle). Kept apart from both so that neither imports the other in a loop.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import CheckpointError
from .classic import (C_GRID, ENSEMBLE_FORMAT, FEATURE_SETS, FORMAT, KMER_FORMAT, EnsembleModel, KmerTfidfModel,
                      LinearProteinModel, load_linear_model, save_linear_model, select_and_fit)
from .align import ALIGN_FORMAT, AlignmentKnnModel, load_alignment_knn, save_alignment_knn
from .stack import STACK_FORMAT, StackModel, fit_stack, load_stack, save_stack


def select_default(seqs, y, *, labels=("positive", "negative"), seed: int = 0, verbose: bool = False,
                   feature_sets=None, c_grid=C_GRID, alignment: bool = False, groups=None):
    """The offline default for one layer (issue 7): the CV-best composition LR or the
    :class:`~tfscope.protein.stack.StackModel` built on it (composition LR + TF-IDF 2-4-mer LR + 3-5-mer kNN),
    whichever has the higher pooled out-of-fold AUROC (stratified 5-fold CV on ``seqs`` only).

    With ``alignment`` (the layer-2 default, issue 17) the Smith-Waterman kNN of :mod:`tfscope.protein.align`
    (out-of-fold folds grouped by ``groups``, e.g. sequence clusters, when given) is a third candidate.

    The stack and the alignment kNN are only eligible when their Platt slope is positive (not anti-predictive out
    of fold). They carry a threshold chosen on their out-of-fold predictions (max MCC); the composition LR uses
    0.5. ``model.meta["choice"]`` records every CV AUROC and the choice.
    """
    y = np.asarray(y)
    fs = feature_sets or FEATURE_SETS
    lin = select_and_fit(seqs, y, labels=labels, seed=seed, verbose=verbose, feature_sets=fs, c_grid=c_grid)
    st = fit_stack(seqs, y, labels=labels, seed=seed, composition=lin, verbose=verbose)
    auc_lin, auc_st = st.meta["cv_auroc_members"]["composition"], st.meta["cv_auroc"]
    choice = {"composition_lr_cv_auroc": float(auc_lin), "stack_cv_auroc": float(auc_st),
              "composition": lin.meta["chosen"]}
    if verbose:
        print(f"  default choice: composition-lr CV AUROC {auc_lin:.3f} vs stack {auc_st:.3f}", flush=True)
    # A non-positive Platt slope means the members are anti-predictive out of fold (layer 2: near-identical
    # proteins carry opposite labels); a stack that only "works" by flipping its members is not shipped.
    choice["stack_platt_slope"] = float(st.platt[0])
    cands = [("composition-lr", auc_lin, lin)] + ([("stack", auc_st, st)] if st.platt[0] > 0 else [])
    if alignment:
        from .align import fit_alignment_knn

        al = fit_alignment_knn(seqs, y, labels=labels, groups=groups, seed=seed, verbose=verbose)
        choice["alignment_knn_cv_auroc"] = al.meta["cv_auroc"]
        choice["alignment_knn_platt_slope"] = al.meta["platt_slope"]
        if al.meta["platt_slope"] > 0:
            cands.append(("alignment-knn", al.meta["cv_auroc"], al))
    name, _, model = max(cands, key=lambda c: c[1])
    model.meta["choice"] = {**choice, "model": name}
    return model


def save_protein_model(model, directory, name: str, *, provenance: dict | None = None) -> Path:
    """Save a linear, k-mer, ensemble or stack model as ``<name>[.<member>].{json,safetensors}`` (no pickle)."""
    from safetensors.numpy import save

    from ..io.atomic import atomic_write

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(model, LinearProteinModel):
        return save_linear_model(model, d, name, provenance=provenance)
    if isinstance(model, KmerTfidfModel):
        blob = save({"idf": np.ascontiguousarray(model.idf, dtype=np.float64),
                     "coef": np.ascontiguousarray(model.coef, dtype=np.float64),
                     "intercept": np.array([model.intercept], dtype=np.float64)})
        with atomic_write(d / f"{name}.safetensors", "wb") as fh:
            fh.write(blob)
        cfg = {"format": KMER_FORMAT, "model": "TF-IDF amino-acid n-gram logistic regression",
               "ngram_range": list(model.ngram_range), "vocabulary": model.vocabulary, "labels": list(model.labels),
               "threshold": model.threshold, "meta": model.meta, "provenance": provenance or {}}
        with atomic_write(d / f"{name}.json") as fh:
            json.dump(cfg, fh, default=float)
        return d / f"{name}.json"
    if isinstance(model, StackModel):
        return save_stack(model, d, name, provenance=provenance)
    if isinstance(model, AlignmentKnnModel):
        return save_alignment_knn(model, d, name, provenance=provenance)
    if isinstance(model, EnsembleModel):
        names = []
        for i, m in enumerate(model.members):
            names.append(f"{name}.member{i}")
            save_protein_model(m, d, names[-1])
        cfg = {"format": ENSEMBLE_FORMAT, "model": "mean of member probabilities", "members": names,
               "labels": list(model.labels), "threshold": model.threshold, "meta": model.meta,
               "provenance": provenance or {}}
        with atomic_write(d / f"{name}.json") as fh:
            json.dump(cfg, fh, indent=1, default=float)
        return d / f"{name}.json"
    raise TypeError(f"cannot save {type(model).__name__}")


def load_protein_model(directory, name: str):
    """Load a model written by :func:`save_protein_model` (dispatch on the JSON ``format``).

    Raises
    ------
    CheckpointError
        Missing/invalid files, unknown format, mismatched weights.
    """
    from safetensors.numpy import load_file

    d = Path(directory)
    jp = d / f"{name}.json"
    if not jp.exists():
        raise CheckpointError(f"{d}: no protein model {name!r} (needs {name}.json)")
    try:
        cfg = json.loads(jp.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{jp}: invalid JSON ({e})") from e
    fmt = cfg.get("format")
    if fmt == FORMAT:
        return load_linear_model(d, name)
    if fmt == STACK_FORMAT:
        return load_stack(d, name, cfg)
    if fmt == ALIGN_FORMAT:
        return load_alignment_knn(jp, cfg)
    if fmt == ENSEMBLE_FORMAT:
        members = [load_protein_model(d, n) for n in cfg["members"]]
        return EnsembleModel(members, tuple(cfg["labels"]), float(cfg.get("threshold", 0.5)), cfg.get("meta", {}))
    if fmt == KMER_FORMAT:
        try:
            w = load_file(str(d / f"{name}.safetensors"))
        except Exception as e:  # safetensors raises several types on truncation/missing file
            raise CheckpointError(f"{d / (name + '.safetensors')}: cannot read weights ({e})") from e
        n = len(cfg["vocabulary"])
        if w["idf"].shape != (n,) or w["coef"].shape != (n,):
            raise CheckpointError(f"{d}: weights of {name!r} do not match its {n}-entry vocabulary")
        return KmerTfidfModel(cfg["vocabulary"], w["idf"], w["coef"], float(w["intercept"][0]),
                              tuple(cfg["ngram_range"]), tuple(cfg["labels"]), float(cfg.get("threshold", 0.5)),
                              cfg.get("meta", {}))
    raise CheckpointError(f"{jp}: unknown format {fmt!r}")
