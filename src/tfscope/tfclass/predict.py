"""``tfscope tfclass predict`` as a library call: classify motif files against the reference set as an open-set
classifier (:func:`predict_motifs`), optionally take the class from the TF proteins' DNA-binding domains
(:func:`apply_protein_class`), and write the text output (:func:`prediction_text`).
"""

from __future__ import annotations

import numpy as np

from ..checkpoint import load_checkpoint, read_config
from ..device import resolve_device
from ..errors import InputError
from ..io.motifs import read_motifs
from ..protein.domains import annotate, read_proteins, tf_hits
from ..protein.infer import predict_class
from .knn import METRICS, knn_proba
from .reference import MODEL_NAME, classify, reference_dataset
from .train import ensemble_proba, predict_cnn


def plural(n: int, word: str) -> str:
    """``plural(1, "motif")`` is ``"1 motif"``, ``plural(2, "motif")`` ``"2 motifs"`` (thousands separated)."""
    return f"{n:,} {word if n == 1 else word + 's'}"


#: narrowest motif ``tfclass predict`` classifies (columns): the narrowest of JASPAR 2024 CORE's matrices. A 1-column
#: matrix is a base composition, not a motif, and its Tomtom comparison did not finish in 300 s (a numba compilation
#: for the one-column layout) where other widths take 5-25 s
MIN_MOTIF_WIDTH = 4


def split_name(name: str) -> tuple[str, str | None]:
    """A motif file's motif name -> (id, name): ``"MA0139.2\tCTCF"`` -> ``("MA0139.2", "CTCF")``, ``"hox"`` ->
    ``("hox", None)``."""
    words = name.split()
    return (words[0], " ".join(words[1:]) or None) if words else (name, None)


