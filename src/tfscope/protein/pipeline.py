"""Two-layer pipeline: layer 1 P(TF); for predicted TFs, layer 2 P(TFPM) (prefers methylated DNA).

The shipped offline default lives in ``tfscope/resources/protein/default_model/`` (``resource("protein_model")``;
``layer1.*``, ``layer2.*``; see ``PROVENANCE.json`` there). It is rebuilt by :func:`train_default` (``tfscope protein train``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..device import resolve_device
from ..errors import CheckpointError, InputError
from ..io.atomic import atomic_write
from ..metrics import binary_metrics
from ..resources import resource
from .data import load_layer
from .dbdmodel import fit_dbd_graded, fit_dbd_tiered
from .domains import annotate, any_dbd, tf_hits
from .esm import save_esm_classifier, train_esm
from .infer import infer_profiles, predict_class
from .methylselex import load_methylselex
from .models import load_protein_model, save_protein_model, select_default


class TwoLayerPredictor:
    """Layer-1 and layer-2 models with ``predict(records)``.

    Parameters
    ----------
    directory : model directory (default: the shipped offline default) with one tfscope checkpoint per layer,
        ``layer1/`` and ``layer2/``: classic models (:func:`tfscope.protein.models.save_protein_model`) or ESM
        classifiers (:func:`tfscope.protein.esm.save_esm_classifier`).
    device : where torch models (ESM classifiers) run: ``auto`` (CUDA when available), ``cpu``, ``cuda[:N]``; the
        classic models of the shipped default are numpy and ignore it.
    """

    def __init__(self, directory=None, *, device: str = "auto"):
        d = Path(directory) if directory is not None else resource("protein_model")
        if not d.is_dir():
            raise CheckpointError(f"{d}: protein model directory not found")
        self.directory = d
        self.layers = {}
        for layer in ("layer1", "layer2"):
            self.layers[layer] = load_protein_model(d, layer)
            net = getattr(self.layers[layer], "net", None)
            if net is not None and hasattr(net, "to"):  # torch models predict where they are

                net.to(resolve_device(device))

    def predict(self, records: dict[str, str], *, tf_threshold: float | None = None,
                tfpm_threshold: float | None = None) -> list[dict]:
        """Rows ``{"id", "p_tf", "is_tf", "p_tfpm", "is_tfpm"}``, one per record, in input order.

        ``p_tf`` is layer 1's score; ``is_tf`` is ``p_tf >= tf_threshold``, which defaults to the layer-1 model's
        threshold (the max-MCC point of out-of-fold CV). The shipped layer 1 is
        :class:`tfscope.protein.dbdmodel.DbdTieredModel`: ``p_tf = (any DBD + inner P(TF)) / 2``, 0.5 or more
        exactly when a sequence-specific DBD hits, so at its threshold a protein is a TF when a DBD hits or, without
        one, when the inner model's P(TF) is high (docs/protein.md). For proteins called TFs,
        ``p_tfpm`` is layer 2's P(TFPM) (prefers methylated DNA) and ``is_tfpm`` is ``p_tfpm >= tfpm_threshold``,
        which defaults to the layer-2 model's threshold (shipped default: 0.761, the max-MCC point of out-of-fold
        CV on the methyl-HT-SELEX set; docs/protein.md). For proteins not called TFs ``p_tfpm`` is NaN and
        ``is_tfpm`` is None.

        Raises InputError for no records or a threshold outside (0, 1).
        """
        for name, t in (("tf_threshold", tf_threshold), ("tfpm_threshold", tfpm_threshold)):
            if t is not None and not 0 < t < 1:
                raise InputError(f"{name} must lie in (0, 1), not {t}")
        if not records:
            raise InputError("no protein sequences to predict")
        ids, seqs = list(records), list(records.values())
        m1, m2 = self.layers["layer1"], self.layers["layer2"]
        thr = m1.threshold if tf_threshold is None else tf_threshold
        thr2 = m2.threshold if tfpm_threshold is None else tfpm_threshold
        p1 = np.asarray(m1.predict_proba(seqs), dtype=float)
        is_tf = p1 >= thr
        p2 = np.full(len(seqs), math.nan)
        if is_tf.any():
            p2[is_tf] = m2.predict_proba([s for s, t in zip(seqs, is_tf) if t])
        return [{"id": i, "p_tf": float(a), "is_tf": bool(t), "p_tfpm": float(b),
                 "is_tfpm": bool(b >= thr2) if t else None}
                for i, a, t, b in zip(ids, p1, is_tf, p2)]

    @property
    def thresholds(self) -> dict:
        """The models' own thresholds: ``{"tf": P(TF) cut of layer 1, "tfpm": P(TFPM) cut of layer 2}``."""
        return {"tf": float(self.layers["layer1"].threshold), "tfpm": float(self.layers["layer2"].threshold)}


