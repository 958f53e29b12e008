"""Per-site evaluation and calibration of calls on real genome windows (tfbs-multilabel windows + JASPAR sites).

The windows of one chromosome are scanned as separate records (laid end to end with N spacers wider than the
model's receptive field, which a scan treats exactly like record ends), every model's nucleotides at or above a low
floor are kept, and calls are made from them at any threshold (:func:`tfscope.scan.calls.peak_calls`: peaks at or
above ``t`` do not depend on the floor). A call *matches* when it overlaps a true site (``sites.bed.gz``) of its TF
inside its window (or, for the group metrics, of any TF of its paralog group); a true site lying wholly inside a
scanned window is *recalled* when a call of its TF overlaps it.

Used by ``scripts/build_zoo.py --calibrate-calls`` on chr7 (thresholds by best site F1, the per-call precision maps and
the background of the p-values; :func:`calibrate_calls`) and by ``benchmarks/sites.py`` on chr8. chr9 is withheld.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..checkpoint import dump_config, file_sha256
from ..io.atomic import atomic_write
from ..io.tables import read_snr_table
from ..scan.calls import BG_GRID, CallConfidence, peak_calls
from ..scan.engine import scan
from ..scan.models import load_scan_models
from ..snr.data import snr_table_path
from .groups import paralog_groups

#: scanning floor: nucleotides below it never become calls here (every shipped threshold is far above it)
FLOOR = 1e-3


@dataclass
class GenomeWindows:
    """Genome windows of one chromosome and the true sites that overlap them.

    Attributes
    ----------
    start : (W,) int, hg19 window starts (+ strand, all windows ``length`` bp)
    seqs : list of W str
    sites : dict TF -> (site window index, start, end) int arrays of the sites overlapping each window, in window
        coordinates (may extend past the window's ends)
    """

    chrom: str
    start: np.ndarray
    seqs: list
    sites: dict
    length: int = 100

    @classmethod
    def load(cls, windows_path, sites_path, chrom: str, *, max_bp: int | None = None) -> "GenomeWindows":
        """Return the windows of ``chrom`` in genomic order (the first ``max_bp`` bp of them) and their sites."""
        rows = []
        with gzip.open(windows_path, "rt") as fh:
            fh.readline()
            for line in fh:
                c = line.rstrip("\n").split("\t")
                if c[1] == chrom:
                    rows.append((int(c[2]), c[6]))
        rows.sort(key=lambda r: r[0])
        L = len(rows[0][1])
        if max_bp:
            rows = rows[:max_bp // L]
        start = np.array([r[0] for r in rows], np.int64)
        by_tf: dict[str, list] = {}
        with gzip.open(sites_path, "rt") as fh:
            for line in fh:
                c = line.split("\t")
                if c[0] == chrom:
                    by_tf.setdefault(c[3], []).append((int(c[1]), int(c[2])))
        sites = {}
        for tf, iv in by_tf.items():
            iv = np.array(sorted(iv), np.int64)
            # windows overlapping each site: start < site_end and site_start < start + L
            lo = np.searchsorted(start, iv[:, 0] - L, side="right")
            hi = np.searchsorted(start, iv[:, 1], side="left")
            w = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)]) if len(iv) else np.zeros(0, np.int64)
            k = np.repeat(np.arange(len(iv)), hi - lo)
            sites[tf] = (w.astype(np.int64), iv[k, 0] - start[w], iv[k, 1] - start[w])
        return cls(chrom, start, [r[1] for r in rows], sites, L)

    def __len__(self) -> int:
        return len(self.start)


def window_points(models, windows: GenomeWindows, *, floor: float = FLOOR, workers: int = 2,
                  spacer: int | None = None, per_record: int = 250) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each model's nucleotides at or above ``floor`` on the windows scanned as separate records.

    Returns
    -------
    list (one per model) of ``(window index, position in window, probability)`` arrays; the probability is the
    two strands combined by the model's rule.
    """
    L = windows.length
    rf = max(m.receptive_field or 0 for m in models)
    spacer = spacer or rf // 2 + 2  # outputs inside a window see at most rf // 2 bp of context each side
    unit = L + spacer
    out = [[] for _ in models]
    saved = [m.threshold for m in models]
    try:
        for m in models:
            m.threshold = floor
        for r0 in range(0, len(windows), per_record * 8):
            recs = {}
            for j in range(r0, min(len(windows), r0 + per_record * 8), per_record):
                idx = range(j, min(len(windows), j + per_record))
                recs[j] = "".join("N" * spacer + windows.seqs[i] for i in idx) + "N" * spacer
            _, tracks = scan(models, {str(k): v for k, v in recs.items()}, keep_tracks=True, workers=workers)
            for j in recs:
                t = tracks[str(j)]
                for m_i in range(len(models)):
                    pos = np.flatnonzero(t[m_i] >= floor)
                    rel = pos - spacer
                    w, x = rel // unit, rel % unit
                    ok = (rel >= 0) & (x < L)
                    out[m_i].append((w[ok] + j, x[ok], t[m_i][pos[ok]]))
    finally:
        for m, t in zip(models, saved):
            m.threshold = t
    return [tuple(np.concatenate(a) for a in zip(*parts)) if parts else
            (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)) for parts in out]


