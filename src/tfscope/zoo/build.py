"""The gated zoo's build recipe (``scripts/build_zoo.py --gated``, ``--swap-localizers``, ``--unpack``).

Assemble a detector and per-TF localizers into a :class:`tfscope.zoo.gated.GatedZoo`, choose the gate on tfbs-snr
validation rows and chr7 genome windows (never chr8 or chr9; :data:`GRID`, :data:`MAX_WINDOW_DROP`), swap localizers,
and split a zoo back into its parts. See ``docs/genomic.md``.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import load_checkpoint, save_checkpoint
from ..errors import CheckpointError
from ..metrics import snr_metrics
from ..scan.engine import ScanModel, scan_tracks
from ..sequence import decode
from ..snr.data import load_snr, snr_table_path, train_valid_test
from ..snr.train import TASK
from ..train import predict
from .gated import EPS, GatedOne, GatedZoo, gate_probabilities
from .student import LocalizerStudent
from .multitask import genome_window_data, load_training_windows, window_calibration

#: the gate settings tried by :func:`build_gated_zoo` (fixed before any run; see docs/genomic.md)
GRID = {"pool": (10, 25, 50), "shape_power": (1.0, 2.0, 4.0), "detector_weight": (1.0, 0.9, 0.8, 0.7)}
#: the selection rule's tolerance: chr7 mean window AUPRC may fall at most this much below the detector's alone
MAX_WINDOW_DROP = 0.003


def assemble(detector, localizers, **gate) -> tuple[GatedZoo, dict]:
    """Assemble a gated zoo from a detector and per-TF localizers.

    A :class:`GatedZoo` from a multi-TF detector checkpoint and a folder of per-TF localizer checkpoints
    (``localizers/<TF>``, e.g. the bundled shuffled zoo), weights copied.

    Returns
    -------
    (model, detector config)

    Raises
    ------
    CheckpointError
        If a checkpoint is missing or mismatched (:func:`tfscope.checkpoint.load_checkpoint`), the detector is not
        multi-TF, or the localizers differ in architecture.
    """
    det, cfg = load_checkpoint(detector, task="snr")
    names = list(cfg.get("meta", {}).get("tfs", []))
    if not names:
        raise CheckpointError(f"{detector}: the detector must be a multi-TF checkpoint (meta.tfs)")
    locs, hp = [], None
    for tf in names:
        net, lcfg = load_checkpoint(Path(localizers) / tf, task="snr")
        if hp is not None and lcfg["hparams"] != hp:
            raise CheckpointError(f"{Path(localizers) / tf}: localizers must share one architecture")
        hp = lcfg["hparams"]
        locs.append(net)
    model = GatedZoo(cfg["hparams"], hp, **gate)
    model.detector.load_state_dict(det.state_dict())
    for m, net in zip(model.localizers, locs):
        m.load_state_dict(net.state_dict())
    return model.eval(), cfg


@torch.no_grad()
def _part_tracks(model: GatedZoo, windows: list[str], record_bp: int = 100_000) -> list:
    """Return detector and localizer tracks of genome windows.

    Per record of about ``record_bp`` (genome windows concatenated in genomic order, scanned like any sequence by
    :func:`tfscope.scan.engine.scan_tracks`): detector and localizer probability tracks ``(2T, S)``
    (:meth:`GatedZoo.parts`, strands combined).
    """
    parts = _Parts(model).eval()
    ms = [ScanModel(str(i), parts, output=i) for i in range(2 * model.n_outputs)]
    per = max(1, record_bp // len(windows[0]))
    return [scan_tracks(ms, "".join(windows[i:i + per]))[0] for i in range(0, len(windows), per)]


class _Parts(nn.Module):
    """:meth:`GatedZoo.parts` side by side as logits ``(N, 2T, L)`` (fully convolutional, strand-symmetric)."""

    strand_symmetric = True

    def __init__(self, model: GatedZoo):
        super().__init__()
        self.model = model
        self.receptive_field = model.receptive_field

    def forward(self, x):
        return torch.logit(torch.cat(self.model.parts(x), 1).clamp(EPS, 1 - EPS))


def _window_scores(tracks: list, pool: int, shape_power: float, detector_weight: float, window: int = 100):
    """Return window maxima of the gated track.

    ``(T, N)`` window maxima of the gated track from :func:`_part_tracks` output (records pooled separately, as a scan
    of each record would).
    """
    import numpy as np

    out = []
    for rec in tracks:
        T = rec.shape[0] // 2
        q = gate_probabilities(torch.from_numpy(rec[:T]), torch.from_numpy(rec[T:]), pool=pool,
                               shape_power=shape_power, detector_weight=detector_weight)
        out.append(q.reshape(T, -1, window).amax(-1).numpy())
    return np.concatenate(out, axis=1)


def _snr_rows(model: GatedZoo, tfs: list[str], snr_dir, split: str, seed: int = 0) -> dict:
    """Return TF -> (detector probs, localizer probs, nucleotide labels, window labels) on a tfbs-snr split.

    ``valid``: the seeded validation rows of :func:`tfscope.snr.data.train_valid_test`, as the localizers were
    trained; ``test``: the paper's test rows. Forward strand only, as the paper protocol of every zoo (:class:`GatedOne`).
    """
    out = {}
    for t, tf in enumerate(tfs):
        d = load_snr(snr_table_path(tf, snr_dir))
        rows = train_valid_test(d, seed=seed)[1] if split == "valid" else d.subset(d.split == "test")
        if not len(rows):
            continue
        one = GatedOne(model, t, parts=True).eval()
        p = predict(one, rows.x, activation=None)
        out[tf] = (p[:, 0], p[:, 1], rows.y_nt, rows.y_seq)
    return out


def localizer_record(localizers, metas) -> dict:
    """``meta.localizers`` of a gated zoo.

    Where its per-TF localizers came from and which chromosomes' tfbs-snr rows they never saw (the union of their
    checkpoints' ``meta.excluded_chroms``).
    """
    excluded = sorted({c for m in metas for c in m.get("excluded_chroms", [])})
    return {"source": str(localizers), "excluded_chroms": excluded,
            "note": "per-TF localizers trained on the tfbs-snr paper split without the rows on "
                    + (", ".join(excluded) or "no chromosome")}


def _nt_auprc(rows: dict, **gate) -> dict:
    """TF -> paper-protocol metrics (:func:`tfscope.metrics.snr_metrics`) of the gated track on :func:`_snr_rows`."""
    out = {}
    for tf, (g, s, y, ys) in rows.items():
        q = gate_probabilities(torch.from_numpy(g), torch.from_numpy(s), **gate).numpy() if gate else g
        out[tf] = snr_metrics(y, q, ys, q.max(axis=1))
    return out


def build_gated_zoo(detector, localizers, windows_path, snr_dir, *, out, grid: dict | None = None,
                    max_window_drop: float = MAX_WINDOW_DROP, verbose: bool = True) -> dict:
    """Choose the gate, calibrate the calls on chr7 and save a :class:`GatedZoo` checkpoint.

    Selection rule (fixed before the first run): among the settings of ``grid`` (default :data:`GRID`) whose chr7
    mean window AUPRC is at most ``max_window_drop`` below the detector's own, take the one with the highest mean
    nucleotide AUPRC on the tfbs-snr *validation* rows; chr8, chr9 and the tfbs-snr test rows are not looked at.
    Then each TF's call threshold is the best window-level F1 on chr7 (:func:`tfscope.zoo.multitask.window_calibration`)
    and its paper-protocol test metrics are measured on the tfbs-snr test rows (forward strand, :class:`GatedOne`).
    The model combines the two strands itself (:meth:`GatedZoo.parts`; ``meta.strands`` is kept as ``mean``, which
    leaves its identical strand tracks unchanged).

    Parameters
    ----------
    detector : path of a multi-TF genomic checkpoint (:mod:`tfscope.zoo.multitask`)
    localizers : folder of per-TF checkpoints (``<TF>/``), e.g. the shuffled zoo
    windows_path, snr_dir : the tfbs-multilabel windows table and the tfbs-snr tables
    out : checkpoint directory written (atomically)

    Returns
    -------
    dict: ``gate`` (the chosen setting), ``grid`` (every setting's chr7 window AUPRC and validation nt AUPRC),
    ``detector`` (the detector's own two numbers), ``per_tf``.
    """
    t0 = time.time()
    grid = grid or GRID
    model, cfg = assemble(detector, localizers)
    tfs = list(cfg["meta"]["tfs"])
    w, _, va, sites, _ = load_training_windows(windows_path, snr_dir, tfs)
    valid = genome_window_data(w, va, sites, tfs, mask_test_sites=False)
    tracks = _part_tracks(model, decode(w.x[va]))
    if verbose:
        print(f"[gated] chr7 tracks of {len(tfs)} TFs ({time.time() - t0:.0f}s)", flush=True)
    rows = _snr_rows(model, tfs, snr_dir, "valid")
    det_score = _window_scores(tracks, pool=0, shape_power=0.0, detector_weight=1.0)  # the detector alone
    base = {"chr7_window_auprc": _mean(window_calibration(det_score, tfs, valid), "window_auprc"),
            "valid_nt_auprc": _mean(_nt_auprc(rows), "nt_auprc")}
    results, cals = [], []
    for pool, beta, a in itertools.product(grid["pool"], grid["shape_power"], grid["detector_weight"]):
        gate = {"pool": int(pool), "shape_power": float(beta), "detector_weight": float(a)}
        cals.append(window_calibration(_window_scores(tracks, **gate), tfs, valid))
        results.append({**gate, "chr7_window_auprc": _mean(cals[-1], "window_auprc"),
                        "valid_nt_auprc": _mean(_nt_auprc(rows, **gate), "nt_auprc")})
        if verbose:
            print(f"[gated] {gate}: chr7 window AUPRC {results[-1]['chr7_window_auprc']:.4f}, tfbs-snr valid nt "
                  f"AUPRC {results[-1]['valid_nt_auprc']:.4f}", flush=True)
    ok = [r for r in results if r["chr7_window_auprc"] >= base["chr7_window_auprc"] - max_window_drop]
    # none within the tolerance: the setting that ranks chr7 windows best
    best = max(ok, key=lambda r: r["valid_nt_auprc"]) if ok else max(results, key=lambda r: r["chr7_window_auprc"])
    gate = {k: best[k] for k in ("pool", "shape_power", "detector_weight")}
    model.set_gate(**gate)
    cal = cals[results.index(best)]
    test = _nt_auprc(_snr_rows(model, tfs, snr_dir, "test"), **gate)
    meta = dict(cfg["meta"])
    meta.pop("history", None)
    per_tf = meta.get("per_tf", {})
    for tf in tfs:
        per_tf[tf] = {**per_tf.get(tf, {}), "threshold": cal[tf]["threshold"], "calibration": cal[tf],
                      "test_metrics": test.get(tf, {})}
    meta["localizers"] = localizer_record(localizers, [json.loads((Path(localizers) / tf / "config.json").read_text())
                                                       .get("meta", {}) for tf in tfs])
    selection = {"rule": f"highest tfbs-snr validation nt AUPRC among settings within {max_window_drop} of the "
                         "detector's chr7 window AUPRC", "detector": base, "grid": results, "chosen": gate,
                 "localizers": str(localizers), "seconds": round(time.time() - t0, 1)}
    meta.update({"strands": "mean", "per_tf": per_tf, "gate": selection,
                 "recipe": f"{meta.get('recipe', 'multi-TF detector')}; gated by the per-TF localizers of "
                           f"{Path(localizers).name} (tfscope.zoo.gated)"})
    save_checkpoint(out, model, model_name="gated", task="snr", hparams=model.hparams(), meta=meta)
    return {"gate": gate, "grid": results, "detector": base, "per_tf": per_tf}


def _mean(records: dict, key: str) -> float:
    return float(sum(r[key] for r in records.values()) / len(records))


def swap_localizers(zoo, localizers, snr_dir, *, out, verbose: bool = True) -> dict:
    """Return a copy of the gated zoo checkpoint ``zoo`` with other per-TF localizers.

    The localizers (``localizers/<TF>``) are e.g. retrained without the tfbs-snr rows of chr7, chr8 and chr9), the detector and gate kept, each TF's tfbs-snr
    test metrics re-measured (forward strand, :class:`GatedOne`), saved to ``out``. Call thresholds and confidence are
    then re-fitted by :func:`tfscope.zoo.sites.calibrate_calls` (``scripts/build_zoo.py --calibrate-calls``).

    Returns
    -------
    dict TF -> test metrics.

    Raises
    ------
    CheckpointError
        A missing or mismatched checkpoint, or localizers of another architecture than the zoo's.
    """
    model, cfg = load_checkpoint(zoo, task="snr")
    meta = dict(cfg["meta"])
    tfs = list(meta["tfs"])
    loc_meta = {}
    for i, tf in enumerate(tfs):
        net, lcfg = load_checkpoint(Path(localizers) / tf, task="snr")
        if lcfg["hparams"] != cfg["hparams"]["localizer"]:
            raise CheckpointError(f"{Path(localizers) / tf}: localizer architecture {lcfg['hparams']} differs from "
                                  f"the zoo's {cfg['hparams']['localizer']}")
        model.localizers[i].load_state_dict(net.state_dict())
        loc_meta[tf] = lcfg["meta"]
    gate = {k: cfg["hparams"][k] for k in ("pool", "shape_power", "detector_weight")}
    test = _nt_auprc(_snr_rows(model, tfs, snr_dir, "test"), **gate)
    for tf in tfs:
        rec = meta["per_tf"].setdefault(tf, {})
        rec["test_metrics"] = test.get(tf, {})
        rec["site_width"] = int(loc_meta[tf].get("site_width", rec.get("site_width", 10)))
        if verbose:
            print(f"[gated] {tf}: tfbs-snr test nt AUPRC {test.get(tf, {}).get('nt_auprc', float('nan')):.4f}",
                  flush=True)
    meta["localizers"] = localizer_record(localizers, loc_meta.values())
    meta["gate"] = {**meta.get("gate", {}), "localizers_swapped": json.dumps(meta["localizers"])}
    save_checkpoint(out, model, model_name="gated", task="snr", hparams=model.hparams(), meta=meta)
    return test


def unpack(zoo, out) -> dict:
    """Write the parts of a gated zoo checkpoint as the checkpoints it was built from.

    ``out/multitask`` (the multi-TF detector, e.g. to continue its training with
    :func:`tfscope.zoo.multitask.train_multitask`'s ``init``) and ``out/dilated/<TF>`` (one localizer per TF, e.g. for
    :func:`build_gated_zoo`). Weights are copied bit for bit; the detector keeps the zoo's ``meta`` minus the gate's
    fields, each localizer records the zoo's ``meta.localizers.excluded_chroms`` (so a rebuilt zoo still says which
    tfbs-snr rows its localizers never saw).

    Parameters
    ----------
    zoo : str | os.PathLike
        A :class:`GatedZoo` checkpoint directory (e.g. ``tfscope.resources.resource("zoo", "genomic")``).
    out : str | os.PathLike
        Folder to write (created; existing checkpoints in it are replaced atomically).

    Returns
    -------
    dict: ``detector`` (path), ``localizers`` (folder path), ``tfs``.

    Raises
    ------
    CheckpointError
        If ``zoo`` is not a valid gated zoo checkpoint (:func:`tfscope.checkpoint.load_checkpoint`).
    """
    model, cfg = load_checkpoint(zoo, task=TASK)
    if not isinstance(model, GatedZoo):
        raise CheckpointError(f"{zoo}: not a gated zoo checkpoint (model {cfg.get('model')!r})")
    meta = {k: v for k, v in cfg["meta"].items() if k not in ("gate", "localizers", "groups", "group_rule")}
    tfs = list(meta["tfs"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / "multitask", model.detector, model_name="dilated", task=TASK,
                    hparams=dict(model.detector_hparams), meta={**meta, "unpacked_from": str(zoo)})
    excluded = list(cfg["meta"].get("localizers", {}).get("excluded_chroms", []))
    for tf, net in zip(tfs, model.localizers):
        site_width = cfg["meta"].get("per_tf", {}).get(tf, {}).get("site_width")
        lmeta = {"tf": tf, "labels": [tf], "excluded_chroms": excluded, "unpacked_from": str(zoo)}
        if site_width is not None:
            lmeta["site_width"] = int(site_width)
        save_checkpoint(out / "dilated" / tf, net, model_name="dilated", task=TASK,
                        hparams=dict(model.localizer_hparams), meta=lmeta)
    return {"detector": str(out / "multitask"), "localizers": str(out / "dilated"), "tfs": tfs}


#: the detector's training record in a gated zoo's meta (:func:`tfscope.zoo.multitask.train_multitask`), which
#: :func:`fast_zoo` keeps under ``meta.teacher``
TEACHER_RECORD = ("negatives", "multitask", "seed", "train_rows", "valid_rows", "train_sources", "recipe", "pos_weight",
                  "excluded_chroms", "continued_from", "train_seconds")


def fast_zoo(zoo, student, out, *, localizers=None, runtime: str | None = None) -> dict:
    """Write the fast zoo: a copy of the gated zoo checkpoint ``zoo`` with distilled networks.

    ``student`` is the detector ``scripts/distill_zoo.py --part detector`` writes (``state_dict``, ``record`` with
    ``hparams``); ``localizers``, optional, the per-TF :class:`tfscope.zoo.student.LocalizerStudent` s of its
    ``--part localizers`` (a file, or a list of files of one run: ``state_dicts``, ``records``, ``hparams``); without
    it the zoo's CNN localizers are kept.
    ``runtime``: the runtime the copy declares (:class:`tfscope.zoo.gated.GatedZoo`; the shipped fast zoo: ``int8``),
    under which it is then calibrated and scanned.
    The gate and the per-TF records are kept (less the teacher's test metrics and window calibration), the teacher's
    training record moves to ``meta.teacher`` and ``meta.student`` records the distillation; the call thresholds and
    precision maps are still the teacher's: recalibrate the copy on chr7 (:func:`tfscope.zoo.sites.calibrate_zoo`)
    before scanning with it.

    Returns
    -------
    dict: ``meta.student`` as written.

    Raises
    ------
    CheckpointError
        If ``zoo`` is not a gated zoo, or a student's outputs or TFs do not match it.
    """
    model, cfg = load_checkpoint(zoo, task=TASK)
    if not isinstance(model, GatedZoo):
        raise CheckpointError(f"{zoo}: not a gated zoo")
    blob = torch.load(student, map_location="cpu", weights_only=True)
    rec = blob["record"]
    if rec["hparams"].get("n_outputs") != model.n_outputs:
        raise CheckpointError(f"{student}: {rec['hparams'].get('n_outputs')} outputs, the zoo has {model.n_outputs}")
    meta = dict(cfg["meta"])
    loc_hp, states = model.localizer_hparams, [m.state_dict() for m in model.localizers]
    if localizers is not None:
        locs = {"state_dicts": {}, "records": {}}
        for path in [localizers] if isinstance(localizers, (str, Path)) else localizers:
            part = torch.load(path, map_location="cpu", weights_only=True)
            if locs.setdefault("hparams", part["hparams"]) != part["hparams"]:
                raise CheckpointError(f"{path}: localizers of another architecture ({part['hparams']})")
            locs["state_dicts"].update(part["state_dicts"])
            locs["records"].update(part["records"])
        missing = [tf for tf in meta["tfs"] if tf not in locs["state_dicts"]]
        if missing:
            raise CheckpointError(f"{localizers}: no localizer for {', '.join(missing)}")
        locs["hparams"] = LocalizerStudent(**locs["hparams"]).hparams
        loc_hp, states = {"student": locs["hparams"]}, [locs["state_dicts"][tf] for tf in meta["tfs"]]
        meta["localizers"] = {**meta.get("localizers", {}), "students": locs["records"],
                              "note": "distilled from the CNN localizers above (scripts/distill_zoo.py --part "
                                      "localizers): segments off chr7, chr8, chr9; early stopping on chr7"}
    fast = GatedZoo(rec["hparams"], loc_hp, pool=model.pool, shape_power=model.shape_power,
                    detector_weight=model.detector_weight, runtime=runtime)
    fast.detector.load_state_dict(blob["state_dict"])
    for dst, state in zip(fast.localizers, states):
        dst.load_state_dict(state)
    meta["student"] = {**rec, "teacher": str(zoo)}
    # the teacher's training record and measurements are not this model's: the record moves under meta.teacher, its
    # paper-protocol test metrics and window-level calibration go
    meta["teacher"] = {k: meta.pop(k) for k in TEACHER_RECORD if k in meta}
    meta["per_tf"] = {tf: {k: v for k, v in r.items() if k not in ("test_metrics", "calibration")}
                      for tf, r in meta["per_tf"].items()}
    save_checkpoint(out, fast.eval(), model_name="gated", task=TASK, hparams=fast.hparams(), meta=meta)
    return meta["student"]
