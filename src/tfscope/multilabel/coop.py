"""Cooperative binding: co-occurrence of TF labels in the same window vs independence.

For every TF pair (a, b) the 2x2 table of windows (both / a only / b only / neither) is tested with Fisher's exact
test (``scipy.stats.fisher_exact``, two-sided); p-values are corrected over all pairs with Benjamini-Hochberg
(``statsmodels.stats.multitest.multipletests``, ``fdr_bh``). The effect size is the odds ratio with the Haldane-
Anscombe +0.5 correction (finite for empty cells), reported as log2. Expected co-occurrence is
``n_a * n_b / N``.

Caveat: every window of tfbs-multilabel holds a site of at least one TF, so independence is judged *among bound
windows*; this selection pushes odds ratios of unrelated TFs below 1, and pairs of paralogs with near-identical
motifs (USF1/USF2, HNF4A/HNF4G) co-occur partly because one site is called for both ChIP-seq experiments.
"""

from __future__ import annotations

import numpy as np

from ..io import atomic_write

# complexes/networks named in the issue (heterodimers or obligate partners) -> members in the label set
KNOWN_COMPLEXES = {
    "NF-Y": {"NFYA", "NFYB", "NFYC"},
    "MYC/MAX network": {"MYC", "MYCN", "MXI1"},
    "E2F/DP": {"E2F1", "E2F4", "E2F6", "TFDP1"},
    "AP-1": {"FOSL1", "FOSL2", "JUNB", "BATF3", "BATFJUN"},
    "USF1/2": {"USF1", "USF2"},
}
# paralogs sharing a motif family (co-occurrence may reflect one shared site)
FAMILIES = {
    "HNF4": {"HNF4A", "HNF4G"}, "STAT": {"STAT1", "STAT1STAT2"}, "RFX": {"RFX1", "RFX2", "RFX5"},
    "p53": {"TP53", "TP63"}, "MEF2": {"MEF2A", "MEF2C"}, "FOXK": {"FOXK1", "FOXK2"},
    "KLF/SP": {"KLF4", "KLF5", "SP1", "SP2"}, "GATA": {"GATA2", "GATA3", "GATA6"},
}


def annotate_pair(a: str, b: str) -> str:
    """Name of the known complex (or ``family:`` shared-motif group) containing both TFs, else ``""``."""
    for name, members in KNOWN_COMPLEXES.items():
        if a in members and b in members:
            return name
    for name, members in FAMILIES.items():
        if a in members and b in members:
            return "family:" + name
    return ""


def cooccurrence(y, labels: list[str], *, alpha: float = 0.05) -> list[dict]:
    """Pairwise co-occurrence statistics of a binary label matrix.

    Parameters
    ----------
    y : (N, T) 0/1 array (observed labels or thresholded predictions)
    labels : T TF names
    alpha : FDR level for the ``significant`` flag

    Returns
    -------
    list of dicts, one per pair ``a < b`` in label order: a, b, n_a, n_b, n11 (both), expected, odds_ratio,
    log2_or, p, q (BH), significant, complex (see :func:`annotate_pair`).
    """
    from scipy.stats import fisher_exact
    from statsmodels.stats.multitest import multipletests

    yb = np.asarray(y).astype(bool)
    n, t = yb.shape
    counts = yb.sum(0).astype(np.int64)
    both = (yb.T.astype(np.int64) @ yb.astype(np.int64))       # (T, T) n11
    rows = []
    for i in range(t):
        for j in range(i + 1, t):
            n11 = int(both[i, j])
            n10 = int(counts[i]) - n11
            n01 = int(counts[j]) - n11
            n00 = n - n11 - n10 - n01
            p = float(fisher_exact([[n11, n10], [n01, n00]], alternative="two-sided").pvalue)
            orr = ((n11 + 0.5) * (n00 + 0.5)) / ((n10 + 0.5) * (n01 + 0.5))
            rows.append({"a": labels[i], "b": labels[j], "n_a": int(counts[i]), "n_b": int(counts[j]), "n11": n11,
                         "expected": float(counts[i] * counts[j] / n) if n else float("nan"),
                         "odds_ratio": float(orr), "log2_or": float(np.log2(orr)), "p": p})
    if rows:
        _, q, _, _ = multipletests([r["p"] for r in rows], alpha=alpha, method="fdr_bh")
        for r, qq in zip(rows, q):
            r["q"] = float(qq)
            r["significant"] = bool(qq < alpha)
            r["complex"] = annotate_pair(r["a"], r["b"])
    return rows


def top_pairs(rows: list[dict], k: int = 10, *, min_both: int = 20) -> list[dict]:
    """The ``k`` significant pairs with the largest odds ratio among pairs co-occurring in >= ``min_both`` windows."""
    ok = [r for r in rows if r.get("significant") and r["n11"] >= min_both and r["log2_or"] > 0]
    return sorted(ok, key=lambda r: -r["log2_or"])[:k]


def log2_or_matrix(rows: list[dict], labels: list[str]) -> np.ndarray:
    """Symmetric ``(T, T)`` log2 odds-ratio matrix (NaN diagonal) from :func:`cooccurrence` rows."""
    idx = {t: i for i, t in enumerate(labels)}
    m = np.full((len(labels), len(labels)), np.nan)
    for r in rows:
        i, j = idx[r["a"]], idx[r["b"]]
        m[i, j] = m[j, i] = r["log2_or"]
    return m


def plot_heatmaps(observed: np.ndarray, predicted: np.ndarray | None, labels: list[str], path, *,
                  titles=("observed labels", "model predictions")) -> None:
    """Save a side-by-side heatmap of log2 odds ratios (labels order) to ``path`` (PNG, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mats = [observed] + ([predicted] if predicted is not None else [])
    fig, axes = plt.subplots(1, len(mats), figsize=(9.5 * len(mats), 9), squeeze=False)
    for ax, m, title in zip(axes[0], mats, titles):
        im = ax.imshow(np.clip(m, -4, 4), cmap="RdBu_r", vmin=-4, vmax=4)
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_title(f"TF co-occurrence, log2 odds ratio ({title})")
        fig.colorbar(im, ax=ax, shrink=0.7, label="log2 OR (clipped to +-4)")
    fig.tight_layout()
    with atomic_write(path, mode="wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
