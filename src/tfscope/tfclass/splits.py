"""Evaluation protocols of the family task that hold on motifs the model has never seen: a temporal split over
JASPAR releases and a grouped K-fold CV that keeps each TF and its paralogs on one side.

Random K-fold CV over one JASPAR release flatters nearest-neighbour models: motifs of one TF (new versions, other
species, other studies) and of its paralogs sit on both sides of every split. Two stricter protocols:

* **Temporal** (:func:`temporal_split`): train on the motifs of an older release (``JASPAR2020``) and test on the
  motifs whose *base ID* (``MA1234`` of ``MA1234.2``) first appears in a later release (``JASPAR2022`` or
  ``JASPAR2024``), i.e. is in none of the earlier releases' CORE matrices (any version). Same filters as
  :func:`tfscope.tfclass.data.build_dataset` (CORE, latest version of each matrix in its release, no ``::`` dimers).
  JASPAR re-curated its TFClass annotation between releases (2020 plant classes such as ``WRKY`` or
  ``Helix-Turn-Helix`` became ``GCM domain factors`` or ``Tryptophan cluster factors``; ``AP2/ERF domain`` became
  ``AP2/EREBP``), so every motif is labelled with the JASPAR 2024 class annotation of its base ID: the label space of
  the shipped model. Matrices stay those of their own release. Motifs whose base ID is gone from JASPAR 2024, or
  that have no single 2024 class, are dropped and counted. The model knows the classes of the 20-class JASPAR 2024
  dataset that have at least ``min_train`` training motifs; test motifs of other classes are counted
  (``n_test_unknown_class``) and kept apart (``unknown_test``), not scored.
* **Grouped CV** (:func:`grouped_folds`): ``sklearn.model_selection.StratifiedGroupKFold`` over paralog groups
  (:func:`paralog_group`: the upper-cased TF name without its trailing paralog number, so GATA1..GATA6, Gata4 and
  GATA4 share a group), so all motifs of one TF and of its paralogs are in the same fold.

Never uses a release newer than JASPAR 2024 (:data:`LATEST_RELEASE`).
"""

from __future__ import annotations

import re

import numpy as np

from ..motif import counts_to_probs
from .data import FamilyDataset, fetch_release, build_dataset

LATEST_RELEASE = "JASPAR2024"
RELEASES = ("JASPAR2014", "JASPAR2016", "JASPAR2018", "JASPAR2020", "JASPAR2022", "JASPAR2024")
# names whose numbers are serial, not paralogy (ZNF263 and ZNF384 are unrelated), and locus IDs (Arabidopsis AT1G...,
# maize Zm00001d..., Drosophila CG..., Physcomitrella PHYPADRAFT_..., rice Os..g...): keep the whole name
_SERIAL = re.compile(r"^(ZNF|ZFP|ZSCAN|ZBTB|ZKSCAN|AT[1-5CM]G\d|ZM\d|CG\d|PHYPADRAFT|LOC\d|OS\d\dG)")


def paralog_group(name: str) -> str:
    """Paralog group of a TF name: upper-cased, a trailing number with an optional one-letter suffix removed
    (``GATA4`` -> ``GATA``, ``HOXA13`` -> ``HOXA``, ``Nr2f6`` -> ``NR2F``, ``MYB15`` -> ``MYB``, ``FOXA1`` ->
    ``FOXA``, ``NKX2-5`` -> ``NKX2``). Names of serially numbered families (``ZNF263``, ``ZSCAN4``), locus IDs
    (``AT1G...``, ``Zm00001d...``, ``CG...``) and names without a trailing number keep their full upper-cased name.
    The name part after a ``(``, e.g. ``(var.2)``, is ignored. A heuristic: it also joins unrelated TFs that share a
    stem (``HNF1A``/``HNF4A``, ``TCF7``/``TCF12``), which only makes the grouped CV stricter."""
    n = name.split("(")[0].strip().upper()
    if _SERIAL.match(n):
        return n
    stem = re.sub(r"[-_.]?\d+[A-Z]?$", "", n)
    return stem if stem else n


def _base(matrix_id: str) -> str:
    return matrix_id.split(".")[0]


def _check_release(release: str) -> None:
    if release not in RELEASES:
        raise ValueError(f"release {release!r} not allowed; choose from {RELEASES} (nothing newer than "
                         f"{LATEST_RELEASE})")


def _relabelled(release: str, classes: list[str], label_of: dict[str, str], keep) -> tuple[FamilyDataset, dict]:
    """Non-dimer CORE motifs (latest version) of ``release`` whose base ID passes ``keep``, labelled by
    ``label_of`` (2024 annotation per base ID) and restricted to ``classes``."""
    motifs = [m for m in fetch_release(release) if "::" not in m.name and keep(m.base_id)]
    dropped = {"no_2024_annotation": 0, "other_class": 0}
    cidx = {c: i for i, c in enumerate(classes)}
    kept = []
    for m in sorted(motifs, key=lambda m: m.matrix_id):
        lab = label_of.get(m.base_id)
        if lab is None:
            dropped["no_2024_annotation"] += 1
        elif lab not in cidx:
            dropped["other_class"] += 1
        else:
            kept.append((m, cidx[lab]))
    ds = FamilyDataset(ids=[m.matrix_id for m, _ in kept], names=[m.name for m, _ in kept],
                       pfms=[counts_to_probs(np.array([m.counts[b] for b in "ACGT"], dtype=np.float64))
                             for m, _ in kept],
                       labels=np.array([c for _, c in kept], dtype=np.int64), classes=list(classes), release=release,
                       meta=dict(dropped))
    return ds, dropped