@dataclass
class WindowCalls:
    """Calls of one TF on scanned windows: window index, start, end (window coordinates, clipped), peak, peak P."""

    win: np.ndarray
    start: np.ndarray
    end: np.ndarray
    peak: np.ndarray
    peak_p: np.ndarray

    def subset(self, mask) -> "WindowCalls":
        """Return the calls selected by a boolean or index ``mask``."""
        return WindowCalls(*(a[mask] for a in (self.win, self.start, self.end, self.peak, self.peak_p)))

    def __len__(self) -> int:
        return len(self.win)


def calls_from_points(points, width: int, length: int = 100, *, suppress: int | None = None) -> WindowCalls:
    """Peak calls (:func:`tfscope.scan.calls.peak_calls`) of one model's points of :func:`window_points`."""
    w, x, p = points
    if not len(w):
        z = np.zeros(0, np.int64)
        return WindowCalls(z, z, z, z, np.zeros(0))
    gap = 10 * width + length  # windows far apart: suppression never crosses them
    g = w * (length + gap) + x
    order = np.argsort(g, kind="stable")
    calls = peak_calls(g[order], p[order], width, int(g.max()) + length + gap, suppress=suppress)
    peak = np.array([c[2] for c in calls], np.int64)
    win = peak // (length + gap)
    # as a scan of each window as its own record does: the call moved inside the window, keeping its width
    st = np.clip(np.array([c[0] for c in calls], np.int64) - win * (length + gap), 0, max(0, length - width))
    en = np.minimum(st + width, length)
    return WindowCalls(win, st, en, peak - win * (length + gap), p[order][[c[3] for c in calls]].astype(float))


def _overlap(calls: WindowCalls, sites) -> tuple[np.ndarray, np.ndarray]:
    """Match one TF's calls and sites.

    ``(call matched, best peak P of the calls overlapping each site)`` for one TF's calls and sites (window index,
    start, end arrays).
    """
    sw, ss, se = sites
    matched = np.zeros(len(calls), bool)
    best = np.full(len(sw), -1.0)
    if not len(calls) or not len(sw):
        return matched, best
    order = np.argsort(sw, kind="stable")
    sw, ss, se = sw[order], ss[order], se[order]
    lo = np.searchsorted(sw, calls.win, side="left")
    hi = np.searchsorted(sw, calls.win, side="right")
    best_sorted = np.full(len(sw), -1.0)
    for i in np.flatnonzero(hi > lo):
        j = np.arange(lo[i], hi[i])
        hit = j[(ss[j] < calls.end[i]) & (calls.start[i] < se[j])]
        if len(hit):
            matched[i] = True
            best_sorted[hit] = np.maximum(best_sorted[hit], calls.peak_p[i])
    best[order] = best_sorted
    return matched, best


def _group_sites(windows: GenomeWindows, members) -> tuple:
    parts = [windows.sites[t] for t in members if t in windows.sites]
    if not parts:
        z = np.zeros(0, np.int64)
        return z, z, z
    return tuple(np.concatenate(a) for a in zip(*parts))


