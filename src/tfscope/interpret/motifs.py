"""Motif discovery from predicted binding sites and comparison to JASPAR with Tomtom (memelite).

Window-scan algorithm (Zhang et al. 2021, used by BertSNR): in every window predicted to be bound, the ``width``-bp
sub-window with the largest summed nucleotide probability is taken as the site; the aligned sites are counted into a
PFM ``(4, width)``. The PFM is compared to every JASPAR CORE vertebrate matrix with memelite's Tomtom (complete
scoring, both strands), giving p-values, E-values (p x number of targets), q-values (Benjamini-Hochberg over the
targets) and the rank of the TF's own JASPAR matrix.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..io.jaspar import core_vertebrate_index, motif_pfm, name_key
from ..train import predict


def aligned_sites(x: np.ndarray, probs: np.ndarray, width: int) -> np.ndarray:
    """Best ``width``-bp sub-window of each sequence by summed probability.

    Parameters
    ----------
    x : (N, 4, L) one-hot
    probs : (N, L) nucleotide probabilities
    width : motif width in bp (<= L)

    Returns
    -------
    (N, 4, width) one-hot sites and (N,) start positions.
    """
    if width > x.shape[-1]:
        raise InputError(f"motif width {width} exceeds the window length {x.shape[-1]}")
    win = np.lib.stride_tricks.sliding_window_view(probs, width, axis=1).sum(-1)     # (N, L-w+1)
    starts = win.argmax(1)
    idx = starts[:, None] + np.arange(width)[None, :]
    sites = np.take_along_axis(x, idx[:, None, :].repeat(4, 1), axis=2)
    return sites, starts


def pfm_from_sites(sites: np.ndarray) -> np.ndarray:
    """Count PFM ``(4, W)`` from aligned one-hot sites ``(N, 4, W)``."""
    return sites.sum(0).astype(np.float64)


def jaspar_targets(release: str = "JASPAR2022") -> tuple[list[str], list[str], list[np.ndarray]]:
    """(matrix ids, names, probability matrices ``(4, W)``) of the latest JASPAR CORE vertebrate motifs."""
    ms = sorted(core_vertebrate_index(release).values(), key=lambda m: m.matrix_id)
    mats = []
    for m in ms:
        c = motif_pfm(m)
        mats.append(c / c.sum(0, keepdims=True))
    return [m.matrix_id for m in ms], [m.name for m in ms], mats


def tomtom_jaspar(pfm: np.ndarray, *, release: str = "JASPAR2022", tf: str | None = None, top: int = 10) -> dict:
    """Compare one PFM to JASPAR with Tomtom.

    Returns
    -------
    dict with ``matches`` (top rows: matrix_id, name, p, E, q, offset, strand), ``n_targets`` and, when ``tf`` is
    given, ``own_id``, ``own_rank`` (1 = best), ``own_p``, ``own_q``.
    """
    from memelite import tomtom
    from scipy.stats import false_discovery_control

    ids, names, mats = jaspar_targets(release)
    q = (pfm + 0.01) / (pfm + 0.01).sum(0, keepdims=True)
    p, _scores, offsets, _overlaps, strands = tomtom([q], mats, n_jobs=1)
    p = np.clip(p[0].astype(np.float64), 1e-300, 1.0)
    qv = false_discovery_control(p, method="bh")
    order = np.argsort(p, kind="stable")
    rows = [{"matrix_id": ids[i], "name": names[i], "p": float(p[i]), "E": float(p[i] * len(ids)),
             "q": float(qv[i]), "offset": int(offsets[0][i]), "strand": "-" if strands[0][i] else "+"}
            for i in order[:top]]
    out = {"matches": rows, "n_targets": len(ids)}
    if tf is not None:

        own = [i for i, n in enumerate(names) if name_key(n) == name_key(tf)]
        if own:
            i = own[0]
            out.update({"own_id": ids[i], "own_rank": int(np.flatnonzero(order == i)[0]) + 1,
                        "own_p": float(p[i]), "own_q": float(qv[i])})
    return out


def discover_motif(model, x: np.ndarray, *, width: int, min_probability: float = 0.5, batch_size: int = 512):
    """Predicted sites of ``model`` on windows ``x`` -> (PFM ``(4, width)``, number of sites used).

    Only windows whose peak nucleotide probability reaches ``min_probability`` contribute.

    Raises
    ------
    InputError
        If no window is predicted bound.
    """
    probs = predict(model, x, batch_size=batch_size)
    keep = probs.max(1) >= min_probability
    if not keep.any():
        raise InputError("no window is predicted bound; cannot build a motif")
    sites, _ = aligned_sites(x[keep], probs[keep], width)
    return pfm_from_sites(sites), int(keep.sum())
