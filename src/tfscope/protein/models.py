"""The layer models as a whole: choose the offline default of a layer, and save/load any protein model.

:func:`select_default` picks between the composition logistic regression (:mod:`tfscope.protein.classic`) and the
z-score stack (:mod:`tfscope.protein.stack`); :func:`save_protein_model` / :func:`load_protein_model` store and
read every protein model kind (linear, TF-IDF k-mer, ensemble, stack, alignment kNN, ESM) as tfscope checkpoints
(safetensors + config.json naming the class; no pickle). Kept apart from both so that neither imports the other in
a loop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..checkpoint import load_checkpoint, read_config, save_checkpoint
from ..errors import CheckpointError
from .align import fit_alignment_knn
from .classic import C_GRID, FEATURE_SETS, ArrayModel, select_and_fit
from .esm import load_esm_classifier
from .stack import fit_stack


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

        al = fit_alignment_knn(seqs, y, labels=labels, groups=groups, seed=seed, verbose=verbose)
        choice["alignment_knn_cv_auroc"] = al.meta["cv_auroc"]
        choice["alignment_knn_platt_slope"] = al.meta["platt_slope"]
        if al.meta["platt_slope"] > 0:
            cands.append(("alignment-knn", al.meta["cv_auroc"], al))
    name, _, model = max(cands, key=lambda c: c[1])
    model.meta["choice"] = {**choice, "model": name}
    return model


def save_protein_model(model, directory, name: str, *, provenance: dict | None = None) -> Path:
    """Save any classic protein model (linear, TF-IDF k-mer, ensemble, stack, alignment kNN) as the tfscope
    checkpoint ``<directory>/<name>/`` (``model.safetensors`` + ``config.json`` naming the class; task ``protein``;
    no pickle) through :func:`tfscope.checkpoint.save_checkpoint`. ESM models: :func:`tfscope.protein.esm.save_esm_classifier`.
    """

    if not isinstance(model, ArrayModel):
        raise TypeError(f"cannot save {type(model).__name__}")
    return save_checkpoint(Path(directory) / name, model, model_name=model.MODEL_NAME, task="protein",
                           hparams=model.checkpoint_hparams(), meta={"fit": model.meta, "provenance": provenance or {}})


def load_protein_model(directory, name: str):
    """Load the protein model checkpoint ``<directory>/<name>/`` (any classic model, or an ESM classifier as
    :class:`~tfscope.protein.esm.EsmProteinModel`); the config names the class and loading imports it.

    Raises
    ------
    CheckpointError
        Missing/invalid files, a checkpoint of another task, mismatched weights.
    """

    path = Path(directory) / name
    if not (path / "config.json").exists():
        raise CheckpointError(f"{directory}: no protein model {name!r} (needs {name}/config.json)")
    if read_config(path).get("model") == "esm-classifier":

        return load_esm_classifier(path)
    return load_checkpoint(path, task="protein")[0]
