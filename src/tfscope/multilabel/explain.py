"""Interpretation of a multi-label model: integrated gradients per TF head -> TF-MoDISco -> Tomtom vs JASPAR.

For each TF head ``t`` (output column ``t``) and that TF's positive test windows:

1. Integrated gradients (Sundararajan et al. 2017) through :func:`tfscope.interpret.attribute`
   (captum, all-zero baseline, ``multiply_by_inputs=False``): the path-averaged gradient ``(N, 4, L)``, mean-centred
   over the four bases, is the *hypothetical* contribution of every base; times the one-hot input it is the actual
   contribution (the zero baseline makes this equal to captum's IG attribution up to the centring).
2. TF-MoDISco (Shrikumar et al. 2018; ``modiscolite.tfmodisco.TFMoDISco``) clusters high-contribution seqlets into
   patterns; the top pattern is the positive pattern with the most seqlets.
3. The top pattern's PPM, trimmed to the columns whose contribution weight (CWM) reaches 30% of its maximum, is
   compared to JASPAR 2022 CORE vertebrates with Tomtom (memelite, :func:`tfscope.interpret.motifs.tomtom_jaspar`).
   Verdict: ``own`` if the TF's own JASPAR matrix has q < 0.05, else ``partner`` if the best q < 0.05 match among
   Tomtom's top hits is the matrix of another TF of the label set, ``other`` for any other q < 0.05 match, ``none``
   without a significant match, ``no pattern`` when MoDISco found none.
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import InputError
from ..interpret import attribute
from ..interpret.motifs import tomtom_jaspar
from ..io.jaspar import name_key


def ig_hypothetical(model, x: np.ndarray, target: int, *, n_steps: int = 16, batch_size: int = 64):
    """Integrated-gradients hypothetical and actual contributions of output column ``target``.

    Parameters
    ----------
    model : multi-label model ``(N, 4, L) -> (N, T)`` logits
    x : (N, 4, L) one-hot
    target : output column (TF index)

    Returns
    -------
    (hyp, contrib) : two ``(N, 4, L)`` float32 arrays (contrib = hyp * x).
    """
    g = attribute(model, x, method="integrated_gradients", target=target, n_steps=n_steps, batch_size=batch_size,
                  multiply_by_inputs=False, baseline="zeros")
    hyp = g - g.mean(1, keepdims=True)
    return hyp.astype(np.float32), (hyp * x).astype(np.float32)


def run_modisco(x: np.ndarray, hyp: np.ndarray, *, max_seqlets: int = 2000, n_leiden_runs: int = 4,
                min_metacluster_size: int = 10) -> list[dict]:
    """TF-MoDISco (modisco-lite) on one-hot ``x`` and hypothetical contributions ``hyp`` (both ``(N, 4, L)``).

    Settings are scaled down for a few hundred 100 bp windows that all hold a site (sliding window 15, flank 5,
    trimmed patterns <= 20 bp, 10-30% of windows may pass the seqlet threshold, clusters of >= 10 seqlets).

    Returns
    -------
    Positive patterns, most seqlets first: dicts ``ppm`` (4, W), ``cwm`` (4, W), ``n_seqlets``.
    """
    from modiscolite.tfmodisco import TFMoDISco

    oh = np.ascontiguousarray(x.transpose(0, 2, 1), dtype=np.float32)
    hy = np.ascontiguousarray(hyp.transpose(0, 2, 1), dtype=np.float32)
    try:
        pos, _neg = TFMoDISco(one_hot=oh, hypothetical_contribs=hy, sliding_window_size=15, flank_size=5,
                              max_seqlets_per_metacluster=max_seqlets, n_leiden_runs=n_leiden_runs,
                              min_metacluster_size=min_metacluster_size, trim_to_window_size=20,
                              initial_flank_to_add=5, final_min_cluster_size=10, min_passing_windows_frac=0.1,
                              max_passing_windows_frac=0.3, verbose=False)
    except (ValueError, IndexError, RuntimeError):  # modisco raises on too few seqlets
        return []
    out = [{"ppm": np.asarray(p.sequence).T, "cwm": np.asarray(p.contrib_scores).T, "n_seqlets": len(p.seqlets)}
           for p in (pos or [])]
    return sorted(out, key=lambda d: -d["n_seqlets"])


def trim_pattern(ppm: np.ndarray, cwm: np.ndarray, *, frac: float = 0.3, min_width: int = 4) -> np.ndarray:
    """PPM ``(4, W)`` cut to the span of columns whose summed |CWM| reaches ``frac`` of the maximum."""
    score = np.abs(cwm).sum(0)
    keep = np.flatnonzero(score >= frac * score.max())
    lo, hi = int(keep.min()), int(keep.max()) + 1
    while hi - lo < min_width:
        lo, hi = max(lo - 1, 0), min(hi + 1, ppm.shape[1])
    return ppm[:, lo:hi]


def match_pattern(ppm: np.ndarray, tf: str, labels: list[str], *, release: str = "JASPAR2022",
                  alpha: float = 0.05) -> dict:
    """Tomtom of a trimmed PPM against JASPAR and the own/partner verdict (see module docstring)."""

    tt = tomtom_jaspar(ppm, release=release, tf=tf, top=10)
    best = tt["matches"][0] if tt["matches"] else None
    others = {name_key(t): t for t in labels if t != tf}
    partner = next((m for m in tt["matches"] if m["q"] < alpha and name_key(m["name"]) in others), None)
    if tt.get("own_q") is not None and tt["own_q"] < alpha:
        verdict = "own"
    elif partner is not None:
        verdict = "partner"
    elif best is not None and best["q"] < alpha:
        verdict = "other"
    else:
        verdict = "none"
    return {"verdict": verdict, "best_name": best["name"] if best else None,
            "best_id": best["matrix_id"] if best else None, "best_q": best["q"] if best else None,
            "own_id": tt.get("own_id"), "own_q": tt.get("own_q"), "own_rank": tt.get("own_rank"),
            "partner": others[name_key(partner["name"])] if partner else None,
            "partner_q": partner["q"] if partner else None, "width": int(ppm.shape[1])}


def consensus(ppm: np.ndarray) -> str:
    """IUPAC-free consensus: most frequent base per column, lower case where its frequency is < 0.5."""
    s = []
    for col in ppm.T:
        b = "ACGT"[int(np.argmax(col))]
        s.append(b if col.max() >= 0.5 else b.lower())
    return "".join(s)


def explain_multilabel(model, x_test: np.ndarray, y_test: np.ndarray, labels: list[str], *, tfs=None,
                       max_per_tf: int = 150, n_steps: int = 16, max_seqlets: int = 2000,
                       release: str = "JASPAR2022", time_budget: float | None = None, seed: int = 0,
                       verbose: bool = False) -> list[dict]:
    """IG + MoDISco + Tomtom for each TF head on (up to ``max_per_tf``) of its test positives.

    Parameters
    ----------
    model : multi-label model, output ``(N, T)``
    x_test, y_test : (N, 4, L) one-hot and (N, T) labels
    labels : T TF names (column order)
    tfs : TFs to explain (default all, in label order)
    time_budget : seconds; TFs not started when it is spent are skipped (rows with ``verdict = "skipped"``)

    Returns
    -------
    One dict per TF: tf, n_seqs, n_patterns, top_n_seqlets, consensus, seconds and the :func:`match_pattern` keys.

    Raises
    ------
    InputError
        A TF not in ``labels``.
    """

    tfs = list(tfs) if tfs is not None else list(labels)
    for t in tfs:
        if t not in labels:
            raise InputError(f"TF {t!r} is not in the model's label set")
    rng = np.random.default_rng(seed)
    t_start = time.time()
    rows = []
    for tf in tfs:
        j = labels.index(tf)
        pos = np.flatnonzero(y_test[:, j] > 0)
        if time_budget is not None and time.time() - t_start > time_budget:
            rows.append({"tf": tf, "n_seqs": 0, "verdict": "skipped"})
            continue
        t0 = time.time()
        if len(pos) > max_per_tf:
            pos = np.sort(rng.choice(pos, max_per_tf, replace=False))
        row = {"tf": tf, "n_seqs": int(len(pos))}
        if len(pos) < 5:
            rows.append({**row, "verdict": "no pattern", "n_patterns": 0})
            continue
        xs = x_test[pos]
        hyp, _ = ig_hypothetical(model, xs, j, n_steps=n_steps)
        pats = run_modisco(xs, hyp, max_seqlets=max_seqlets)
        row["n_patterns"] = len(pats)
        if not pats:
            row["verdict"] = "no pattern"
        else:
            ppm = trim_pattern(pats[0]["ppm"], pats[0]["cwm"])
            row.update({"top_n_seqlets": pats[0]["n_seqlets"], "consensus": consensus(ppm),
                        **match_pattern(ppm, tf, labels, release=release)})
        row["seconds"] = round(time.time() - t0, 1)
        if verbose:
            print(f"[explain] {tf}: {row.get('verdict')} best={row.get('best_name')} "
                  f"own_q={row.get('own_q')} ({row['seconds']}s)", flush=True)
        rows.append(row)
    return rows