def predict_motifs(paths, *, checkpoint=None, n_nearest: int = 5, abstain: bool = True, min_known=None,
                   device: str = "auto", progress: bool = False) -> dict:
    """Classify the motifs of ``paths`` (JASPAR/MEME/PFM files) against JASPAR 2024, as an open-set classifier.

    Returns ``{"model", "classes" (the classes the model knows), "min_confidence", "min_known",
    "min_information_bits", "abstain", "open_set" (the rule's per-class thresholds, precision, unknown share and
    far_p, or None), "motifs": [...]}`` with one dict per motif: ``file``, ``id`` and ``name``
    (the motif name's first word and the rest, None without one), ``tf_class`` (the class, or ``"unknown"``),
    ``best_class`` (the model's best class, always), ``class_prob`` (its calibrated probability; or the KNN+CNN
    soft vote with a CNN checkpoint), ``known_prob`` (the known-class detector's probability that the motif's class
    is one of ``classes``, :mod:`tfscope.tfclass.novelty`; None without a detector), ``known`` (``known_prob >=
    min_known``), ``right_prob`` (the open-set rule's score, None without a rule), ``reason`` (why the motif is or
    would be unknown, empty when not), ``information_bits`` (total information content), ``confident``, the class of each model (``models``: the thesis KNN vote, knn-stack, kmer-lr and the
    checkpoint's model), the KNN vote of each column metric, and the nearest JASPAR motifs with their Tomtom
    p-value (none for a motif less informative than every reference motif, ``min_information_bits``: Tomtom matches
    such a near-flat matrix to the flat stretches of long motifs with p-values that mean nothing).

    With ``abstain`` (the default) ``tf_class`` is ``"unknown"`` when the motif is not informative
    (``reason`` ``uninformative``), unlike every known class (``known_prob < min_known``; ``min_known`` default: the
    checkpoint's threshold, chosen on held-out classes; ``unlike-known-classes``), or its answer is not calibrated to
    be right (``not-calibrated``): with an open-set rule (:mod:`tfscope.tfclass.open_set`, the shipped model's
    included) when ``right_prob``, the rule's probability of a right answer counting motifs of unknown classes, is
    below its predicted class's threshold; without one when ``class_prob < min_confidence``. ``confident`` is
    informative and calibrated; ``far`` marks a motif whose nearest reference motif's Tomtom p-value
    (``nearest_p``) is above the rule's ``far_p`` (95% of simulated new motifs of known classes are nearer).
    Without ``abstain`` every motif gets its best class (the forced answer) and ``reason`` still says why it would be
    unknown. The class and probability are the shipped default model's, ``knn-kmer-vote``, or those of
    ``checkpoint`` when it is a ``family_knn_kmer`` one (e.g. ``tfscope tfclass train --model knn-kmer-clogit``). With
    a ``family_cnn`` checkpoint (``tfscope tfclass train --model cnn``, run on ``device``) they are the soft vote of
    the thesis KNN vote shares and the CNN softmax (no confidence threshold).

    Raises InputError for unreadable motif files, a motif narrower than :data:`MIN_MOTIF_WIDTH` or ``min_known``
    outside [0, 1], CheckpointError for a checkpoint of another task or reference.
    """
    if min_known is not None and not 0 <= min_known <= 1:
        raise InputError(f"--min-known must lie in [0, 1], not {min_known}")
    queries = [(str(p), name, m) for p in paths for name, m in read_motifs(p)]
    for path, name, m in queries:
        if m.shape[-1] < MIN_MOTIF_WIDTH:
            raise InputError(f"motif {name!r} is {plural(m.shape[-1], 'column')} wide; tfclass predict classifies "
                             f"motifs at least {MIN_MOTIF_WIDTH} columns wide (the narrowest JASPAR 2024 CORE motifs)",
                             path)
    cnn = checkpoint is not None and read_config(checkpoint).get("model") != MODEL_NAME
    ds = reference_dataset(None if cnn else checkpoint)
    C = len(ds.classes)
    Q = [m for _, _, m in queries]
    res = classify(Q, ds, model_path=None if cnn else checkpoint, progress=progress)
    proba, thr = res["proba"][res["model"]], res["min_confidence"]
    if cnn:
        net, cfg = load_checkpoint(checkpoint, task="family")
        if cfg.get("meta", {}).get("classes") != ds.classes:
            raise InputError("checkpoint classes differ from the JASPAR 2024 dataset's", checkpoint)
        net.to(resolve_device(device))
        proba, thr = ensemble_proba([res["proba"]["knn-ensemble-k1"], predict_cnn(net, Q)]), None
    known_thr = res["min_known"] if min_known is None else min_known
    pv, rule = res["tomtom_p"], None if cnn else res["open_set"]
    motifs = []
    for i, (path, name, _) in enumerate(queries):
        c = int(proba[i].argmax())
        informative = bool(res["informative"][i])
        kp = None if res["known_prob"] is None else float(res["known_prob"][i])
        known = kp is None or known_thr is None or kp >= known_thr
        rp = None if rule is None else float(res["right_prob"][i])
        calibrated = bool(res["answered"][i]) if rule is not None else (thr is None or bool(proba[i, c] >= thr))
        confident = informative and calibrated
        far = rule is not None and informative and float(pv[i].min()) > rule["far_p"]
        reason = ("uninformative" if not informative else "unlike-known-classes" if not known
                  else "not-calibrated" if not calibrated else "")
        near = np.argsort(pv[i], kind="stable")[:n_nearest] if informative else []
        mid, mname = split_name(name)
        motifs.append({"file": path, "id": mid, "name": mname,
                       "tf_class": ds.classes[c] if not abstain or not reason else "unknown",
                       "reason": reason, "best_class": ds.classes[c], "class_prob": float(proba[i, c]),
                       "known_prob": kp, "right_prob": rp, "known": known, "confident": confident,
                       "far": far, "nearest_p": float(pv[i].min()) if informative else None,
                       "information_bits": float(res["information_bits"][i]),
                       "models": {m: ds.classes[int(p[i].argmax())] for m, p in res["proba"].items()},
                       "knn_votes": {m: ds.classes[int(knn_proba(s[i:i + 1], ds.labels, C, 1).argmax())]
                                     for m, s in zip(METRICS, res["sims"])},
                       "nearest": [{"matrix_id": ds.ids[j], "name": ds.names[j],
                                    "tf_class": ds.classes[ds.labels[j]], "tomtom_p": float(pv[i, j])}
                                   for j in near]})
    return {"model": "knn-cnn" if cnn else res["model"], "classes": list(ds.classes),
            "reference": f"{len(ds):,} {ds.release.replace('JASPAR', 'JASPAR ')} motifs", "min_confidence": thr,
            "min_known": known_thr, "min_information_bits": res["min_information_bits"], "abstain": abstain,
            "open_set": None if rule is None else {k: rule[k] for k in ("thresholds", "precision", "unknown_share",
                                                                      "far_p")},
            "motifs": motifs}


def apply_protein_class(doc: dict, protein_fasta) -> dict:
    """Set each motif's class from its protein's DNA-binding domains (``tfscope tfclass predict --protein P.fa``).

    The proteins of ``protein_fasta`` pair with the motifs: one protein for every motif, or one protein per motif
    in order. A protein's class is the TFClass class voted by the 752 bundled JASPAR-linked TFs with its DBD
    families (pyhmmer over the 88 Pfam DBD HMMs; :func:`tfscope.protein.infer.predict_class`):

    * the protein has a DBD whose families occur in the reference: ``tf_class`` = that class,
      ``class_evidence`` = ``protein``;
    * the protein has no DBD: ``tf_class`` = ``unknown`` (``protein-no-dbd``), whatever the motif says: the motif
      alone cannot reject a motif of a class it does not know;
    * its DBD families are not in the reference: the motif's call stands (``motif``).

    Each motif gains ``motif_class`` (the motif model's own call), ``class_evidence``, ``protein`` (id, DBD
    families, the protein's class and its evidence line); ``doc`` gains ``protein_fasta``.

    Raises
    ------
    InputError
        The FASTA is not protein, or the number of proteins is neither 1 nor the number of motifs.
    """
    records = read_proteins(protein_fasta)
    motifs = doc["motifs"]
    if len(records) not in (1, len(motifs)):
        raise InputError(f"--protein: {plural(len(records), 'protein')} for {plural(len(motifs), 'motif')}; give one "
                         "protein for all motifs or one per motif, in order", str(protein_fasta))
    hits = annotate(records)
    ids = list(records)
    for i, r in enumerate(motifs):
        pid = ids[0] if len(ids) == 1 else ids[i]
        fams = sorted({h.family for h in tf_hits(hits[pid])})
        cl, ev = predict_class(hits[pid])
        r["motif_class"] = r["tf_class"]
        r["protein"] = {"id": pid, "dbd_families": fams, "class": cl, "evidence": ev}
        if not fams:
            r["tf_class"], r["class_evidence"] = "unknown", "protein-no-dbd"
        elif cl != "unknown":
            r["tf_class"], r["class_evidence"] = cl, "protein"
        else:
            r["class_evidence"] = "motif"
    doc["protein_fasta"] = str(protein_fasta)
    return doc