def _annotation_2024() -> dict[str, str]:
    """Base ID -> the single TFClass class of its JASPAR 2024 CORE non-dimer matrix (motifs with none or several
    classes are left out)."""
    return {m.base_id: m.tf_class[0] for m in fetch_release(LATEST_RELEASE)
            if "::" not in m.name and m.tf_class and len(m.tf_class) == 1}


def _base_ids(release: str) -> set[str]:
    from pyjaspar import jaspardb

    return {m.base_id for m in jaspardb(release=release).fetch_motifs(collection=["CORE"], all_versions=True)}


def temporal_split(train_release: str = "JASPAR2020", test_release: str = "JASPAR2022", *, min_train: int = 20
                   ) -> tuple[FamilyDataset, FamilyDataset, dict]:
    """Train and test sets of the temporal protocol (see the module docstring).

    Parameters
    ----------
    train_release : str
        Older release whose motifs train the model (e.g. ``"JASPAR2020"``).
    test_release : str
        Later release (at most ``JASPAR2024``); its motifs whose base ID is in no earlier release (any version of
        a CORE matrix of any release from ``JASPAR2014`` up to the one before ``test_release``) are the test set.
    min_train : int
        A class of the 20-class JASPAR 2024 dataset is known to the model with at least this many training motifs.

    Returns
    -------
    train, test : FamilyDataset
        Both over the known classes (``train.classes``); ``test`` holds only motifs of known classes.
    info : dict
        ``classes`` (known), ``n_train``, ``n_test``, ``n_test_unknown_class`` (test motifs of a 2024 class the
        model does not know, or of a class outside the 20), ``unknown_test`` (a FamilyDataset of those motifs of
        the 20 classes, labelled in the 20-class space) and the dropped counts.

    Raises
    ------
    ValueError
        For a release newer than JASPAR 2024 or a test release not after the train release.
    """
    for r in (train_release, test_release):
        _check_release(r)
    if RELEASES.index(test_release) <= RELEASES.index(train_release):
        raise ValueError(f"test release {test_release} must come after train release {train_release}")
    ref = build_dataset(LATEST_RELEASE)  # the 20 classes of the shipped model
    label_of = _annotation_2024()
    train_all, drop_tr = _relabelled(train_release, ref.classes, label_of, lambda b: True)
    cnt = np.bincount(train_all.labels, minlength=len(ref.classes))
    known = [c for c, n in zip(ref.classes, cnt) if n >= min_train]
    train = _restrict(train_all, known)
    seen = set()
    for r in RELEASES[:RELEASES.index(test_release)]:
        seen |= _base_ids(r)
    test_all, drop_te = _relabelled(test_release, ref.classes, label_of, lambda b: b not in seen)
    in_known = np.isin(test_all.labels, [ref.classes.index(c) for c in known])
    test = _restrict(test_all.subset(np.flatnonzero(in_known)), known)
    info = {"train_release": train_release, "test_release": test_release, "classes": known,
            "n_train": len(train), "n_test": len(test),
            "n_test_unknown_class": int((~in_known).sum()) + drop_te["other_class"],
            "n_test_outside_20_classes": drop_te["other_class"],
            "n_train_dropped": {**drop_tr, "class_below_min_train": len(train_all) - len(train)},
            "n_test_no_2024_annotation": drop_te["no_2024_annotation"],
            "unknown_test": test_all.subset(np.flatnonzero(~in_known))}
    return train, test, info


def _restrict(ds: FamilyDataset, classes: list[str]) -> FamilyDataset:
    """The motifs of ``ds`` whose class is in ``classes``, relabelled to ``classes``' order."""
    old = [ds.classes.index(c) for c in classes]
    keep = np.flatnonzero(np.isin(ds.labels, old))
    sub = ds.subset(keep)
    remap = {o: i for i, o in enumerate(old)}
    sub.labels = np.array([remap[int(v)] for v in sub.labels], dtype=np.int64)
    sub.classes = list(classes)
    return sub


def grouped_folds(names, labels, k: int = 10, *, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` folds (train, test index arrays) that keep every :func:`paralog_group` of ``names`` on one side,
    stratified by ``labels`` as far as the groups allow (``sklearn.model_selection.StratifiedGroupKFold``, shuffled
    with ``seed``).

    Raises ValueError if there are fewer groups than ``k``.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    groups = np.array([paralog_group(n) for n in names])
    if len(set(groups)) < k:
        raise ValueError(f"{len(set(groups))} paralog groups, fewer than {k} folds")
    y = np.asarray(labels)
    cv = StratifiedGroupKFold(k, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in cv.split(np.zeros(len(y)), y, groups)]
