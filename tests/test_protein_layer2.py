"""Rebuilt layer 2 (issue 17): methyl-HT-SELEX label rule, shipped joined set and its builder's raw copy,
grouped splits, family-majority baseline, alignment kNN storage, and the shipped layer-2 default."""

from __future__ import annotations

import csv
import json
from collections import defaultdict

import numpy as np
import pytest

from tfscope.errors import CheckpointError, InputError
from tfscope.protein.methylselex import (LABELS, default_data_path, family_majority, grouped_folds,
                                         identity_clusters, load_methylselex, normalise_call, protein_label)


def test_label_rule():
    assert protein_label(["MethylPlus", "No CpG", "MethylPlus"]) == (1, "TFPM")
    assert protein_label(["MethylMinus", "Little effect", "Inconclusive"]) == (0, "TFPNM")
    assert protein_label(["Little effect"]) == (0, "TFPNM")
    assert protein_label(["MethylPlus", "MethylMinus"]) == (None, "mixed")
    assert protein_label(["MethylPlus", "Little effect"]) == (None, "mixed")
    assert protein_label(["Multiple Effects"]) == (None, "mixed")  # source spelling variant
    assert protein_label(["No GpG", "Inconclusive"]) == (None, "no informative call")
    assert normalise_call(" No GpG") == "No CpG"
    with pytest.raises(InputError, match="unknown methyl-SELEX call"):
        normalise_call("MethylMaybe")


def test_shipped_set_follows_raw_copy_and_rule():
    """Every shipped protein's label and calls are what the rule gives on the committed raw copy."""
    ds = load_methylselex()
    raw = default_data_path().parent / "methyl_selex_calls.tsv"
    prov = json.loads((default_data_path().parent / "PROVENANCE.json").read_text())
    assert prov["source"]["commit"] == "02f3a880ffea39d5c3314b3eb103fa3bc49d7c55"
    calls = defaultdict(list)
    with open(raw, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert len(rows) == prov["source"]["source_rows"] == 923
    for r in rows:
        calls[r["symbol"]].append(r["final suggestion"])
    assert len(calls) == 537
    assert ds.notes["n"] == prov["build"]["proteins"] == len(ds.y) > 100
    assert len(set(ds.seqs)) == len(ds.seqs) and len(set(ds.symbols)) == len(ds.symbols)  # one row per protein
    for sym, y, c in zip(ds.symbols, ds.y, ds.calls):
        lab, _ = protein_label(calls[sym])
        assert lab == int(y), sym
        assert sum(int(x.split(":")[1]) for x in c.split(",")) == len(calls[sym])
    lab = dict(zip(ds.symbols, ds.y))
    # the examples: TFPM in the iTFPM-RGDC files, MethylMinus in Yin et al. 2017
    assert lab["XBP1"] == 0 and lab["MYBL2"] == 0
    assert 0.3 < ds.y.mean() < 0.7


def test_grouped_folds_keep_groups_apart():
    ds = load_methylselex()
    fam = np.array(ds.family)
    for groups in (ds.cluster, fam):
        seen = np.zeros(len(ds.y), dtype=int)
        for tr, te in grouped_folds(ds.y, groups, 5, seed=1):
            assert not set(groups[tr].tolist()) & set(groups[te].tolist())
            seen[te] += 1
        assert (seen == 1).all()
    with pytest.raises(InputError, match="groups cannot make"):
        grouped_folds([0, 1, 0, 1], [0, 0, 1, 1], 5)


def test_identity_clusters_and_family_majority():
    rng = np.random.default_rng(0)
    aa = list("ACDEFGHIKLMNPQRSTVWY")
    a = "".join(rng.choice(aa, 120))
    b = a[:60] + "".join(rng.choice(aa, 5)) + a[65:]  # ~96 % identical to a
    c = "".join(rng.choice(aa, 110))
    cl = identity_clusters([a, c, b])
    assert cl[0] == cl[2] != cl[1]
    score, call = family_majority(["HD", "HD", "HD", "bZIP", "bZIP"], [1, 1, 0, 0, 0], ["HD", "bZIP", "new"])
    assert np.allclose(score, [2 / 3, 0.0, 0.4]) and call.tolist() == [1, 0, 0]


def test_alignment_knn_roundtrip_and_shipped_default(tmp_path):
    from tfscope.protein.align import AlignmentKnnModel, fit_alignment_knn
    from tfscope.protein.models import load_protein_model, save_protein_model
    from tfscope.protein.pipeline import TwoLayerPredictor
    from tfscope.resources import resource

    ds = load_methylselex()
    idx = np.r_[np.flatnonzero(ds.y == 1)[:12], np.flatnonzero(ds.y == 0)[:12]]
    seqs = [ds.seqs[i][:300] for i in idx]
    m = fit_alignment_knn(seqs, ds.y[idx], labels=LABELS, folds=3)
    save_protein_model(m, tmp_path, "layer2")
    back = load_protein_model(tmp_path, "layer2")
    assert isinstance(back, AlignmentKnnModel) and np.allclose(back.predict_proba(seqs[:4]), m.predict_proba(seqs[:4]))
    cfg = json.loads((tmp_path / "layer2" / "config.json").read_text())
    cfg["hparams"]["train_seqs"] = cfg["hparams"]["train_seqs"][:-1]
    (tmp_path / "layer2" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="differ in length"):
        load_protein_model(tmp_path, "layer2")
    # the shipped layer-2 default is trained on the rebuilt set and predicts P(TFPM) in [0, 1]
    prov = json.loads((resource("protein_model") / "PROVENANCE.json").read_text())
    assert prov["layers"]["layer2"]["data"] == "layer2-methylselex"
    l2 = TwoLayerPredictor().layers["layer2"]
    assert l2.labels == LABELS
    p = l2.predict_proba([ds.seqs[0][:400], "MSTAPKRRKSLEEKLLQ" * 10])
    assert p.shape == (2,) and ((p >= 0) & (p <= 1)).all()
