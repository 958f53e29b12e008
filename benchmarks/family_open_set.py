"""Open-set TF-class prediction (issue 29): how often ``tfscope tfclass predict`` says ``unknown`` for motifs of
classes it does not know, what that costs on motifs of classes it knows, and how long ``predict`` takes.

* **Out-of-class motifs**: JASPAR 2024 CORE motifs (latest version, no ``::`` dimers) with one TFClass class that
  is not among the 20 classes of the model (classes with fewer than 20 motifs: Runt, STAT, SMAD/NF-1, p53, TEA,
  ...), classified by the shipped model. None of them is in its reference set or was used to choose anything.
  The 81 JASPAR 2024 dimer motifs (``::``) are reported apart (their classes are those of two known or unknown
  partners).
* **In-class cost**: the temporal protocol (:func:`tfscope.tfclass.splits.temporal_split`): the same recipe fitted
  on JASPAR 2020 (:func:`tfscope.tfclass.reference.fit_reference_model`, detector and threshold included, so they
  are chosen on 2020 motifs only), tested on the motifs new in 2022 and in 2024. In-class accuracy counts a motif
  as right only when it gets its class (``unknown`` is wrong); the test motifs of classes the 2020 model does not
  know are a second out-of-class set.
* Each operating point of the detector (the flag rates of :data:`tfscope.tfclass.novelty.OPERATING_POINTS`, with
  their thresholds chosen on held-out classes of the reference set), alone and with ``--abstain``.
* **Time**: ``tfscope tfclass predict`` on 10 JASPAR 2024 motifs (a fresh process: imports, loading, scoring).
* **The default open-set rule** (issue 42; :mod:`tfscope.tfclass.open_set`): fitted on a held-out-class simulation
  of the reference set (class folds and paralog-group folds, so no class and no paralog group is on both sides).
  The rule of the shipped model is fitted here on all 2,112 JASPAR 2024 motifs (``shipped_rule``; it must equal
  ``meta.open_set`` of the shipped checkpoint) and scored on the out-of-class JASPAR 2024 motifs; the temporal
  model fits its own rule on JASPAR 2020 only (``fit_reference_model(..., open_set=True)``), and its 2022 / 2024
  test motifs give the in-class accuracy before (forced answer, ``--no-abstain``) and after (default), and the
  coverage (share answered).

Writes ``benchmarks/results/family_open_set.json`` and ``.md``. About 15 minutes on 2 busy cores.

Usage: ``python benchmarks/family_open_set.py [--render-only]``
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from tfscope.checkpoint import read_config
from tfscope.io.motifs import write_jaspar
from tfscope.resources import resource
from tfscope.metrics import markdown_table
from tfscope.motif import counts_to_probs
from tfscope.tfclass.data import fetch_release
from tfscope.tfclass.kmer_profile import kmer_profile
from tfscope.tfclass.knn import all_similarities
from tfscope.tfclass.open_set import accept, fit_open_set_rule, open_set_features, simulate_open_set
from tfscope.tfclass.reference import classify, fit_reference_model, load_reference_model, reference_dataset
from tfscope.tfclass.splits import temporal_split

RESULTS = Path(__file__).parent / "results"
TEN = ["MA0002.3", "MA0137.4", "MA0795.1", "MA0106.3", "MA0139.2", "MA0140.3", "MA0018.5", "MA0079.5", "MA0098.4",
       "MA0112.4"]  # RUNX1, STAT1, SMAD3, TP53, CTCF, GATA1::TAL1, CREB1, SP1, ETS1, ESR1


def _pfm(m) -> np.ndarray:
    return counts_to_probs(np.array([m.counts[b] for b in "ACGT"], dtype=np.float64))


def _rates(res: dict, points: list[dict], labels=None) -> list[dict]:
    """Per operating point (and with --abstain): share called unknown and, with labels, in-class accuracy."""
    proba = res["proba"][res["model"]]
    best, cp, kp = proba.argmax(1), proba.max(1), res["known_prob"]
    confident = res["informative"] & (cp >= res["min_confidence"])
    rows = []
    for pt in [{"flag_rate": 0.0, "min_known": 0.0}, *points]:
        for abstain in (False, True):
            unknown = kp < pt["min_known"]
            if abstain:
                unknown = unknown | ~confident
            row = {"flag_rate": pt["flag_rate"], "min_known": round(pt["min_known"], 4), "abstain": abstain,
                   "unknown": float(unknown.mean())}
            if labels is not None:
                right = best == labels
                row["accuracy"] = float((right & ~unknown).mean())
                row["accuracy_all_answered"] = float(right.mean())
                row["covered_accuracy"] = float(right[~unknown].mean()) if (~unknown).any() else float("nan")
            rows.append(row)
    return rows


def _timing(tmp: Path) -> dict:
    db = {m.matrix_id: m for m in fetch_release("JASPAR2024")}
    path = tmp / "ten.jaspar"
    write_jaspar(path, [(f"{i} {db[i].name}", _pfm(db[i])) for i in TEN])
    runs = []
    for _ in range(2):
        t = time.time()
        subprocess.run([sys.executable, "-m", "tfscope", "tfclass", "predict", str(path), "--quiet", "--out",
                        str(tmp / "ten.txt")], check=True, capture_output=True)
        runs.append(round(time.time() - t, 2))
    return {"motifs": len(TEN), "ids": TEN, "seconds": runs}


def default_rates(res: dict, rule: dict, labels=None) -> dict:
    """The default's answers (informative, known to the detector, open-set rule passed) on classified motifs:
    share called unknown, why, and with labels the in-class accuracy forced (every motif answered) and default
    (unknown counts as wrong), the coverage and the accuracy of the answered motifs."""
    p = res["proba"][res["model"]]
    best = p.argmax(1)
    _, ok = accept(open_set_features(p, res["known_prob"], res["tomtom_p"], res["dataset"].labels), best, rule)
    informative, known = res["informative"], res["known_prob"] >= res["min_known"]
    answered = informative & known & ok
    row = {"motifs": int(len(p)), "unknown": float((~answered).mean()),
           "unknown_uninformative": float((~informative).mean()),
           "unknown_detector": float((informative & ~known).mean()),
           "unknown_rule": float((informative & known & ~ok).mean())}
    if labels is not None:
        right = best == np.asarray(labels)
        row.update({"accuracy_forced": float(right.mean()), "accuracy_default": float((right & answered).mean()),
                    "coverage": float(answered.mean()),
                    "accuracy_answered": float(right[answered].mean()) if answered.any() else float("nan")})
    return row


CACHE = Path(__file__).parent / "checkpoints" / "family_open_set_rule.json"


def fit_rule(ds) -> dict:
    """The open-set rule of a model fitted on all motifs of ``ds`` (what ``fit_reference_model(...,
    open_set=True)`` stores), with the simulation's seconds (cached in ``benchmarks/checkpoints``, git-ignored:
    delete it to refit)."""
    if CACHE.exists():
        return json.loads(CACHE.read_text())
    t = time.time()
    raw, pv = all_similarities(ds.pfms, ds.pfms, exclude_self=True)
    L = np.array([p.shape[1] for p in ds.pfms])
    sim = simulate_open_set(raw, pv, kmer_profile(ds.pfms, 6), kmer_profile(ds.pfms, 6, gapped=True), ds.labels,
                            ds.names, L, progress=lambda m: print(m, flush=True))
    rule = fit_open_set_rule(sim, len(ds.classes))
    rule["seconds"] = round(time.time() - t, 1)
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    CACHE.write_text(json.dumps(rule))
    return rule


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if "--render-only" in argv:
        out = json.loads((RESULTS / "family_open_set.json").read_text())
        (RESULTS / "family_open_set.md").write_text(markdown(out))
        return 0
    out = {"machine": "2-core AMD EPYC (shared with other jobs)", "date": time.strftime("%Y-%m-%d")}
    ref = reference_dataset()
    rule = fit_rule(ref)
    out["shipped_rule"] = rule
    shipped = read_config(resource("tfclass_model"))["meta"].get("open_set")
    same = shipped is not None and all(np.allclose(shipped[k], rule[k], rtol=0, atol=1e-6)
                                       for k in ("mean", "scale", "coef", "intercept", "thresholds"))
    out["shipped_rule_matches"] = bool(same)
    print("shipped rule matches the shipped checkpoint's meta.open_set:", same, flush=True)
    model = load_reference_model(reference_dataset())
    det = model.novelty_
    out["shipped_detector"] = {k: det[k] for k in ("min_known", "flag_rate", "held_out_class_caught",
                                                   "held_out_auroc", "operating_points")}
    ref = reference_dataset()
    motifs = [m for m in fetch_release("JASPAR2024") if "::" not in m.name and m.tf_class and len(m.tf_class) == 1
              and m.tf_class[0] not in ref.classes]
    dimers = [m for m in fetch_release("JASPAR2024") if "::" in m.name]
    t = time.time()
    res = classify([_pfm(m) for m in motifs], ref, progress=True)
    out["out_of_class"] = {"motifs": len(motifs), "classes": dict(Counter(m.tf_class[0] for m in motifs)),
                           "seconds": round(time.time() - t, 1),
                           "rates": _rates(res, det["operating_points"])}
    kp = res["known_prob"]
    out["out_of_class"]["default"] = default_rates(res, rule)
    sc, ok = accept(open_set_features(res["proba"][res["model"]], kp, res["tomtom_p"], ref.labels),
                    res["proba"][res["model"]].argmax(1), rule)
    out["out_of_class"]["examples"] = [
        {"id": m.matrix_id, "name": m.name, "class": m.tf_class[0], "known_prob": round(float(kp[i]), 3),
         "best_class": ref.classes[int(res["proba"][res["model"]][i].argmax())],
         "class_prob": round(float(res["proba"][res["model"]][i].max()), 3),
         "right_prob": round(float(sc[i]), 3),
         "default_unknown": bool(not (ok[i] and res["informative"][i]) or kp[i] < res["min_known"])}
        for i, m in enumerate(motifs) if any(k in m.tf_class[0] for k in ("Runt", "STAT", "SMAD", "p53"))]
    res = classify([_pfm(m) for m in dimers], ref, progress=True)
    out["dimers"] = {"motifs": len(dimers), "rates": _rates(res, det["operating_points"]),
                     "default": default_rates(res, rule)}
    print("out-of-class and dimers scored", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tr, te22, info22 = temporal_split("JASPAR2020", "JASPAR2022")
        _, te24, info24 = temporal_split("JASPAR2020", "JASPAR2024")
        t = time.time()
        m20 = fit_reference_model(tr, tmp / "m2020", progress=lambda s: print(s, flush=True), open_set=True)
        out["temporal_fit_seconds"] = round(time.time() - t, 1)
        out["temporal_detector"] = {k: m20.novelty_[k] for k in ("min_known", "held_out_class_caught",
                                                                 "held_out_auroc", "operating_points")}
        out["temporal_rule"] = m20.open_set_
        for name, te, info in (("2020->2022", te22, info22), ("2020->2024", te24, info24)):
            r = classify(te.pfms, tr, model_path=tmp / "m2020")
            entry = {"known_class_motifs": len(te), "rates": _rates(r, m20.novelty_["operating_points"], te.labels),
                     "default": default_rates(r, m20.open_set_, te.labels)}
            unk = info["unknown_test"]
            if unk is not None and len(unk):
                ru = classify(unk.pfms, tr, model_path=tmp / "m2020")
                entry["unknown_class_motifs"] = len(unk)
                entry["unknown_class_rates"] = _rates(ru, m20.novelty_["operating_points"])
                entry["unknown_class_default"] = default_rates(ru, m20.open_set_)
            out[name] = entry
            print(name, "scored", flush=True)
        out["timing"] = _timing(tmp)
    (RESULTS / "family_open_set.json").write_text(json.dumps(out, indent=1) + "\n")
    (RESULTS / "family_open_set.md").write_text(markdown(out))
    print(markdown(out))
    return 0


def markdown(out: dict) -> str:
    """The tables of ``family_open_set.md``."""
    rows = []
    ooc = {(r["flag_rate"], r["abstain"]): r for r in out["out_of_class"]["rates"]}
    t22 = {(r["flag_rate"], r["abstain"]): r for r in out["2020->2022"]["rates"]}
    t24 = {(r["flag_rate"], r["abstain"]): r for r in out["2020->2024"]["rates"]}
    u24 = {(r["flag_rate"], r["abstain"]): r for r in out["2020->2024"].get("unknown_class_rates", [])}
    base22, base24 = t22[(0.0, False)]["accuracy"], t24[(0.0, False)]["accuracy"]
    shipped = out["shipped_detector"]["flag_rate"]
    for key in sorted(ooc):
        fr, ab = key
        rows.append({"operating point": ("no detector" if fr == 0 else f"flag {fr:.0%} held-in")
                     + (" (default)" if fr == shipped and not ab else "") + (" + --abstain" if ab else ""),
                     "out-of-class unknown": f"{ooc[key]['unknown']:.2f}",
                     "2022 in-class acc (drop)": f"{t22[key]['accuracy']:.3f} ({base22 - t22[key]['accuracy']:+.3f})",
                     "2024 in-class acc (drop)": f"{t24[key]['accuracy']:.3f} ({base24 - t24[key]['accuracy']:+.3f})",
                     "2024 unknown-class unknown": f"{u24[key]['unknown']:.2f}" if key in u24 else "-"})
    text = ["# Open-set TF-class prediction (tfscope tfclass predict)\n\n",
            f"{out['out_of_class']['motifs']} JASPAR 2024 motifs of classes the model does not know; temporal "
            f"in-class test motifs: {out['2020->2022']['known_class_motifs']} (2022), "
            f"{out['2020->2024']['known_class_motifs']} (2024). In-class accuracy counts unknown as wrong; drop = "
            "against no detector. Thresholds chosen on held-out classes of the training reference.\n\n",
            markdown_table(rows, list(rows[0])),
            f"\n`tfscope tfclass predict` on 10 JASPAR motifs: {out['timing']['seconds']} s (fresh processes).\n"]
    if "shipped_rule" in out:
        text.append(markdown_default(out))
    return "".join(text)


def markdown_default(out: dict) -> str:
    """The table of the default open-set rule (issue 42)."""
    r, sim = out["shipped_rule"], out["shipped_rule"]["simulated"]
    rows = []
    for name in ("2020->2022", "2020->2024"):
        d = out[name]["default"]
        u = out[name].get("unknown_class_default")
        rows.append({"test set": f"{name} (temporal, rule fitted on JASPAR 2020)", "motifs": d["motifs"],
                     "in-class acc forced": f"{d['accuracy_forced']:.3f}",
                     "in-class acc default (drop)": f"{d['accuracy_default']:.3f} "
                                                    f"({d['accuracy_default'] - d['accuracy_forced']:+.3f})",
                     "coverage": f"{d['coverage']:.2f}", "acc answered": f"{d['accuracy_answered']:.3f}",
                     "unknown": f"{d['unknown']:.2f}" + (f"; unknown-class motifs {u['unknown']:.2f} of "
                                                          f"{u['motifs']}" if u else "")})
    for name, key in (("JASPAR 2024 out-of-class (shipped model)", "out_of_class"), ("JASPAR 2024 dimers", "dimers")):
        d = out[key]["default"]
        rows.append({"test set": name, "motifs": d["motifs"], "in-class acc forced": "-",
                     "in-class acc default (drop)": "-", "coverage": f"{1 - d['unknown']:.2f}", "acc answered": "-",
                     "unknown": f"{d['unknown']:.2f} (uninformative {d['unknown_uninformative']:.2f}, detector "
                                f"{d['unknown_detector']:.2f}, rule {d['unknown_rule']:.2f})"})
    rows.append({"test set": "held-out-class simulation of JASPAR 2024 (5 rounds, held-out estimate)",
                 "motifs": f"{sim['known_motifs']} + {sim['unknown_motifs']}",
                 "in-class acc forced": f"{sim['known_accuracy_forced']:.3f}",
                 "in-class acc default (drop)": f"{sim['known_accuracy']:.3f} "
                                                f"({sim['known_accuracy'] - sim['known_accuracy_forced']:+.3f})",
                 "coverage": f"{sim['known_answered']:.2f}", "acc answered": "-",
                 "unknown": f"unknown-class motifs {sim['unknown_called_unknown']:.2f}"})
    ex = ", ".join(f"{e['name']} {e['id']} -> {'unknown' if e['default_unknown'] else e['best_class']}"
                   for e in out["out_of_class"]["examples"])
    return ("\n## Default open-set rule (issue 42)\n\n"
            f"`tfscope tfclass predict` answers `unknown` unless the motif is informative, the known-class detector "
            f"calls it known and the rule's probability of a right answer (equal weight of known- and unknown-class "
            f"motifs, {r['unknown_share']:.0%} unknown) reaches its predicted class's threshold ({r['precision']:.0%} "
            "of the simulated answers above it right). In-class accuracy counts unknown as wrong; forced = "
            "`--no-abstain`.\n\n" + markdown_table(rows, list(rows[0])) + f"\nRunt/STAT/SMAD/p53 motifs: {ex}.\n")


if __name__ == "__main__":
    sys.exit(main())