def prediction_text(doc: dict):
    """The lines (with newline) of ``tfscope tfclass predict``'s text output for :func:`predict_motifs`' result: a
    ``#`` header naming the model, the known classes and when a motif is called unknown, a column header, one line
    per motif (``reason``: why it is or would be unknown) and its nearest JASPAR motifs (indented)."""
    yield (f"# tfscope tfclass predict: {doc['model']} against {doc['reference']}; "
           f"{len(doc['classes'])} known classes: {'; '.join(doc['classes'])}\n")
    rule = []
    if doc["abstain"]:
        rule.append(f"uninformative: the motif carries < {doc['min_information_bits']:.1f} bits")
    if doc["abstain"] and doc["min_known"] is not None:
        rule.append(f"unlike-known-classes: known_prob < {doc['min_known']:.3f}")
    if doc["abstain"] and doc.get("open_set"):
        os_ = doc["open_set"]
        rule.append(f"not-calibrated: right_prob (probability of a right answer, {os_['unknown_share']:.0%} of motifs "
                    f"assumed of unknown classes) below its class's threshold ({os_['precision']:.0%} of held-out-"
                    "class simulation answers above it right)")
    elif doc["abstain"] and doc["min_confidence"] is not None:
        rule.append(f"not-calibrated: class_prob < {doc['min_confidence']:.3f}")
    if rule and not doc.get("protein_fasta"):
        yield "# tf_class = unknown when " + "; or ".join(rule) + "\n"
    if not doc["abstain"]:
        yield "# --no-abstain: every motif gets its best class; reason says why it would be unknown\n"
    if doc.get("protein_fasta"):
        yield (f"# tf_class from the DNA-binding domains of the proteins in {doc['protein_fasta']} (class vote of the "
               "752 JASPAR-linked TFs with the same DBD families); unknown when the protein has no DBD; the motif "
               "decides only when the protein's DBD families are not in that reference\n")
    yield "file\tid\tname\ttf_class\tclass_prob\tknown_prob\tright_prob\treason\tnote\n"
    for r in doc["motifs"]:
        notes = []
        if r["reason"] == "unlike-known-classes":
            notes.append(f"unlike every known class (best class {r['best_class']})")
        if r["reason"] == "uninformative":
            notes.append(f"uninformative motif: {r['information_bits']:.1f} bits < {doc['min_information_bits']:.1f}, "
                         "the least informative JASPAR 2024 motif; no Tomtom matches")
        elif r["reason"] == "not-calibrated":
            notes.append(f"not calibrated to be right: right_prob {r['right_prob']:.3f} < "
                         f"{doc['open_set']['thresholds'][doc['classes'].index(r['best_class'])]:.3f}, the threshold "
                         f"of its best class {r['best_class']}" if doc.get("open_set") else
                         f"low confidence (class_prob < {doc['min_confidence']:.3f})")
        if r.get("far"):
            notes.append(f"nearest JASPAR motifs far away (best Tomtom p = {r['nearest_p']:.1e} > "
                         f"{doc['open_set']['far_p']:.1e})")
        if "class_evidence" in r:
            pr = r["protein"]
            dbd = "+".join(pr["dbd_families"]) or "no DBD"
            notes.insert(0, {"protein": f"class from protein {pr['id']} ({pr['evidence']}); motif model: "
                                        f"{r['motif_class']}",
                             "protein-no-dbd": f"unknown: protein {pr['id']} has no DNA-binding domain (motif model: "
                                               f"{r['motif_class']})",
                             "motif": f"class from the motif: protein {pr['id']} DBD {dbd} not in the reference"
                             }[r["class_evidence"]])
        kp = "" if r["known_prob"] is None else f"{r['known_prob']:.3f}"
        rp = "" if r.get("right_prob") is None else f"{r['right_prob']:.3f}"
        reason = r["reason"] + ("+far" if r.get("far") and r["reason"] else "far" if r.get("far") else "")
        yield (f"{r['file']}\t{r['id']}\t{r['name'] or ''}\t{r['tf_class']}\t{r['class_prob']:.3f}\t{kp}\t{rp}\t"
               f"{reason}\t{'; '.join(notes)}\n")
        for n in r["nearest"]:
            yield f"    {n['matrix_id']}\t{n['name']}\t{n['tf_class']}\tTomtom p={n['tomtom_p']:.2e}\n"