def evaluate_tf(calls: WindowCalls, windows: GenomeWindows, tf: str, members) -> dict:
    """Arrays that score one TF's calls at any threshold.

    Per call ``peak_p``, ``match`` (a site of the TF) and ``group_match`` (a site of any TF of ``members``); per true
    site wholly inside a window, ``site_best`` (the best peak P of the calls overlapping it, -1 if none) and
    ``n_sites``; per matched call the distance from its peak to the nearest overlapped site centre is not kept here (see
    :func:`peak_distances`).
    """
    z = np.zeros(0, np.int64)
    own = windows.sites.get(tf, (z, z, z))
    match, best = _overlap(calls, own)
    gmatch, _ = _overlap(calls, _group_sites(windows, members))
    inside = (own[1] >= 0) & (own[2] <= windows.length)
    return {"peak_p": calls.peak_p, "match": match, "group_match": gmatch, "site_best": best[inside],
            "n_sites": int(inside.sum())}


def peak_distances(calls: WindowCalls, windows: GenomeWindows, tf: str) -> np.ndarray:
    """Distance (bp) from each call's peak to the centre of the nearest site of its TF in its window (NaN if none)."""
    z = np.zeros(0, np.int64)
    sw, ss, se = windows.sites.get(tf, (z, z, z))
    out = np.full(len(calls), np.nan)
    if not len(sw):
        return out
    order = np.argsort(sw, kind="stable")
    sw, c = sw[order], ((ss + se) / 2)[order]
    lo = np.searchsorted(sw, calls.win, side="left")
    hi = np.searchsorted(sw, calls.win, side="right")
    for i in np.flatnonzero(hi > lo):
        out[i] = np.abs(c[lo[i]:hi[i]] - calls.peak[i]).min()
    return out


def site_scores(ev: dict, threshold: float) -> dict:
    """Site precision, recall, F1 and group precision of one TF's calls at ``threshold`` (:func:`evaluate_tf`)."""
    keep = ev["peak_p"] >= threshold
    n = int(keep.sum())
    prec = float(ev["match"][keep].mean()) if n else 0.0
    gprec = float(ev["group_match"][keep].mean()) if n else 0.0
    rec = float((ev["site_best"] >= threshold).sum() / ev["n_sites"]) if ev["n_sites"] else float("nan")
    f1 = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
    return {"precision": prec, "recall": rec, "f1": f1, "group_precision": gprec, "calls": n}


def best_site_threshold(ev: dict, *, lo: float = 0.05) -> float:
    """Return the threshold (a call's peak probability, at least ``lo``) that maximises site F1 of :func:`evaluate_tf`."""
    cand = np.unique(np.round(ev["peak_p"][ev["peak_p"] >= lo], 4))
    if not len(cand):
        return 0.5
    if len(cand) > 400:
        cand = np.unique(np.quantile(cand, np.linspace(0, 1, 400)))
    f1 = [site_scores(ev, t)["f1"] for t in cand]
    return float(cand[int(np.argmax(f1))])


def isotonic_map(x: np.ndarray, y: np.ndarray, *, max_knots: int = 60) -> tuple[np.ndarray, np.ndarray] | None:
    """Return an increasing map ``x -> P(y)`` (scikit-learn isotonic regression).

    Thinned to at most ``max_knots`` knots for storage; None with fewer than 2 distinct ``x``.
    """
    from sklearn.isotonic import IsotonicRegression

    if len(np.unique(x)) < 2:
        return None
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(x, y.astype(float))
    kx, ky = iso.X_thresholds_, iso.y_thresholds_
    if len(kx) > max_knots:
        keep = np.unique(np.linspace(0, len(kx) - 1, max_knots).round().astype(int))
        kx, ky = kx[keep], ky[keep]
    return kx, ky