PREDICTION_COLUMNS = ("id", "p_tf", "is_tf", "p_tfpm", "is_tfpm")
#: columns added by :func:`add_dbd_annotation` (``tfscope protein predict`` writes them unless ``--no-dbd``)
DBD_COLUMNS = ("n_dbd", "dbds", "tf_class", "inferred", "evidence")


def add_dbd_annotation(rows: list[dict], records: dict[str, str], *, max_inferred: int = 5) -> list[dict]:
    """Add the DNA-binding-domain view of each protein to :meth:`TwoLayerPredictor.predict` rows (in place).

    Keys added: ``dbds`` (list of ``{"family", "start", "end", "evalue", "score"}``, pyhmmer over the 88 bundled
    Pfam DBD HMMs, :mod:`tfscope.protein.domains`), ``n_dbd``, ``any_dbd`` (the rule E <= 1e-4), ``tf_class`` and
    ``class_evidence`` (:func:`tfscope.protein.infer.predict_class`; ``unknown`` without a DBD), ``inferred`` (up to
    ``max_inferred`` JASPAR matrices inferred from DBD-similar reference TFs, :func:`tfscope.protein.infer.infer_profiles`,
    each ``{"matrix_id", "name", "reference", "family", "pctid", "evidence"}``). Layer-1 ``p_tf``/``is_tf`` are
    unchanged: the DBD columns are evidence beside them, not a different layer-1 model.
    """

    hits = annotate(records)
    inf = infer_profiles(records, hits=hits)
    for r in rows:
        h = hits.get(r["id"], [])
        cl, ev = predict_class(h)
        r["dbds"] = [{"family": d.family, "start": d.start, "end": d.end, "evalue": d.evalue, "score": d.score}
                     for d in tf_hits(h)]
        r["n_dbd"] = len(r["dbds"])
        r["any_dbd"] = bool(any_dbd(h))
        r["tf_class"], r["class_evidence"] = cl, ev
        r["inferred"] = [{"matrix_id": x.matrix_id, "name": x.matrix_name, "reference": x.reference,
                          "family": x.family, "pctid": x.pctid, "evidence": x.evidence()}
                         for x in inf.get(r["id"], [])[:max_inferred]]
    return rows


def _dbd_cells(r: dict) -> str:
    dbds = ";".join(f"{d['family']}:{d['start']}-{d['end']}" for d in r["dbds"])
    inferred = ";".join(f"{x['matrix_id']}:{x['name']}" for x in r["inferred"])
    ev = r["inferred"][0]["evidence"] if r["inferred"] else ""
    return f"\t{r['n_dbd']}\t{dbds}\t{r['tf_class']}\t{inferred}\t{ev}"


