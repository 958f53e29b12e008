"""Layer-2 data set rebuilt from the primary methyl-HT-SELEX calls (Yin et al., Science 2017), one label per protein.

The iTFPM-RGDC layer-2 files carry the same protein under both labels (see ``docs/protein.md``); this module holds
the rebuilt set that replaces them for the shipped default, and the split/baseline helpers of its benchmark.

Source: ``Data/SELEX-motif-collection/Methyl_SELEX_metadata_with_info.csv`` of github MariaOsmala/TFBS (MIT): one
row per methyl-HT-SELEX motif (923 motifs, 537 human TFs) with the curated per-motif call ``final suggestion``
(``MethylPlus``: binding enhanced by CpG methylation; ``MethylMinus``: inhibited; ``Little effect``; ``Multiple
effects``; ``Inconclusive``; ``No CpG``: the motif has no CpG, so methylation cannot act on it). A committed copy of
the needed columns and the joined set live in ``tfscope/resources/protein_layer2`` (``PROVENANCE.json`` there);
``scripts/build_layer2_methylselex.py`` rebuilds the joined set from that copy.

Label rule (:func:`protein_label`), per gene over all its motifs (eDBD and full-length clones together):

* calls ``No CpG`` and ``Inconclusive`` carry no information and are ignored;
* **TFPM** (1) if every remaining call is ``MethylPlus``;
* **TFPNM** (0) if every remaining call is ``MethylMinus`` or ``Little effect`` (methylation does not help binding);
* otherwise (``MethylPlus`` together with ``MethylMinus``/``Little effect``, or any ``Multiple effects``) the
  protein is **excluded** as mixed, as are proteins with no informative call.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..resources import resource
from .align import clean_protein, protein_aligner

POSITIVE_CALLS = frozenset({"MethylPlus"})
NEGATIVE_CALLS = frozenset({"MethylMinus", "Little effect"})
UNINFORMATIVE_CALLS = frozenset({"No CpG", "Inconclusive"})
MIXED_CALLS = frozenset({"Multiple effects"})
KNOWN_CALLS = POSITIVE_CALLS | NEGATIVE_CALLS | UNINFORMATIVE_CALLS | MIXED_CALLS
# spelling variants in the source's "final suggestion" column (the source repository's own R code fixes the same two)
CALL_SPELLINGS = {"No GpG": "No CpG", "Multiple Effects": "Multiple effects"}
LABELS = ("TFPM", "TFPNM")
DATA_FILE = "layer2_methylselex.tsv"


def normalise_call(call: str) -> str:
    """Canonical spelling of one per-motif call.

    Raises
    ------
    InputError
        For a call outside :data:`KNOWN_CALLS` (after fixing the source's two spelling variants).
    """
    c = CALL_SPELLINGS.get(call.strip(), call.strip())
    if c not in KNOWN_CALLS:
        raise InputError(f"unknown methyl-SELEX call {call!r}; expected one of {', '.join(sorted(KNOWN_CALLS))}")
    return c


def protein_label(calls) -> tuple[int | None, str]:
    """One label from all per-motif calls of a protein (rule in the module docstring).

    Parameters
    ----------
    calls : iterable of str
        The ``final suggestion`` calls of every motif of the protein (spelling variants allowed).

    Returns
    -------
    (label, reason)
        ``label`` is 1 (TFPM), 0 (TFPNM) or None (excluded); ``reason`` is ``"TFPM"``, ``"TFPNM"``, ``"mixed"``
        or ``"no informative call"``.
    """
    info = {normalise_call(c) for c in calls} - UNINFORMATIVE_CALLS
    if not info:
        return None, "no informative call"
    if info <= POSITIVE_CALLS:
        return 1, "TFPM"
    if info <= NEGATIVE_CALLS:
        return 0, "TFPNM"
    return None, "mixed"


@dataclass
class MethylSelexSet:
    """The rebuilt layer-2 set: one row per protein.

    ``y`` is an int array (1 = TFPM, 0 = TFPNM); ``family`` the DNA-binding-domain family (Lambert et al. 2018,
    as in the source's ``Lambert2018_families`` column); ``cluster`` the sequence-identity cluster id of
    :func:`identity_clusters` (stored by the builder).
    """

    ids: list[str]
    symbols: list[str]
    seqs: list[str]
    y: np.ndarray
    family: list[str]
    cluster: np.ndarray
    calls: list[str]
    labels: tuple = LABELS
    notes: dict = field(default_factory=dict)


def default_data_path() -> Path:
    """The joined set shipped in the package (``tfscope/resources/protein_layer2``)."""

    return resource("protein_layer2", DATA_FILE)


TSV_COLUMNS = ("protein_id", "symbol", "label", "family", "family_selex", "calls", "cluster", "fasta_ids", "length",
               "sequence")


def load_methylselex(path=None) -> MethylSelexSet:
    """Load the joined set written by ``scripts/build_layer2_methylselex.py`` (default: the shipped copy).

    Raises
    ------
    InputError
        Missing file, missing columns, unknown label.
    """
    p = Path(path) if path is not None else default_data_path()
    if not p.is_file():
        raise InputError("layer-2 methyl-SELEX table not found", str(p))
    with open(p, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    missing = [c for c in TSV_COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise InputError(f"{p}: empty table or missing columns {missing}")
    bad = [r["label"] for r in rows if r["label"] not in LABELS]
    if bad:
        raise InputError(f"{p}: unknown label {bad[0]!r}; expected {LABELS}")
    y = np.array([int(r["label"] == LABELS[0]) for r in rows], dtype=np.int64)
    return MethylSelexSet(ids=[r["protein_id"] for r in rows], symbols=[r["symbol"] for r in rows],
                          seqs=[r["sequence"] for r in rows], y=y, family=[r["family"] for r in rows],
                          cluster=np.array([int(r["cluster"]) for r in rows], dtype=np.int64),
                          calls=[r["calls"] for r in rows],
                          notes={"n": len(rows), "n_tfpm": int(y.sum()), "families": len(set(r["family"] for r in rows)),
                                 "clusters": len(set(r["cluster"] for r in rows)), "path": str(p)})


def identity_clusters(seqs, min_identity: float = 0.4, verbose: bool = False) -> np.ndarray:
    """Single-linkage clusters of proteins by pairwise sequence identity (CD-HIT-style definition).

    Identity of a pair = identical residues in the best Smith-Waterman local alignment (Biopython
    ``PairwiseAligner``, BLOSUM62, gap open -11, extend -1) divided by the length of the shorter protein
    (the CD-HIT convention, Li & Godzik 2006). Pairs with identity >= ``min_identity`` are linked and connected
    components are the clusters. All N(N-1)/2 pairs are aligned (about 10 ms each for 600-residue proteins).

    Parameters
    ----------
    seqs : sequence of str, N proteins
    min_identity : float in (0, 1]

    Returns
    -------
    np.ndarray, shape (N,), int64 cluster id per protein (ids 0.. in order of first appearance).

    Raises
    ------
    ImportError
        Without Biopython (a dependency of ``pyjaspar``, so normally present).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    al = protein_aligner()[0]
    clean = [clean_protein(s) for s in seqs]
    n = len(clean)
    edges = []
    for i in range(n):
        for j in range(i + 1, n):
            shorter = min(len(clean[i]), len(clean[j]))
            ident = al.align(clean[i], clean[j])[0].counts().identities
            if ident >= min_identity * shorter:
                edges.append((i, j))
        if verbose and (i + 1) % 25 == 0:
            print(f"  identity clusters: {i + 1}/{n} proteins, {len(edges)} links", flush=True)
    e = np.array(edges, dtype=np.int64).reshape(-1, 2)
    g = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    _, comp = connected_components(g, directed=False)
    first = {c: k for k, c in enumerate(dict.fromkeys(comp.tolist()))}
    return np.array([first[c] for c in comp], dtype=np.int64)


def grouped_folds(y, groups, folds: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold splits that keep every group (sequence cluster or family) on one side
    (``sklearn.model_selection.StratifiedGroupKFold``, shuffled with ``seed``).

    Returns
    -------
    list of (train_index, test_index) int arrays.

    Raises
    ------
    InputError
        Fewer distinct groups than ``folds``.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    groups = np.asarray(groups)
    if len(set(groups.tolist())) < folds:
        raise InputError(f"{len(set(groups.tolist()))} groups cannot make {folds} grouped folds")
    cv = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in cv.split(np.zeros(len(groups)), np.asarray(y), groups)]


def family_majority(train_family, y_train, test_family) -> tuple[np.ndarray, np.ndarray]:
    """Family-majority baseline: each test protein gets the TFPM fraction of the training proteins of its
    DNA-binding family (the global training fraction for a family absent from training).

    Returns
    -------
    (score, call) : float array (N_test,) in [0, 1] (for AUROC) and int array (N_test,): the family's majority
        label (ties and unseen families: the global training majority).
    """
    y_train = np.asarray(y_train)
    glob = float(y_train.mean())
    pos, tot = Counter(), Counter()
    for f, t in zip(train_family, y_train):
        pos[f] += int(t)
        tot[f] += 1
    score = np.array([pos[f] / tot[f] if tot[f] else glob for f in test_family], dtype=np.float64)
    call = np.where(score > 0.5, 1, np.where(score < 0.5, 0, int(glob >= 0.5)))
    return score, call.astype(np.int64)
