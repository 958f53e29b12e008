"""From a protein to its TF class and its binding profile, by its DNA-binding domains (issue 46).

**Motif inference** (:func:`infer_profiles`) follows the JASPAR profile inference tool (JASPAR 2020; Lambert et al.
2019, Nature Genetics 51:981, similarity regression of CIS-BP):

1. the query's DBDs are found with :func:`tfscope.protein.domains.annotate` (pyhmmer, ``hmmalign``-style
   alignments to the Pfam HMMs);
2. homologous reference TFs (the 752 JASPAR-linked vertebrate TFs of the bundle) are found with pyhmmer's
   ``phmmer`` (in place of the tool's BLAST+), keeping a target when a local alignment lies above Rost's
   sequence-identity curve (``pid >= n + 480 L^(-0.32 (1 + exp(-L/1000)))``, ``n = 5``; ``L`` = alignment columns);
3. for each homologue sharing a DBD family with the query, the domains are compared position by position on the
   HMM match states (several domains of one family: the shorter list slides along the longer one, scores averaged
   over the paired domains, the best offset kept): ``PctID_L`` (fraction of identical match states) and per-position
   identity / BLOSUM62 vectors;
4. the family's CIS-BP model decides "highly similar" (HSim): 100 % identity; or ``PctID_L >=`` the family's
   sequence-identity threshold (``Threshold.HSim`` for identity models, the ``Baseline`` one for
   similarity-regression models); or, for similarity-regression models, ``intercept + w . (x - mean) / sd`` (optionally
   logistic) ``>= Threshold.HSim``. Families without a CIS-BP model use the ``NO_THRESHOLD`` model (PctID_L >= 0.7);
5. every JASPAR matrix of an HSim homologue is inferred, with its evidence (reference TF, family, PctID_L, score,
   threshold, model, phmmer E-value).

**TF class** (:func:`class_table`, :func:`predict_class`): the reference TFs' TFClass classes (from their JASPAR
matrices' ``tf_class``, pyjaspar) voted by DBD-family composition: the class most frequent among reference TFs
with the same set of DBD families, else among those sharing the query's best-scoring family; ``unknown`` when the
query has no DBD hit (or its families are not in the reference).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .dbdref import DbdReference, load_reference
from .domains import DomainHit, annotate, clean_hmm_sequence, tf_hits

#: Rost's curve offset (the tool's default ``n = 5``: about 99 % of pairs above it are homologous)
ROST_N = 5


def rost_cutoff(length: int, n: float = ROST_N) -> float:
    """Rost's (1999) percent-identity cut-off for an alignment of ``length`` columns (percent, 0-100)."""
    return n + 480 * length ** (-0.32 * (1 + math.exp(-length / 1000)))


@lru_cache(maxsize=1)
def _blosum62():
    from Bio.Align import substitution_matrices

    return substitution_matrices.load("BLOSUM62")


def _pair_score(a: str, b: str, kind: str) -> float:
    if kind == "identity":
        return 1.0 if a == b and a != "-" else 0.0
    if a == "-" and b == "-":
        return 1.0
    if a == "-" or b == "-":
        return -4.0
    m = _blosum62()
    try:
        return float(m[a, b])
    except (KeyError, IndexError):
        return float(m["X", "X"]) if "X" in m.alphabet else 0.0


def match_states(aligned: str) -> str:
    """An ``hmmalign``-style domain string without insertions (lower case): one character per match state."""
    return "".join(c for c in aligned if not c.islower())


def position_scores(query: list[str], target: list[str], kind: str = "identity") -> np.ndarray:
    """Per-match-state score of two lists of aligned domains of one family.

    Parameters
    ----------
    query, target : list of str
        Match-state strings (equal length = HMM length), in protein order.
    kind : {"identity", "blosum62"}

    Returns
    -------
    ndarray, shape (hmm_length,)
        Scores averaged over paired domains at the best offset of the shorter list along the longer one.
    """
    a, b = (query, target) if len(query) >= len(target) else (target, query)
    best = None
    for off in range(len(a) - len(b) + 1):
        s = np.zeros(len(a[0]))
        for j, dom in enumerate(b):
            s += [_pair_score(x, y, kind) for x, y in zip(a[off + j], dom)]
        s /= len(b)
        if best is None or s.sum() > best.sum():
            best = s
    return best