def prediction_lines(rows: list[dict]):
    """The TSV lines (with newline) of :meth:`TwoLayerPredictor.predict` rows: a header of
    :data:`PREDICTION_COLUMNS` (plus :data:`DBD_COLUMNS` when the rows carry :func:`add_dbd_annotation`),
    probabilities to 4 decimals, calls as 0/1, ``p_tfpm`` and ``is_tfpm`` empty for proteins not called TFs;
    ``dbds`` = ``family:start-end`` joined by ``;``, ``inferred`` = ``matrix_id:name`` joined by ``;``,
    ``evidence`` = that of the first inferred matrix."""
    dbd = bool(rows) and "dbds" in rows[0]
    yield "\t".join(PREDICTION_COLUMNS + (DBD_COLUMNS if dbd else ())) + "\n"
    for r in rows:
        tf = not math.isnan(r["p_tfpm"])
        p2 = f"{r['p_tfpm']:.4f}" if tf else ""
        c2 = str(int(r["is_tfpm"])) if tf and r.get("is_tfpm") is not None else ""
        yield f"{r['id']}\t{r['p_tf']:.4f}\t{int(r['is_tf'])}\t{p2}\t{c2}" + (_dbd_cells(r) if dbd else "") + "\n"


def write_predictions(path, rows: list[dict]) -> None:
    """TSV of :func:`prediction_lines` (``id  p_tf  is_tf  p_tfpm  is_tfpm``), written atomically."""

    with atomic_write(path) as fh:
        fh.writelines(prediction_lines(rows))


def train_default(out_dir, *, data_dir=None, protocol: str = "dedup", seed: int = 0, verbose: bool = False,
                  test_metrics: bool = True, layers=("layer1", "layer2"), dbd_tiers: bool = True) -> dict:
    """Train the offline default and write it to ``out_dir``.

    Layer 1 (TF vs non-TF) is trained on the iTFPM-RGDC files (``protocol``, ``data_dir``); layer 2 (TFPM vs
    TFPNM) on the rebuilt methyl-HT-SELEX set shipped in the package (:mod:`tfscope.protein.methylselex`, issue 17;
    the iTFPM-RGDC layer-2 files carry the same proteins under both labels). Per layer,
    :func:`tfscope.protein.models.select_default` picks by 5-fold CV AUROC on the training set between the
    CV-tuned composition LR and the z-score stack (:mod:`tfscope.protein.stack`), and for layer 2 also the
    Smith-Waterman kNN (:mod:`tfscope.protein.align`, CV folds grouped by sequence cluster); thresholds come from
    out-of-fold CV predictions. With ``dbd_tiers`` (default) the layer-1 stack becomes the inner score of a
    :class:`~tfscope.protein.dbdmodel.DbdTieredModel` (issue 46): proteins with a sequence-specific DBD first, the
    graded DBD model (:func:`tfscope.protein.dbdmodel.fit_dbd_graded`, on the stack) inside each tier.

    With ``test_metrics`` the layer-1 independent test of the same protocol is scored once and stored in the
    provenance JSON (layer 2 has no separate test set: its grouped-CV benchmark is in
    ``benchmarks/results/protein.json``, dataset ``layer2-methylselex``). ``layers`` limits which layers are
    (re)trained; the provenance of the others is kept from an existing ``PROVENANCE.json``. Returns the
    provenance dict.
    """

    out_dir = Path(out_dir)
    old = out_dir / "PROVENANCE.json"
    prov = json.loads(old.read_text()) if old.exists() else {}
    prov.update({"sources": {
        "layer1": "github ngphubinh/iTFPM-RGDC data/ (copy in ../shared/data/protein); cite Nguyen et al. "
                  "(iTFPM-RGDC) and Hassan et al. 2025",
        "layer2": "methyl-HT-SELEX calls (Yin et al. 2017, Science; curated table of github MariaOsmala/TFBS, MIT) "
                  "joined to iTFPM-RGDC sequences: tfscope/resources/protein_layer2 (PROVENANCE.json there)"},
        "built_by": "tfscope.protein.pipeline.train_default", "seed": seed})
    prov.pop("source", None)
    prov.pop("licence_note", None)
    prov.setdefault("layers", {})
    for layer in layers:
        if layer == "layer2":
            ds = load_methylselex()
            m = select_default(ds.seqs, ds.y, labels=ds.labels, seed=seed, verbose=verbose, alignment=True,
                               groups=ds.cluster)
            info = {"labels": list(ds.labels), "data": "layer2-methylselex",
                    "data_notes": {k: v for k, v in ds.notes.items() if k != "path"}, "choice": m.meta["choice"],
                    "evaluation": "grouped 5-fold CV, benchmarks/results/protein.json dataset layer2-methylselex"}
        else:
            sp = load_layer(layer, protocol, data_dir)
            m = select_default(sp.train_seqs, sp.y_train, labels=sp.labels, seed=seed, verbose=verbose)
            choice = m.meta["choice"]
            if dbd_tiers and getattr(m, "oof_proba", None) is not None:  # issue 46: the DBD rule as the first tier
                graded = fit_dbd_graded(sp.train_seqs, sp.y_train, stack=m, labels=sp.labels, seed=seed,
                                        verbose=verbose)
                m = fit_dbd_tiered(sp.train_seqs, sp.y_train, inner=graded, labels=sp.labels, verbose=verbose)
                choice = {**choice, "tiers": "DBD rule (pyhmmer, 88 Pfam DBD HMMs, E <= 1e-4) first, the graded DBD "
                          "model (stack + graded DBD scores + homology) inside each tier",
                          "graded_cv_auroc": graded.meta["cv_auroc"], "graded_C": graded.meta["C"],
                          **{k: m.meta[k] for k in ("cv_auroc", "cv_mcc_at_threshold", "dbd_inner_threshold",
                                                    "no_dbd_inner_threshold")}}
            info = {"labels": list(sp.labels), "protocol": protocol, "data_notes": sp.notes, "choice": choice}
            if test_metrics:
                met = binary_metrics(sp.y_test, m.predict_proba(sp.test_seqs), threshold=m.threshold)
                info["independent_test"] = {k: met[k] for k in ("accuracy", "recall", "specificity", "mcc", "auroc",
                                                                "n", "n_pos")}
                info["independent_test"]["threshold"] = m.threshold
        prov["layers"][layer] = info
        for f in out_dir.glob(f"{layer}.*"):  # files of the layout before one checkpoint directory per layer
            f.unlink()
        save_protein_model(m, out_dir, layer, provenance={"layer": layer, **info})
    with atomic_write(out_dir / "PROVENANCE.json") as fh:
        json.dump(prov, fh, indent=1, default=float)
    return prov


