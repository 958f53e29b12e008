"""The bundled model zoos: one nucleotide-resolution model per TF of the BertSNR benchmark (45 human TFs).

Two zoos of 16-channel dilated CNNs ship in ``resources/zoo/<kind>/<TF>/`` (standard tfscope checkpoints:
safetensors + config.json):

- ``genomic`` (the default of ``tfscope scan``): trained against real genome windows *and* dinucleotide
  shuffles (:class:`tfscope.data.genomic.GenomicBackground`); each model's call threshold is calibrated on the real
  chr7 genome windows of tfbs-multilabel, and ``meta.calibration`` records the window-level precision and recall it
  gave there. This is the zoo for calls on a user's DNA.
- ``shuffled``: trained against dinucleotide shuffles only (the BertSNR paper protocol), threshold = best
  nucleotide F1 on shuffled validation windows. It over-calls on genome background; kept for the paper protocol.

Each ``meta`` also holds the TF, its JASPAR 2022 matrix id, TF class and family and the test-split metrics of the
benchmark. Built by ``scripts/build_zoo.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import InputError
from .resources import resources_dir

ZOOS = ("genomic", "shuffled")
DEFAULT_ZOO = "genomic"


def zoo_dir(kind: str = DEFAULT_ZOO) -> Path:
    """Directory of a bundled zoo (``kind`` in :data:`ZOOS`).

    Raises
    ------
    InputError
        For an unknown kind.
    """
    if kind not in ZOOS:
        raise InputError(f"unknown zoo {kind!r}; choose from {', '.join(ZOOS)}")
    return resources_dir() / "zoo" / kind


def _dir(directory, kind: str) -> Path:
    return Path(directory) if directory else zoo_dir(kind)


def zoo_tfs(directory=None, *, kind: str = DEFAULT_ZOO) -> list[str]:
    """TF names available in the zoo (sorted)."""
    d = _dir(directory, kind)
    return sorted(p.name for p in d.iterdir() if (p / "config.json").exists()) if d.exists() else []


def call_meaning(meta: dict) -> str:
    """One sentence saying what a call of a zoo model means (its threshold and where it was chosen)."""
    thr = float(meta.get("threshold", 0.5))
    cal = meta.get("calibration")
    if cal:
        return (f"P >= {thr:.3f}: on held-out chr7 genome windows, {cal['precision']:.0%} of windows with a call "
                f"held a ChIP-seq JASPAR site of the TF (recall {cal['recall']:.0%}, {cal['n_positive']} of "
                f"{cal['n_windows']} windows bound)")
    return (f"P >= {thr:.3f}: best nucleotide F1 against dinucleotide-shuffled negatives; no genome-background "
            f"calibration (expect many calls on real DNA)")


def list_zoo(directory=None, *, kind: str = DEFAULT_ZOO) -> list[dict]:
    """One row per zoo model: TF, model, JASPAR id, TF class, family, threshold, its chr7 genome-window precision
    and recall (``call_precision``/``call_recall``; NaN for the shuffled zoo), test nt_auprc/nt_auroc/seq_auroc,
    and ``call_meaning`` (:func:`call_meaning`).

    Raises
    ------
    InputError
        If the zoo directory is empty or missing.
    """
    d = _dir(directory, kind)
    tfs = zoo_tfs(d)
    if not tfs:
        raise InputError("no models in the zoo (run scripts/build_zoo.py)", str(d))
    rows = []
    for tf in tfs:
        cfg = json.loads((d / tf / "config.json").read_text())
        meta = cfg.get("meta", {})
        m = meta.get("test_metrics", {})
        cal = meta.get("calibration") or {}
        rows.append({"TF": tf, "model": cfg.get("model"), "jaspar_id": meta.get("jaspar_id", ""),
                     "tf_class": meta.get("tf_class", ""), "tf_family": meta.get("tf_family", ""),
                     "threshold": meta.get("threshold", 0.5),
                     "call_precision": cal.get("precision", float("nan")),
                     "call_recall": cal.get("recall", float("nan")),
                     "nt_auprc": m.get("nt_auprc", float("nan")),
                     "nt_auroc": m.get("nt_auroc", float("nan")), "seq_auroc": m.get("seq_auroc", float("nan")),
                     "call_meaning": call_meaning(meta)})
    return rows


def zoo_checkpoints(tfs=None, directory=None, *, kind: str = DEFAULT_ZOO) -> list[Path]:
    """Checkpoint directories for ``tfs`` (default: all).

    Raises
    ------
    InputError
        For a TF name that is not in the zoo (the message lists the available ones), or an unknown zoo kind.
    """
    d = _dir(directory, kind)
    avail = zoo_tfs(d)
    if not avail:
        raise InputError("no models in the zoo (run scripts/build_zoo.py)", str(d))
    if not tfs:
        return [d / t for t in avail]
    lookup = {t.upper(): t for t in avail}
    out = []
    for t in tfs:
        if t.upper() not in lookup:
            raise InputError(f"unknown TF {t!r}; the zoo has: {', '.join(avail)}")
        out.append(d / lookup[t.upper()])
    return out