def fit_confidence(ev: dict, bg_peaks: np.ndarray, *, min_calls: int = 30, pooled=None) -> CallConfidence:
    """Fit a TF's call confidence from its calibration calls.

    A TF's :class:`tfscope.scan.calls.CallConfidence` from its calibration calls (:func:`evaluate_tf`, at the floor) and
    the peak probabilities of its calls on background windows (no site of its group). TFs with fewer than ``min_calls``
    calibration calls take the ``pooled`` maps (fitted on all TFs' calls).
    """
    x = ev["peak_p"]
    if len(x) >= min_calls:
        prec, gprec = isotonic_map(x, ev["match"]), isotonic_map(x, ev["group_match"])
    else:
        prec, gprec = pooled if pooled is not None else (None, None)
    counts = (np.asarray(bg_peaks)[None, :] >= BG_GRID[:, None]).sum(1) if len(bg_peaks) else np.zeros(len(BG_GRID))
    return CallConfidence(prec, gprec, counts.astype(float), int(len(bg_peaks)))


def cached_window_points(models, windows: GenomeWindows, cache=None, *, weights=None, workers: int = 2):
    """:func:`window_points`, saved to / loaded from the ``.npz`` file ``cache`` (when given).

    Keyed by the sha256 of the models' ``weights`` file, the chromosome, the window count, the network's inference
    runtime (:func:`tfscope.zoo.gated.effective_runtime`; for int8, with its version and calibration DNA) and its
    hyper-parameters (``hparams()``, where the network has them: a gated zoo's gate lives in its config, not in its
    weights), so that calibration and benchmark runs of one model scan once and a changed gate scans anew.

    Returns
    -------
    (points, seconds) : the points and the wall time of the scan that made them (when it was run, not loaded)
    """
    from .gated import effective_runtime

    net = models[0].model if models else None
    runtime = effective_runtime(net) or ""  # for int8: the arithmetic's version and the calibration DNA's fingerprint
    hp = net.hparams() if callable(getattr(net, "hparams", None)) else None
    spec = hashlib.sha256(json.dumps(hp, sort_keys=True, default=str).encode()).hexdigest()[:12] if hp else ""
    key = f"{file_sha256(weights)[:16] if weights else ''}:{windows.chrom}:{len(windows)}:{runtime}:{spec}"
    if cache is not None and Path(cache).exists():
        z = np.load(cache, allow_pickle=False)
        if str(z["key"]) == key and int(z["n_models"]) == len(models):
            n = z["counts"]
            cut = np.concatenate([[0], np.cumsum(n)])
            secs = float(z["seconds"]) if "seconds" in z else float("nan")
            return [(z["win"][a:b], z["pos"][a:b], z["p"][a:b]) for a, b in zip(cut[:-1], cut[1:])], secs
    t0 = time.time()
    points = window_points(models, windows, workers=workers)
    secs = time.time() - t0
    if cache is not None:

        with atomic_write(cache, "wb", suffix=".tmp.npz") as fh:
            np.savez(fh, key=key, n_models=len(models), seconds=secs, counts=np.array([len(p[0]) for p in points]),
                     win=np.concatenate([p[0] for p in points]), pos=np.concatenate([p[1] for p in points]),
                     p=np.concatenate([p[2] for p in points]))
    return points, secs