def layer_training_set(layer: str, protocol: str = "dedup", data_dir=None) -> tuple[list[str], np.ndarray, list[str]]:
    """The training proteins of one layer: ``(sequences, labels (N,) 0/1, label names)``.

    Layer 1 comes from the iTFPM-RGDC files (``protocol``, ``data_dir``), layer 2 from the rebuilt methyl-HT-SELEX
    set (:mod:`tfscope.protein.methylselex`; issue 17), as for :func:`train_default`.
    """
    if layer == "layer2":
        ds = load_methylselex()
        return ds.seqs, ds.y, ds.labels
    sp = load_layer(layer, protocol, data_dir)
    return sp.train_seqs, sp.y_train, sp.labels


def train_esm_layers(out_dir, *, protocol: str = "dedup", data_dir=None, **esm) -> dict:
    """Fine-tune one ESM-2 classifier per layer (:func:`tfscope.protein.esm.train_esm`, LoRA or full) and save each
    to ``out_dir/layer1`` and ``out_dir/layer2``.

    Parameters
    ----------
    out_dir : str | os.PathLike
    protocol, data_dir : the layer-1 data (:func:`layer_training_set`)
    **esm : keyword arguments of :func:`tfscope.protein.esm.train_esm` (backbone, lora, epochs, device, ...)

    Returns
    -------
    dict
        Layer -> the saved model's ``meta``.
    """
    summary = {}
    for layer in ("layer1", "layer2"):
        seqs, y, labels = layer_training_set(layer, protocol, data_dir)
        m = train_esm(seqs, y, labels=labels, **esm)
        save_esm_classifier(Path(out_dir) / layer, m)
        summary[layer] = m.meta
    return summary
