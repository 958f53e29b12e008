"""Motif collections beyond JASPAR as extra training motifs of the family task (issue 33): parse, label with a TFClass
class through the factor's gene symbol, de-duplicate against JASPAR and against each other.

Source: the motif databases bundled in the GimmeMotifs source distribution (PyPI ``gimmemotifs`` 0.18.4,
``data/motif_databases/<NAME>.pfm`` with ``<NAME>.motif2factors.txt``; van Heeringen & Veenstra 2011, Bruse & van
Heeringen 2018). Each ``.pfm`` holds ``>motif`` records of one row per position with four probabilities (or counts)
in the order A, C, G, T; each ``motif2factors.txt`` is a TSV ``Motif, Factor, Evidence, Curated``. Which
collections and which evidence rows are used is :data:`COLLECTIONS` (licence and origin per collection in
``resources/family_extra/README.md``).

Labels: the JASPAR 2024 CORE TFClass class of the same gene (:func:`gene_class_map`: upper-cased TF name, so mouse
``Gata4`` and human ``GATA4`` are one gene; genes whose JASPAR motifs carry more than one class are ambiguous and left
out). A motif listed with several factors is labelled only if all of them that have a class agree
(:func:`label_motifs`). Optionally (``by_group``) a gene unknown to JASPAR takes the class of its paralog group
(:func:`tfscope.tfclass.splits.paralog_group`) when every JASPAR gene of that group has one and the same class.

Near-duplicates (:func:`near_identical_pairs`): two matrices whose widths differ by at most ``max_width_diff``
columns, with the shorter one placed inside the longer one (any offset, either strand) so that the mean Pearson
correlation of aligned columns is at least ``threshold`` (0.95). That finds the same matrix re-distributed by
another collection (CIS-BP imports JASPAR, HOCOMOCO, HOMER and TRANSFAC matrices, sometimes trimmed by a column or
two), not merely similar motifs of paralogs.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..resources import resource
from .splits import paralog_group

# collection name -> which motif2factors rows count as the motif's own factor(s). "evidence": allowed Evidence values
# (None = all); "curated": only rows with Curated == "Y". Left out on purpose: JASPAR2018/2020/2022 (JASPAR itself,
# and the temporal test motifs), factorbook (de novo ChIP-seq motifs that may be a co-factor's), RSAT (no factors),
# gimme.vertebrate (a clustering of the others), ENCODE's de novo "disc" motifs (ChIP-seq evidence, same reason), and
# every TRANSFAC-derived matrix (CIS-BP "Transfac", ENCODE "TRANSFAC": TRANSFAC's licence does not allow shipping).
COLLECTIONS = {
    "HOCOMOCOv11_HUMAN": {"evidence": None, "curated": False},
    "HOCOMOCOv11_MOUSE": {"evidence": None, "curated": False},
    "HOCOMOCOv10_HUMAN": {"evidence": None, "curated": False},
    "HOCOMOCOv10_MOUSE": {"evidence": None, "curated": False},
    "HOMER": {"evidence": None, "curated": False},
    "CIS-BP": {"evidence": ("SELEX", "PBM", "B1H", "ChIP-seq", "ChIP-exo", "ChIP-seq_and_ChIP-exo", "SMiLE-seq",
                            "Dap-seq", "JASPAR", "Misc"), "curated": True},
    "IMAGE": {"evidence": ("Direct",), "curated": False},
    "ENCODE": {"evidence": ("HT-SELEX", "PBM", "JASPAR"), "curated": False},
    "SwissRegulon": {"evidence": None, "curated": False},
}
NEAR_IDENTICAL = 0.95  # mean column Pearson correlation of the best contained alignment
MAX_WIDTH_DIFF = 2


def read_gimme_pfm(path) -> list[tuple[str, np.ndarray]]:
    """Read a GimmeMotifs ``.pfm`` file: ``#`` comment lines, ``>name`` headers, then one line per position with
    four numbers (A, C, G, T; probabilities or counts, tab- or space-separated), optionally after a consensus letter
    (ENCODE's rows: ``G 0.0085 0.0043 0.9872 0.0``).

    Returns
    -------
    list of (name, pfm)
        ``pfm`` is a position probability matrix ``(4, L)`` (rows A, C, G, T; each column normalised to sum 1).

    Raises
    ------
    InputError
        For a row without four non-negative numbers, an all-zero row, a motif without rows, or rows before the first
        header (names the file and line).
    """
    out, name, rows, start = [], None, [], 0

    def close(lineno):
        if name is None:
            return
        if not rows:
            raise InputError(f"{path}:{start}: motif {name!r} has no rows")
        m = np.asarray(rows, dtype=np.float64).T
        out.append((name, m / m.sum(0, keepdims=True)))

    with open(path) as fh:
        for i, line in enumerate(fh, 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            if s.startswith(">"):
                close(i)
                name, rows, start = s[1:].strip(), [], i
                continue
            if name is None:
                raise InputError(f"{path}:{i}: matrix row before the first '>' header")
            tok = s.split()
            if len(tok) == 5 and tok[0].isalpha():  # ENCODE rows start with the consensus letter
                tok = tok[1:]
            try:
                v = [float(x) for x in tok]
            except ValueError:
                raise InputError(f"{path}:{i}: not a row of numbers: {s[:60]!r}") from None
            if len(v) != 4 or min(v) < 0 or sum(v) <= 0:
                raise InputError(f"{path}:{i}: expected four non-negative numbers (A C G T) with a positive sum")
            rows.append(v)
    close(None)
    return out


def read_motif2factors(path, *, evidence=None, curated: bool = False) -> dict[str, list[str]]:
    """Read a GimmeMotifs ``motif2factors.txt`` (TSV with header ``Motif, Factor, Evidence, Curated``).

    Parameters
    ----------
    evidence : sequence of str, optional
        Keep only rows with one of these Evidence values (None: all).
    curated : bool
        Keep only rows with Curated == ``Y``.

    Returns
    -------
    dict
        Motif name -> factor symbols as written (first-seen order, no repeats). Motifs without a kept row are absent.

    Raises
    ------
    InputError
        For a missing header column or a row with fewer fields than the header (names the file and line).
    """
    out: dict[str, list[str]] = {}
    with open(path) as fh:
        head = fh.readline().rstrip("\n").split("\t")
        try:
            im, jf, je, jc = (head.index(c) for c in ("Motif", "Factor", "Evidence", "Curated"))
        except ValueError:
            raise InputError(f"{path}:1: header must have Motif, Factor, Evidence and Curated, got {head}") from None
        for i, line in enumerate(fh, 2):
            if not line.strip():
                continue
            f = line.rstrip("\n").split("\t")
            if len(f) < len(head):
                raise InputError(f"{path}:{i}: {len(f)} fields, header has {len(head)}")
            if evidence is not None and f[je] not in evidence:
                continue
            if curated and f[jc] != "Y":
                continue
            fac = f[jf].strip()
            if fac:
                lst = out.setdefault(f[im], [])
                if fac not in lst:
                    lst.append(fac)
    return out


def gene_symbol(name: str) -> str:
    """Species-neutral gene key of a TF name or factor symbol: the part before any ``(``, stripped, upper-cased
    (mouse ``Gata4`` and human ``GATA4`` -> ``GATA4``; JASPAR ``Ahr(var.2)`` -> ``AHR``)."""
    return name.split("(")[0].strip().upper()


def gene_class_map(names, classes) -> tuple[dict[str, str], set[str]]:
    """Gene -> TFClass class from labelled motifs (e.g. JASPAR 2024's ``names`` and class names per motif).

    Returns ``(mapping, ambiguous)``: genes (:func:`gene_symbol`) whose motifs all carry one class, and the genes
    whose motifs carry several classes (left out of the mapping). Names with ``::`` (dimers) are skipped."""
    seen = defaultdict(set)
    for n, c in zip(names, classes):
        if "::" not in n:
            seen[gene_symbol(n)].add(c)
    return ({g: next(iter(c)) for g, c in seen.items() if len(c) == 1},
            {g for g, c in seen.items() if len(c) > 1})


def group_class_map(gene_map: dict[str, str], ambiguous=()) -> dict[str, str]:
    """Paralog group (:func:`~tfscope.tfclass.splits.paralog_group`) -> class, for the groups whose genes in
    ``gene_map`` (and none of the ``ambiguous`` genes) all have one class."""
    seen = defaultdict(set)
    for g, c in gene_map.items():
        seen[paralog_group(g)].add(c)
    for g in ambiguous:
        seen[paralog_group(g)].add(None)
    return {p: next(iter(c)) for p, c in seen.items() if len(c) == 1 and None not in c}


def label_motifs(factors: list[list[str]], gene_map: dict[str, str], group_map: dict[str, str] | None = None
                 ) -> tuple[list[str | None], list[str]]:
    """TFClass class of each motif from its factor symbols.

    A factor's class is ``gene_map[gene_symbol(f)]``; with ``group_map`` a factor unknown to ``gene_map`` falls
    back to its paralog group's class. A motif gets a class only if its factors with a class all agree.

    Returns
    -------
    labels : list of (str or None)
        The class, or None (no factor with a class, or factors of different classes).
    sources : list of str
        ``"gene"`` (every labelled factor via its own gene), ``"group"`` (at least one via its paralog group),
        ``"none"`` or ``"conflict"``.
    """
    labels, sources = [], []
    for facs in factors:
        got, src = set(), "gene"
        for f in facs:
            g = gene_symbol(f)
            if g in gene_map:
                got.add(gene_map[g])
            elif group_map is not None and paralog_group(g) in group_map:
                got.add(group_map[paralog_group(g)])
                src = "group"
        if len(got) == 1:
            labels.append(next(iter(got)))
            sources.append(src)
        else:
            labels.append(None)
            sources.append("none" if not got else "conflict")
    return labels, sources


def _zcols(pfm: np.ndarray) -> np.ndarray:
    """Columns centred and scaled to unit norm ``(4, L)``, so that a dot product of two columns is their Pearson
    correlation (a uniform column -> zeros, correlation 0)."""
    c = pfm - pfm.mean(0, keepdims=True)
    n = np.linalg.norm(c, axis=0, keepdims=True)
    return np.divide(c, n, out=np.zeros_like(c), where=n > 1e-12)


def contained_correlation(a: list[np.ndarray], b: list[np.ndarray], *, max_width_diff: int = MAX_WIDTH_DIFF
                          ) -> np.ndarray:
    """Best mean column Pearson correlation of every pair of matrices ``(na, nb)`` with the shorter placed entirely
    inside the longer (every offset, both strands of ``b``); ``-inf`` for pairs whose widths differ by more than
    ``max_width_diff``. Matrices are ``(4, L)`` probabilities (rows A, C, G, T). Vectorised per pair of widths."""
    out = np.full((len(a), len(b)), -np.inf, dtype=np.float32)
    wa, wb = np.array([m.shape[1] for m in a]), np.array([m.shape[1] for m in b])
    for la in np.unique(wa):
        ia = np.flatnonzero(wa == la)
        A = np.stack([_zcols(a[i]) for i in ia])  # (na, 4, la)
        for lb in np.unique(wb):
            if abs(int(la) - int(lb)) > max_width_diff:
                continue
            ib = np.flatnonzero(wb == lb)
            B = np.stack([_zcols(b[i]) for i in ib])
            Brc = B[:, ::-1, ::-1]
            w = min(la, lb)
            best = np.full((len(ia), len(ib)), -np.inf)
            for BB in (B, Brc):
                for o in range(abs(int(la) - int(lb)) + 1):
                    As = A[:, :, o:o + w] if la > lb else A
                    Bs = BB[:, :, o:o + w] if lb > la else BB
                    s = As.reshape(len(ia), -1) @ Bs.reshape(len(ib), -1).T / w
                    best = np.maximum(best, s)
            out[np.ix_(ia, ib)] = best
    return out


def near_identical_pairs(a: list[np.ndarray], b: list[np.ndarray] | None = None, *, threshold: float = NEAR_IDENTICAL,
                         max_width_diff: int = MAX_WIDTH_DIFF, block: int = 2000) -> np.ndarray:
    """Index pairs ``(n_pairs, 2)`` (i into ``a``, j into ``b``) whose :func:`contained_correlation` is at least
    ``threshold``. With ``b`` None, pairs within ``a`` with i < j. Computed in blocks of ``block`` rows of ``a``."""
    same = b is None
    b = a if same else b
    pairs = []
    for s in range(0, len(a), block):
        c = contained_correlation(a[s:s + block], b, max_width_diff=max_width_diff)
        i, j = np.nonzero(c >= threshold)
        i = i + s
        keep = i < j if same else np.ones(len(i), dtype=bool)
        pairs.append(np.stack([i[keep], j[keep]], 1))
    return np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=int)


def greedy_unique(n: int, pairs: np.ndarray) -> np.ndarray:
    """Indices kept by a greedy pass in index order (earlier = preferred): an item is dropped if it is a
    near-duplicate (``pairs`` ``(k, 2)``) of an item already kept. Returns a boolean mask ``(n,)``."""
    nb = defaultdict(list)
    for i, j in pairs:
        nb[int(i)].append(int(j))
        nb[int(j)].append(int(i))
    keep = np.zeros(n, dtype=bool)
    for i in range(n):
        keep[i] = not any(keep[j] for j in nb[i] if j < i)
    return keep


@dataclass
class ExtraMotifs:
    """Labelled motifs of the extra collections.

    Attributes
    ----------
    ids : list of str
        ``<collection>:<motif name>``.
    collections : list of str
    genes : list of list of str
        Factor gene keys (:func:`gene_symbol`) of each motif.
    pfms : list of ndarray
        Probability matrices ``(4, L_i)`` (rows A, C, G, T).
    labels : list of str
        TFClass class names.
    sources : list of str
        ``"gene"`` or ``"group"`` (see :func:`label_motifs`).
    meta : dict
        Build provenance (package, version, counts of every filter step).
    """

    ids: list[str]
    collections: list[str]
    genes: list[list[str]]
    pfms: list[np.ndarray]
    labels: list[str]
    sources: list[str]
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, idx) -> "ExtraMotifs":
        idx = [int(i) for i in np.asarray(idx).ravel()]
        return ExtraMotifs([self.ids[i] for i in idx], [self.collections[i] for i in idx],
                           [self.genes[i] for i in idx], [self.pfms[i] for i in idx], [self.labels[i] for i in idx],
                           [self.sources[i] for i in idx], dict(self.meta))

    def save(self, path) -> None:
        """Write gzip JSON: ``meta`` and one record per motif (probabilities rounded to 4 decimals, positions as
        rows A C G T)."""
        recs = [{"id": i, "collection": c, "genes": g, "label": lab, "source": s,
                 "pfm": np.round(p.T, 4).tolist()}
                for i, c, g, lab, s, p in zip(self.ids, self.collections, self.genes, self.labels, self.sources,
                                              self.pfms)]
        with gzip.open(path, "wt") as fh:
            json.dump({"meta": self.meta, "motifs": recs}, fh, separators=(",", ":"))

    @classmethod
    def load(cls, path) -> "ExtraMotifs":
        """Read what :meth:`save` wrote. Raises InputError for a file without ``motifs``."""
        with gzip.open(path, "rt") as fh:
            doc = json.load(fh)
        if "motifs" not in doc:
            raise InputError(f"{path}: not an extra-motif file (no 'motifs')")
        r = doc["motifs"]
        pf = [np.asarray(x["pfm"], dtype=np.float64).T for x in r]
        return cls([x["id"] for x in r], [x["collection"] for x in r], [x["genes"] for x in r],
                   [p / p.sum(0, keepdims=True) for p in pf], [x["label"] for x in r], [x["source"] for x in r],
                   doc.get("meta", {}))

    def counts(self) -> dict[str, int]:
        """Motifs per class."""
        return dict(Counter(self.labels).most_common())


def default_path() -> Path:
    """Path of the shipped extra-collection file (bundled resource ``family_extra``:
    ``resources/family_extra/extra_motifs.json.gz``)."""

    return resource("family_extra")


def load_extra(path=None) -> ExtraMotifs:
    """The extra-collection motifs built by ``scripts/build_motif_collections.py`` (default: the shipped file).
    Raises FileNotFoundError if it is missing."""
    return ExtraMotifs.load(path or default_path())


def relabel(extra: ExtraMotifs, gene_map: dict[str, str], group_map: dict[str, str] | None = None,
            classes=None) -> ExtraMotifs:
    """``extra`` labelled again from its genes with another gene map (e.g. one that leaves out a protocol's test
    genes), keeping only motifs with a class (in ``classes`` if given)."""
    labels, sources = label_motifs(extra.genes, gene_map, group_map)
    keep = [i for i, lab in enumerate(labels) if lab is not None and (classes is None or lab in classes)]
    out = extra.subset(keep)
    out.labels, out.sources = [labels[i] for i in keep], [sources[i] for i in keep]
    return out