def calibrate_calls(models, windows: GenomeWindows, groups: dict[str, str], widths: dict[str, int], *,
                    workers: int = 2, verbose: bool = True, points=None) -> dict:
    """Choose each TF's call threshold (best site F1) and fit its call confidence on calibration windows (chr7).

    Parameters
    ----------
    models : ScanModels of the zoo (one per TF)
    windows : :class:`GenomeWindows` of the calibration chromosome
    groups : TF -> paralog group name (:func:`tfscope.zoo.groups.paralog_groups`)
    widths : TF -> site width (bp)

    Returns
    -------
    dict TF -> ``{"threshold", "site_width", "call_confidence" (:meth:`CallConfidence.to_meta`),
    "site_calibration": {precision, recall, f1, group_precision, calls, set}}``
    """
    t0 = time.time()
    points = window_points(models, windows, workers=workers) if points is None else points
    if verbose:
        print(f"[calls] {windows.chrom}: {len(windows):,} windows scanned at floor {FLOOR} ({time.time() - t0:.0f}s)",
              flush=True)
    members = {}
    for tf, g in groups.items():
        members.setdefault(g, []).append(tf)
    evs, calls_by = {}, {}
    for m, pts in zip(models, points):
        calls = calls_from_points(pts, widths[m.name], windows.length)
        calls_by[m.name] = calls
        evs[m.name] = evaluate_tf(calls, windows, m.name, members[groups[m.name]])
    pooled_x = np.concatenate([e["peak_p"] for e in evs.values()])
    pooled = (isotonic_map(pooled_x, np.concatenate([e["match"] for e in evs.values()])),
              isotonic_map(pooled_x, np.concatenate([e["group_match"] for e in evs.values()])))
    out = {}
    for m in models:
        tf, ev, calls = m.name, evs[m.name], calls_by[m.name]
        grp = _group_sites(windows, members[groups[tf]])
        bg_win = np.setdiff1d(np.arange(len(windows)), grp[0])
        bg = calls.peak_p[np.isin(calls.win, bg_win)]
        conf = fit_confidence(ev, bg, pooled=pooled)
        thr = best_site_threshold(ev)
        out[tf] = {"threshold": thr, "site_width": int(widths[tf]), "call_confidence": conf.to_meta(),
                   "site_calibration": {**{k: round(v, 4) for k, v in site_scores(ev, thr).items()},
                                        "set": f"tfbs-multilabel windows on {windows.chrom} scanned as separate "
                                               f"records; threshold = best site F1; {len(bg_win):,} background "
                                               f"windows (no site of the group)"}}
    return out


def site_widths(snr_dir, tfs) -> dict[str, int]:
    """TF -> median site length (bp) of its tfbs-snr table (the width of one call; its JASPAR matrix width)."""
    out = {}
    for tf in tfs:
        t = read_snr_table(snr_table_path(tf, snr_dir))
        b = t["bound"] > 0
        out[tf] = int(np.median(t["site_end"][b] - t["site_start"][b]))
    return out


def calibrate_zoo(zoo, windows_path, sites_path, snr_dir, *, out, chrom: str = "chr7", workers: int = 2) -> dict:
    """Write a copy of the multi-TF zoo checkpoint ``zoo`` whose calls are calibrated on ``chrom`` (chr7).

    Paralog groups (``meta.groups``, :func:`tfscope.zoo.groups.paralog_groups`), and per TF (``meta.per_tf[TF]``) the
    site width, the call threshold (best site F1), the call confidence and the site-level calibration numbers
    (:func:`calibrate_calls`). The window-level calibration record (``calibration``) is kept. Weights unchanged.

    Returns
    -------
    dict TF -> the new per-TF fields.
    """
    zoo, out = Path(zoo), Path(out)

    models = load_scan_models([zoo], device="cpu")
    tfs = [m.name for m in models]
    groups = paralog_groups(tfs)
    widths = site_widths(snr_dir, tfs)
    for m in models:
        m.call.site_width, m.call.group, m.call.confidence = widths[m.name], groups[m.name], None
    windows = GenomeWindows.load(windows_path, sites_path, chrom)
    cache = out.parent / f"points-{chrom}.npz"
    points, secs = cached_window_points(models, windows, cache, weights=zoo / "model.safetensors", workers=workers)
    print(f"[calls] {chrom}: {len(windows):,} windows scanned at floor {FLOOR} ({secs:.0f} s; points kept in {cache})",
          flush=True)
    res = calibrate_calls(models, windows, groups, widths, workers=workers, points=points, verbose=False)
    cfg = json.loads((zoo / "config.json").read_text())
    meta = cfg["meta"]
    meta["groups"] = groups
    meta["group_rule"] = ("connected TFs: Tomtom p < 1e-3 both ways (average linkage, JASPAR 2022 CORE vertebrates as "
                          "targets) or a shared TFClass family with Tomtom p < 0.5 (tfscope.zoo.groups)")
    for tf, rec in res.items():
        meta["per_tf"].setdefault(tf, {}).update(rec)
    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() != zoo.resolve():
        shutil.copyfile(zoo / "model.safetensors", out / "model.safetensors")
    with atomic_write(out / "config.json") as fh:
        fh.write(dump_config(cfg))
    return res
