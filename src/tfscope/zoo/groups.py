"""Paralog groups: TFs whose binding sites sequence alone cannot tell apart.

Two TFs are linked when their JASPAR 2022 matrices are similar by Tomtom (memelite; p-value below
:data:`MOTIF_P` in both directions, average linkage, with all JASPAR 2022 CORE vertebrate matrices as targets so that
the p-values have a proper background) or when they share a TFClass family term of JASPAR *and* their matrices are
at least weakly similar (p below :data:`FAMILY_P`, which keeps e.g. NRF1, annotated "Jun-related" in JASPAR, out of
AP-1). Groups are the connected components. On the 45 zoo TFs this gives ASCL1/MXI1/MYC/MYCN/USF1/USF2,
BATF3/BATF::JUN/FOSL1/FOSL2/JUNB, E2F1/E2F4/E2F6/TFDP1, FOXK1/2, GATA2/3/6, HNF4A/G, KLF4/KLF5/SP1/SP2, MEF2A/C,
NFYA/B/C, RFX1/2/5, STAT1/STAT1::STAT2, TP53/TP63 and singletons (broad family terms, :data:`GENERIC_FAMILIES`,
do not link). Computed once when the zoo is built
(``scripts/build_zoo.py --calibrate-calls``) and stored in the checkpoint (``meta.groups``).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..io.jaspar import core_vertebrate_index, jaspar_motif, motif_pfm, name_key

#: Tomtom p-value (both directions) below which two matrices are the same motif (average linkage)
MOTIF_P = 1e-3
#: Tomtom p-value below which TFs of one TFClass family are grouped
FAMILY_P = 0.5
#: TFClass family terms too broad to imply a shared motif (CTCFL and YY1 share this one)
GENERIC_FAMILIES = frozenset({"More than 3 adjacent zinc fingers"})


def motif_similarity(tfs: list[str], *, release: str = "JASPAR2022") -> np.ndarray:
    """``(T, T)`` symmetric -log10 Tomtom p-values between the TFs' JASPAR matrices (the weaker direction)."""
    from memelite import tomtom

    def norm(m):
        p = motif_pfm(m)
        return p / p.sum(0, keepdims=True)

    keys = {name_key(t) for t in tfs}
    queries = [norm(jaspar_motif(t, release=release)) for t in tfs]
    others = [norm(m) for k, m in sorted(core_vertebrate_index(release).items()) if k not in keys]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = np.asarray(tomtom(queries, queries + others)[0])[:, :len(tfs)]
    d = -np.log10(np.clip(p, 1e-300, 1.0))
    return np.minimum(d, d.T)


def paralog_groups(tfs: list[str], *, release: str = "JASPAR2022") -> dict[str, str]:
    """Return TF -> paralog group name, by the rule of the module docstring.

    A group's name is its members joined by ``/``, sorted; a singleton's name is the TF.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial.distance import squareform

    s = motif_similarity(tfs, release=release)
    dist = 1.0 / (1.0 + s)
    np.fill_diagonal(dist, 0.0)
    lab = fcluster(linkage(squareform(dist, checks=False), "average"), 1.0 / (1.0 - np.log10(MOTIF_P)), "distance")
    fam = [{f.strip() for f in jaspar_motif(t, release=release).tf_family} - GENERIC_FAMILIES for t in tfs]
    n = len(tfs)
    link = np.array([[lab[i] == lab[j] or bool(fam[i] & fam[j] and s[i, j] > -np.log10(FAMILY_P))
                      for j in range(n)] for i in range(n)])
    _, comp_of = connected_components(csr_matrix(link), directed=False)
    comp: dict[int, list[str]] = {}
    for t, c in zip(tfs, comp_of):
        comp.setdefault(int(c), []).append(t)
    return {t: "/".join(sorted(m)) for m in comp.values() for t in m}