def classify_pair(model: dict, pctid: np.ndarray, b62: np.ndarray) -> tuple[bool, float, float, str]:
    """CIS-BP decision for one DBD comparison.

    Returns
    -------
    (hsim, score, threshold, rule)
        ``hsim``: the pair is expected to share a motif; ``score`` and ``threshold`` of the deciding rule;
        ``rule``: ``identical``, ``PctID_L`` or the similarity-regression model name.
    """
    pid = float(np.mean(pctid))
    if pid == 1.0:
        return True, pid, 1.0, "identical"
    if model["Model.Class"] == "SequenceIdentity":
        t = model["Threshold.HSim"]
        return pid >= t, pid, t, "PctID_L"
    base = model["Baseline"]["Threshold.HSim"]
    if pid >= base:
        return True, pid, base, "PctID_L (baseline)"
    x = pctid if model["SR.Features"] == "PctID" else b62
    mean = np.asarray(model["SR.FeatureScales.mean"], dtype=float)
    if len(x) != len(mean):
        return False, pid, base, "PctID_L (baseline)"
    sd = np.asarray(model["SR.FeatureScales.sd"], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (x - mean) / np.where(sd == 0, np.nan, sd)
    f[~np.isfinite(f)] = 0.0
    s = float(model["SR.Intercept"] + np.dot(np.asarray(model["SR.Weights"], dtype=float), f))
    if model.get("SR.LogisticTransform"):
        s = 1.0 / (1.0 + math.exp(-s))
    t = model["Threshold.HSim"]
    return s >= t, s, t, model["Model.Name"]


@dataclass
class Inference:
    """One inferred JASPAR matrix for a query protein, with its evidence."""

    query: str
    matrix_id: str
    matrix_name: str
    reference: str
    reference_name: str
    family: str
    pctid: float
    score: float
    threshold: float
    rule: str
    evalue: float
    tf_class: list = field(default_factory=list)

    def evidence(self) -> str:
        """One-line evidence: reference TF, DBD family, identity, score vs threshold, homology E-value."""
        return (f"{self.reference_name} ({self.reference}) {self.family} DBD identity {self.pctid:.2f}; {self.rule} "
                f"{self.score:.3f} >= {self.threshold:.3f}; phmmer E {self.evalue:.2g}")


def digitize_proteins(records: dict[str, str]):
    """pyhmmer digital sequences of ``records`` (id -> protein), named by their index, in input order."""
    import pyhmmer

    alpha = pyhmmer.easel.Alphabet.amino()
    return pyhmmer.easel.DigitalSequenceBlock(alpha, [
        pyhmmer.easel.TextSequence(name=str(k).encode(), sequence=clean_hmm_sequence(s) or "X").digitize(alpha)
        for k, s in records.items()])


@lru_cache(maxsize=2)
def _reference_block(directory):
    ref = load_reference(directory)
    return digitize_proteins({a: p["sequence"] for a, p in ref.proteins.items()})


def phmmer_alignments(records: dict[str, str], ref: DbdReference | None = None, *, evalue: float = 10.0) -> dict:
    """Local alignments of each query to the reference TFs (pyhmmer ``phmmer``).

    Returns
    -------
    dict
        ``{query id: [(reference accession, E-value, [(identical columns, alignment columns), ...]), ...]}``
        sorted by E-value (one tuple per phmmer domain).
    """
    import pyhmmer

    ref = ref or load_reference()
    targets = _reference_block(None if ref.directory is None else ref.directory)
    out = {}
    for qid, top in zip(records, pyhmmer.hmmer.phmmer(digitize_proteins(records), targets, cpus=0, E=evalue)):
        res = []
        for hit in top:
            acc = hit.name.decode() if isinstance(hit.name, bytes) else hit.name
            doms = [(sum(c.isalpha() for c in d.alignment.identity_sequence), len(d.alignment.hmm_sequence))
                    for d in hit.domains]
            res.append((acc, float(hit.evalue), doms))
        out[qid] = sorted(res, key=lambda x: x[1])
    return out


def homologs(records: dict[str, str], ref: DbdReference | None = None, *, n: float = ROST_N,
             alignments: dict | None = None) -> dict:
    """Reference TFs homologous to each query: a phmmer local alignment above Rost's curve.

    ``alignments``: precomputed :func:`phmmer_alignments` output for ``records``.

    Returns
    -------
    dict
        ``{query id: [(reference accession, E-value), ...]}`` sorted by E-value.
    """
    al = alignments if alignments is not None else phmmer_alignments(records, ref)
    return {q: [(acc, ev) for acc, ev, doms in al.get(q, [])
                if any(cols and 100.0 * ident / cols >= rost_cutoff(cols, n) for ident, cols in doms)]
            for q in records}


def _domains_by_family(pairs) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for fam, aligned in pairs:
        out.setdefault(fam, []).append(match_states(aligned))
    return out


def infer_profiles(records: dict[str, str], *, hits: dict | None = None, ref: DbdReference | None = None,
                   exclude: dict | None = None, homolog_hits: dict | None = None) -> dict[str, list[Inference]]:
    """Inferred JASPAR matrices of each query protein (module docstring).

    Parameters
    ----------
    records : dict
        ``{id: protein sequence}``.
    hits : dict, optional
        :func:`tfscope.protein.domains.annotate` output for ``records`` (computed when missing).
    ref : DbdReference, optional
        Default: the bundled reference.
    exclude : dict, optional
        ``{query id: set of reference accessions}`` not to infer from (leave-one-out evaluations).
    homolog_hits : dict, optional
        Precomputed :func:`homologs` output.

    Returns
    -------
    dict
        ``{id: [Inference, ...]}`` sorted by homology E-value, reference name and matrix ID; empty list when the
        query has no DBD or no highly similar homologue.
    """
    ref = ref or load_reference()
    hits = hits if hits is not None else annotate(records)
    hom = homolog_hits if homolog_hits is not None else homologs(records, ref)
    out = {}
    for qid in records:
        qd = _domains_by_family((h.family, h.aligned) for h in tf_hits(hits.get(qid, [])))
        res = []
        if qd:
            skip = (exclude or {}).get(qid, set())
            for acc, ev in hom.get(qid, []):
                if acc in skip or acc not in ref.proteins:
                    continue
                p = ref.proteins[acc]
                td = _domains_by_family((d[0], d[1]) for d in p["dbds"])
                for fam, qdoms in qd.items():
                    if fam not in td:
                        continue
                    pid = position_scores(qdoms, td[fam], "identity")
                    b62 = position_scores(qdoms, td[fam], "blosum62")
                    ok, score, thr, rule = classify_pair(ref.cisbp_model(fam), pid, b62)
                    if not ok:
                        continue
                    names = {ref.matrices[m]["name"] for m in p["matrices"]}
                    ref_name = sorted(names, key=lambda x: ("::" in x, x))[0] if names else acc
                    for m in p["matrices"]:
                        mm = ref.matrices[m]
                        res.append(Inference(qid, m, mm["name"], acc, ref_name, fam, round(float(np.mean(pid)), 4),
                                             round(score, 4), round(float(thr), 4), rule, ev, list(mm["tf_class"])))
                    break
        res.sort(key=lambda r: (r.evalue, r.reference_name, r.matrix_id))
        seen, uniq = set(), []
        for r in res:
            if r.matrix_id not in seen:
                seen.add(r.matrix_id)
                uniq.append(r)
        out[qid] = uniq
    return out


def dbd_key(hits: list[DomainHit]) -> tuple[str, ...]:
    """Sorted distinct sequence-specific DBD families of a protein (its DBD composition)."""
    return tuple(sorted({h.family for h in tf_hits(hits)}))


def class_table(ref: DbdReference | None = None, accessions=None, keys: dict | None = None) -> dict:
    """Votes ``{"by_key": {composition: Counter(class)}, "by_family": {family: Counter(class)}}`` of reference TFs.

    ``accessions`` limits the reference (training folds); ``keys`` gives each accession's DBD families (default:
    from the bundled DBD table).
    """
    ref = ref or load_reference()
    by_key: dict = {}
    by_fam: dict = {}
    for acc in (accessions if accessions is not None else ref.proteins):
        cl = ref.protein_class(acc)
        if cl is None:
            continue
        key = keys[acc] if keys is not None else tuple(sorted({d[0] for d in ref.proteins[acc]["dbds"]}))
        if not key:
            continue
        by_key.setdefault(key, Counter())[cl] += 1
        for f in key:
            by_fam.setdefault(f, Counter())[cl] += 1
    return {"by_key": by_key, "by_family": by_fam}


def predict_class(hits: list[DomainHit], table: dict | None = None) -> tuple[str, str]:
    """TFClass class of a protein from its DBDs.

    Returns
    -------
    (class, evidence)
        ``("unknown", reason)`` when the protein has no DBD hit or none of its families occurs in the reference.
    """
    table = table or _default_table()
    key = dbd_key(hits)
    if not key:
        return "unknown", "no DBD hit"
    if key in table["by_key"]:
        c = table["by_key"][key]
        cl, n = c.most_common(1)[0]
        return cl, f"DBD composition {'+'.join(key)}: {n}/{sum(c.values())} reference TFs"
    best = min(tf_hits(hits), key=lambda h: h.seq_evalue).family
    if best in table["by_family"]:
        c = table["by_family"][best]
        cl, n = c.most_common(1)[0]
        return cl, f"best DBD {best}: {n}/{sum(c.values())} reference TFs"
    return "unknown", f"DBD families {'+'.join(key)} not in the 752 reference TFs"


@lru_cache(maxsize=1)
def _default_table() -> dict:
    return class_table()


def paralog_clusters(ref: DbdReference | None = None, *, min_identity: float = 0.4, min_coverage: float = 0.5,
                     alignments: dict | None = None) -> dict[str, int]:
    """Single-linkage clusters of the reference TFs: two TFs are linked when a phmmer local alignment has
    ``>= min_identity`` identical columns over ``>= min_coverage`` of the shorter protein (a CD-HIT-like paralogue
    definition). ``alignments``: precomputed :func:`phmmer_alignments` of the reference against itself.
    Returns ``{accession: cluster index}``."""
    ref = ref or load_reference()
    accs = list(ref.proteins)
    idx = {a: i for i, a in enumerate(accs)}
    parent = list(range(len(accs)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if alignments is None:
        alignments = phmmer_alignments({a: ref.proteins[a]["sequence"] for a in accs}, ref)
    lens = {a: len(ref.proteins[a]["sequence"]) for a in accs}
    for qa in accs:
        for ta, _, doms in alignments.get(qa, []):
            if ta == qa or ta not in idx:
                continue
            if any(cols and ident / cols >= min_identity and cols >= min_coverage * min(lens[qa], lens[ta])
                   for ident, cols in doms):
                parent[find(idx[qa])] = find(idx[ta])
    roots: dict = {}
    return {a: roots.setdefault(find(i), len(roots)) for i, a in enumerate(accs)}
