"""Protein sequence motifs: k-mer enrichment with statistics, residue importance of the linear default, logos.

Sequence-level enrichment (:func:`kmer_enrichment`): for each k-mer, the number of positive and negative proteins
containing it; one-sided Fisher exact test (hypergeometric upper tail, ``scipy.stats.hypergeom``) for enrichment in
the positives, Benjamini-Hochberg q-values (``statsmodels``). Region-level enrichment
(:func:`region_kmer_enrichment`): k-mer occurrences starting in high-scoring residues (top fraction of a
per-residue importance or attention track) against occurrences elsewhere in the same proteins.
"""

from __future__ import annotations

import numpy as np

from .features import AA_INDEX, AMINO_ACIDS, encode, kmer_index


def _kmer_sets(seqs, k):
    return [{s[i:i + k] for i in range(len(s) - k + 1) if all(c in AMINO_ACIDS for c in s[i:i + k])} for s in seqs]


def kmer_enrichment(pos_seqs, neg_seqs, *, k: int = 3, min_count: int = 5, top: int | None = 50) -> list[dict]:
    """k-mers enriched in ``pos_seqs`` (presence per protein).

    Returns
    -------
    list of dict (sorted by p): ``kmer``, ``pos_with``, ``neg_with`` (proteins containing it), ``pos_frac``,
    ``neg_frac``, ``odds_ratio`` (Haldane-corrected), ``p`` (one-sided Fisher), ``q`` (BH over all tested k-mers).
    k-mers present in fewer than ``min_count`` proteins overall are not tested.
    """
    from scipy.stats import hypergeom
    from statsmodels.stats.multitest import multipletests

    ps, ns = _kmer_sets(pos_seqs, k), _kmer_sets(neg_seqs, k)
    cp: dict[str, int] = {}
    cn: dict[str, int] = {}
    for sets, c in ((ps, cp), (ns, cn)):
        for st in sets:
            for km in st:
                c[km] = c.get(km, 0) + 1
    kmers = sorted(km for km in set(cp) | set(cn) if cp.get(km, 0) + cn.get(km, 0) >= min_count)
    if not kmers:
        return []
    a = np.array([cp.get(km, 0) for km in kmers])
    b = np.array([cn.get(km, 0) for km in kmers])
    n_pos, n_neg = len(ps), len(ns)
    p = hypergeom.sf(a - 1, n_pos + n_neg, a + b, n_pos)
    q = multipletests(p, method="fdr_bh")[1]
    orr = ((a + .5) * (n_neg - b + .5)) / ((n_pos - a + .5) * (b + .5))
    order = np.lexsort((-orr, p))
    rows = [{"kmer": kmers[i], "pos_with": int(a[i]), "neg_with": int(b[i]), "pos_frac": a[i] / n_pos,
             "neg_frac": b[i] / n_neg, "odds_ratio": float(orr[i]), "p": float(p[i]), "q": float(q[i])}
            for i in order]
    return rows[:top] if top else rows


def linear_residue_importance(model, seq: str) -> np.ndarray:
    """Per-residue contribution to the logit of a :class:`~tfscope.protein.classic.LinearProteinModel`.

    Every counted k-mer occurrence of feature ``f`` adds ``coef[f] / scale[f] / n_windows`` to the logit; that
    amount is split evenly over the residues it covers. Shape (len(seq),); sums (over residues) to the logit minus
    the constant ``intercept - sum(coef * mean / scale)``. For an
    :class:`~tfscope.protein.classic.EnsembleModel` the first linear composition member is used.
    """
    if hasattr(model, "members"):
        model = next(m for m in model.members if hasattr(m, "spec"))
    spec = model.spec
    w = model.coef / model.scale
    out = np.zeros(len(seq))
    off = 0
    codes, red = encode(seq), encode(seq, reduced=True)

    def block(c, k, size, gap):
        nonlocal off
        idx, ok = kmer_index(c, k, size, gap)
        if ok.any():
            contrib = np.where(ok, w[off + idx], 0.0) / ok.sum()
            for j in range(k):
                out[j * (gap + 1): j * (gap + 1) + len(idx)] += contrib / k
        off += size ** k

    if spec.get("aac", True):
        block(codes, 1, 20, 0)
    if spec.get("dpc", True):
        block(codes, 2, 20, 0)
    for g in spec.get("gaps", []):
        block(codes, 2, 20, g)
    for k in spec.get("reduced_k", []):
        block(red, k, 7, 0)
    return out


def region_kmer_enrichment(seqs, scores, *, k: int = 3, top_fraction: float = 0.1, min_count: int = 5,
                           top: int | None = 30) -> list[dict]:
    """k-mer occurrences starting at high-score residues (top ``top_fraction`` per protein) vs the rest.

    ``scores``: list of per-residue arrays (importance or attention), one per sequence. Returns rows like
    :func:`kmer_enrichment` with ``in_region``/``outside`` occurrence counts (one-sided Fisher, BH q).
    """
    from scipy.stats import hypergeom
    from statsmodels.stats.multitest import multipletests

    cin: dict[str, int] = {}
    cout: dict[str, int] = {}
    for s, sc in zip(seqs, scores):
        sc = np.asarray(sc)[: len(s)]
        if len(s) < k:
            continue
        win = np.convolve(sc, np.ones(k), "valid")  # score of the k-mer starting at i
        cut = np.quantile(win, 1 - top_fraction)
        for i in range(len(s) - k + 1):
            km = s[i:i + k]
            if all(c in AMINO_ACIDS for c in km):
                d = cin if win[i] >= cut else cout
                d[km] = d.get(km, 0) + 1
    kmers = sorted(km for km in set(cin) | set(cout) if cin.get(km, 0) + cout.get(km, 0) >= min_count)
    if not kmers:
        return []
    a = np.array([cin.get(km, 0) for km in kmers])
    b = np.array([cout.get(km, 0) for km in kmers])
    n_in, n_out = sum(cin.values()), sum(cout.values())
    p = hypergeom.sf(a - 1, n_in + n_out, a + b, n_in)
    q = multipletests(p, method="fdr_bh")[1]
    orr = ((a + .5) * (n_out - b + .5)) / ((n_in - a + .5) * (b + .5))
    order = np.lexsort((-orr, p))
    rows = [{"kmer": kmers[i], "in_region": int(a[i]), "outside": int(b[i]), "odds_ratio": float(orr[i]),
             "p": float(p[i]), "q": float(q[i])} for i in order]
    return rows[:top] if top else rows


def kmer_context_counts(seqs, kmer: str, flank: int = 4):
    """Amino-acid count matrix (pandas DataFrame, positions x 20) of all occurrences of ``kmer`` with ``flank``
    residues either side, for a sequence logo (``logomaker.Logo``)."""
    import pandas as pd

    L = len(kmer) + 2 * flank
    m = np.zeros((L, 20))
    for s in seqs:
        start = s.find(kmer)
        while start >= 0:
            for j in range(L):
                pos = start - flank + j
                if 0 <= pos < len(s) and AA_INDEX[ord(s[pos])] >= 0:
                    m[j, AA_INDEX[ord(s[pos])]] += 1
            start = s.find(kmer, start + 1)
    return pd.DataFrame(m, columns=list(AMINO_ACIDS))


__all__ = ["kmer_enrichment", "region_kmer_enrichment", "linear_residue_importance", "kmer_context_counts"]
