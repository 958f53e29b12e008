"""The bundled model zoos: nucleotide-resolution models of the 45 human TFs of the BertSNR benchmark.

Three zoos ship in ``resources/zoo/<kind>/`` as standard tfscope checkpoints (safetensors + config.json), in one of
two layouts that every function here reads:

- ``genomic`` (the default of ``tfscope scan``): **one** checkpoint (``resources/zoo/genomic/``), a
  :class:`tfscope.zoo.gated.GatedZoo`: a multi-TF dilated CNN (:mod:`tfscope.zoo.multitask`, trained on every
  genome window of the tfbs-multilabel train chromosomes with all 45 TFs' sites, plus dinucleotide shuffles) says
  whether a TF binds near a nucleotide, and the TF's per-TF model of the shuffled zoo says where; each TF's call
  threshold is calibrated on the real chr7 genome windows, and ``meta.per_tf[TF].calibration`` records the
  window-level precision and recall it gave there. This is the zoo for calls on a user's DNA.
- ``fast``: the genomic zoo distilled (:mod:`tfscope.zoo.student`): the same gate with a detector that predicts
  the pooled detector track on an 8-bp grid and small per-TF localizers, their convolutions run in int8 on the CPU
  (the ``int8`` runtime, :mod:`tfscope.models.int8`) and calibrated on chr7 the same way under it; several times
  cheaper per Mbp, at a small cost in per-site F1 (``docs/genome_scale.md``).
- ``shuffled``: one 16-channel dilated CNN per TF (``resources/zoo/shuffled/<TF>/``) trained against dinucleotide
  shuffles only (the BertSNR paper protocol), threshold = best nucleotide F1 on shuffled validation windows. It
  over-calls on genome background; kept for the paper protocol.

Each TF's record (a per-TF checkpoint's ``meta``, or ``meta.per_tf[TF]`` of a multi-TF one) also holds its JASPAR
2022 matrix id, TF class and family and the test-split metrics of the BertSNR benchmark. Built by
``scripts/build_zoo.py``. Load zoo models with :func:`load_zoo`.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError
from ..resources import resource
from ..scan.models import load_scan_models

ZOOS = ("genomic", "fast", "shuffled")
DEFAULT_ZOO = "genomic"


def zoo_dir(directory, kind: str) -> Path:
    """``directory``, else the bundled zoo ``kind`` (in :data:`ZOOS`; an unknown kind raises InputError)."""
    if directory:
        return Path(directory)
    if kind not in ZOOS:
        raise InputError(f"unknown zoo {kind!r}; choose from {', '.join(ZOOS)}")
    return resource("zoo", kind)


def _multi_config(d: Path) -> dict | None:
    """config.json of a multi-TF zoo (the directory is one checkpoint with ``meta.tfs``), else None."""
    p = d / "config.json"
    if not p.exists():
        return None
    cfg = json.loads(p.read_text())
    return cfg if "tfs" in cfg.get("meta", {}) else None


def _records(d: Path) -> dict[str, tuple[str, dict]]:
    """TF -> (model name, per-TF record) for either zoo layout (see the module docstring).

    A multi-TF zoo's record also carries the TF's paralog ``group`` (``meta.groups``).
    """
    multi = _multi_config(d)
    if multi is not None:
        per_tf = multi["meta"].get("per_tf", {})
        groups = multi["meta"].get("groups", {})
        name = f"{multi.get('model')}-multitask"
        return {tf: (name, {"group": groups.get(tf, tf), **per_tf.get(tf, {})}) for tf in sorted(multi["meta"]["tfs"])}
    out = {}
    for p in sorted(d.iterdir()) if d.exists() else []:
        if (p / "config.json").exists():
            cfg = json.loads((p / "config.json").read_text())
            out[p.name] = (cfg.get("model"), cfg.get("meta", {}))
    return out


def zoo_tfs(directory=None, *, kind: str = DEFAULT_ZOO) -> list[str]:
    """TF names available in the zoo (sorted)."""
    return sorted(_records(zoo_dir(directory, kind)))


def call_meaning(meta: dict) -> str:
    """One sentence saying what a call of a zoo model means (its threshold and where it was chosen)."""
    thr = float(meta.get("threshold", 0.5))
    cal = meta.get("calibration")
    site = meta.get("site_calibration")
    if site:
        return (f"peak P >= {thr:.3f}: on held-out chr7 genome windows, {site['precision']:.0%} of the calls "
                f"overlapped a ChIP-seq JASPAR site of the TF and {site['group_precision']:.0%} one of its paralog "
                f"group; {site['recall']:.0%} of its sites were called. Each call also carries its own estimated "
                f"precision, p-value and q-value")
    if cal:
        return (f"P >= {thr:.3f}: on held-out chr7 genome windows, {cal['precision']:.0%} of windows with a call "
                f"held a ChIP-seq JASPAR site of the TF (recall {cal['recall']:.0%}, {cal['n_positive']} of "
                f"{cal['n_windows']} windows bound)")
    return (f"P >= {thr:.3f}: best nucleotide F1 against dinucleotide-shuffled negatives; no genome-background "
            f"calibration (expect many calls on real DNA)")


def _distinct(terms: str) -> str:
    """``"; "``-joined JASPAR terms of a dimer without repeats (BATF::JUN: one bZIP class, not two)."""
    return "; ".join(dict.fromkeys(s.strip() for s in terms.split(";") if s.strip()))


def list_zoo(directory=None, *, kind: str = DEFAULT_ZOO) -> list[dict]:
    """One row per TF of the zoo.

    TF, model, paralog ``group``, ``site_width`` (bp, the width of one call), JASPAR id, TF class, family, threshold,
    its chr7 call precision and recall (``call_precision``/``call_recall``: per site when the zoo is site-calibrated,
    else per genome window; NaN for the shuffled zoo), ``group_precision``, test nt_auprc/nt_auroc/seq_auroc, and
    ``call_meaning`` (:func:`call_meaning`).

    Raises
    ------
    InputError
        If the zoo directory is empty or missing.
    """
    d = zoo_dir(directory, kind)
    recs = _records(d)
    if not recs:
        raise InputError("no models in the zoo (run scripts/build_zoo.py)", str(d))
    rows = []
    for tf, (model, meta) in recs.items():
        m = meta.get("test_metrics", {})
        cal = meta.get("site_calibration") or meta.get("calibration") or {}
        rows.append({"TF": tf, "model": model, "group": meta.get("group", tf),
                     "site_width": meta.get("site_width", float("nan")), "jaspar_id": meta.get("jaspar_id", ""),
                     "tf_class": _distinct(meta.get("tf_class", "")), "tf_family": _distinct(meta.get("tf_family", "")),
                     "threshold": meta.get("threshold", 0.5),
                     "call_precision": cal.get("precision", float("nan")),
                     "call_recall": cal.get("recall", float("nan")),
                     "group_precision": cal.get("group_precision", float("nan")),
                     "nt_auprc": m.get("nt_auprc", float("nan")),
                     "nt_auroc": m.get("nt_auroc", float("nan")), "seq_auroc": m.get("seq_auroc", float("nan")),
                     "call_meaning": call_meaning(meta)})
    return rows


def load_zoo(tfs=None, directory=None, *, kind: str = DEFAULT_ZOO, device: str = "auto") -> list:
    """Load zoo models for ``tfs`` (default: all, sorted).

    The models are :class:`tfscope.scan.engine.ScanModel` on ``device``, in either layout (a multi-TF zoo gives one
    ScanModel per TF sharing one network).

    Raises
    ------
    InputError
        For a TF name that is not in the zoo (the message lists the available ones), an empty zoo, or an unknown
        zoo kind.
    """
    d = zoo_dir(directory, kind)
    avail = zoo_tfs(d)
    if not avail:
        raise InputError("no models in the zoo (run scripts/build_zoo.py)", str(d))
    lookup = {t.upper(): t for t in avail}
    for t in tfs or []:
        if t.upper() not in lookup:
            raise InputError(f"unknown TF {t!r}; the zoo has: {', '.join(avail)}")
    names = [lookup[t.upper()] for t in tfs] if tfs else avail
    if _multi_config(d) is not None:
        return load_scan_models([d], device=device, tfs=names)
    return load_scan_models([d / t for t in names], device=device)
