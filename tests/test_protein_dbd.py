"""DNA-binding-domain layer (issue 46): pyhmmer DBD annotation, TF class and motif inference from the bundled
reference, the CLI. Fast, offline, no ../shared: everything comes from tfscope/resources/protein_dbd."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from tfscope.cli import main as cli_main
from tfscope.errors import InputError

# HOXA5 (UniProt P20719), a human homeodomain TF: record of ../shared/data/protein/TF_independent_dataset.fasta
HOXA5 = ("MSSYFVNSFCGRYPNGPDYQLHNYGDHSSVSEQFRDSASMHSGRYGYGYNGMDLSVGRSGSGHFGSGERARSYAASASAAPAEPRYSQPATSTHSPQPDPLPCSAVAP"
         "SPGSDSHHGGKNSLSNSSGASADAGSTHISSREGVGTASGAEEDAPASSEQASAQSEPSPAPPAQPQIYPWMRKLHISHDNIGGPEGKRARTAYTRYQTLELEKEFHF"
         "NRYLTRRRRIEIAHALCLSERQIKIWFQNRRMKWKKDNKLKSMSMAAAGGAFRP")
# a keratin-associated protein (Q9BYQ4), non-TF record of ../shared/data/protein/non-TF_independent_dataset.fasta
NON_TF = ("MTHCCSPCCQPTCCRTTCCRTTCWKPTTVTTCSSTPCCQPACCVSSCCQPCCRPTCCQNTCCRTTCCQPTCVTSCCQPSCCSTPCCQPTCCGSSCCGQTSCGSSCGQS"
          "SSCAPVYCRRTCYYPTTVCLPGCLNQSCGSNCCQPCCRPACCETTCCRTTCFQPTCVSSCCQPSCC")


def test_bundle_is_small_and_complete():
    from tfscope.protein.dbdref import FILES, load_reference
    from tfscope.resources import resource

    d = resource("protein_dbd")
    size = sum(f.stat().st_size for f in d.iterdir())
    assert size < 2_000_000 and (d / "LICENSE").read_text().startswith("MIT")
    prov = json.loads((d / "PROVENANCE.json").read_text())
    assert prov["counts"] == {"hmms": 88, "proteins": 752, "matrices": 1010, "matrices_with_tf_class": 1010,
                              "cisbp_models": 32}
    ref = load_reference()
    assert len(ref.proteins) == 752 and ref.proteins["P20719"]["dbds"][0][0] == "Homeodomain"
    assert ref.cisbp_model("Homeodomain")["Model.Name"] == "PctID.Regression"
    assert ref.cisbp_model("no-such-family")["Family_Name"] == "NO_THRESHOLD"
    with gzip.open(d / FILES["hmms"], "rt") as fh:
        assert sum(line.startswith("NAME ") for line in fh) == 88


def test_domains_on_a_tf_and_a_non_tf():
    from tfscope.protein.domains import annotate, any_dbd, dbd_features
    from tfscope.protein.dbdref import load_reference

    hits = annotate({"HOXA5": HOXA5, "KAP": NON_TF})
    (h,) = hits["HOXA5"]
    assert h.family == "Homeodomain" and h.accession.startswith("PF00046") and h.seq_evalue < 1e-20
    # same domain, coordinates and hmmalign-style alignment as the JASPAR profile inference tool's own table
    fam, aligned, start, end, _ = load_reference().proteins["P20719"]["dbds"][0]
    assert (h.family, h.aligned, h.start, h.end) == (fam, aligned, start, end)
    assert len(h.match_states) == 57 and any_dbd(hits["HOXA5"])
    assert hits["KAP"] == [] and not any_dbd(hits["KAP"])
    # E-values do not depend on the other proteins of the input (Z = number of HMMs, as hmmscan)
    alone = annotate({"HOXA5": HOXA5})["HOXA5"][0]
    assert alone.evalue == pytest.approx(h.evalue) and alone.seq_evalue == pytest.approx(h.seq_evalue)
    x, names = dbd_features(hits, ["HOXA5", "KAP"], [len(HOXA5), len(NON_TF)])
    assert x.shape == (2, 92) and names[-4] == "any_dbd"
    assert x[0, names.index("dbd:Homeodomain")] > 2 and x[0, -4] == 1 and 0.1 < x[0, -2] < 0.3
    assert not x[1].any()


def test_class_and_motif_inference_for_a_known_tf():
    from tfscope.protein.domains import annotate
    from tfscope.protein.infer import class_table, infer_profiles, predict_class

    hits = annotate({"HOXA5": HOXA5, "KAP": NON_TF})
    cl, ev = predict_class(hits["HOXA5"])
    assert cl == "Homeo domain factors" and "Homeodomain" in ev
    assert predict_class(hits["KAP"])[0] == "unknown"
    # the class vote without HOXA5 itself in the reference gives the same class
    from tfscope.protein.dbdref import load_reference

    ref = load_reference()
    table = class_table(ref, [a for a in ref.proteins if a != "P20719"])
    assert predict_class(hits["HOXA5"], table)[0] == "Homeo domain factors"
    # leave HOXA5 out: its inferred matrices come from HOX paralogues with highly similar homeodomains
    inf = infer_profiles({"HOXA5": HOXA5, "KAP": NON_TF}, hits=hits, exclude={"HOXA5": {"P20719"}})
    assert inf["KAP"] == []
    got = inf["HOXA5"]
    assert got and all(r.reference != "P20719" and r.family == "Homeodomain" for r in got)
    assert got[0].matrix_name.upper().startswith("HOX") and got[0].pctid >= 0.9
    assert "DBD identity" in got[0].evidence() and got[0].score >= got[0].threshold


def test_cisbp_decision_rules():
    from tfscope.protein.dbdref import load_reference
    from tfscope.protein.infer import classify_pair, position_scores, rost_cutoff

    m = load_reference().cisbp_model("Homeodomain")
    same = position_scores(["ACDEF"], ["ACDEF"])
    assert same.tolist() == [1.0] * 5 and classify_pair(m, np.ones(57), np.ones(57))[:2] == (True, 1.0)
    assert not classify_pair(m, np.zeros(57), np.zeros(57))[0]
    # several domains: the shorter list slides along the longer one, best offset kept
    assert position_scores(["AAAA", "CCCC", "DDDD"], ["CCCC", "DDDD"]).tolist() == [1.0] * 4
    assert position_scores(["A-"], ["A-"], "blosum62").tolist() == [4.0, 1.0]
    assert rost_cutoff(1000) < rost_cutoff(50) < 100


def test_cli_domains_and_predict(tmp_path, capsys):
    fa = tmp_path / "p.fasta"
    fa.write_text(f">HOXA5\n{HOXA5}\n>KAP\n{NON_TF}\n")
    out = tmp_path / "hits.tsv"
    assert cli_main(["protein", "domains", str(fa), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].split("\t")[:5] == ["protein", "family", "accession", "start", "end"] and len(lines) == 2
    assert lines[1].split("\t")[:5] == ["HOXA5", "Homeodomain", lines[1].split("\t")[2], "196", "252"]
    pred, js = tmp_path / "pred.tsv", tmp_path / "pred.json"
    assert cli_main(["protein", "predict", str(fa), "-o", str(pred), "--json", str(js)]) == 0
    rows = [ln.split("\t") for ln in pred.read_text().splitlines()]
    assert rows[0] == ["id", "p_tf", "is_tf", "p_tfpm", "is_tfpm", "n_dbd", "dbds", "tf_class", "inferred", "evidence"]
    hox, kap = rows[1], rows[2]
    assert hox[2] == "1" and hox[5] == "1" and hox[6] == "Homeodomain:196-252" and hox[7] == "Homeo domain factors"
    assert hox[8] and "DBD identity" in hox[9]
    assert kap[2] == "0" and kap[5] == "0" and kap[7] == "unknown" and kap[8] == ""
    doc = json.loads(js.read_text())
    assert doc["proteins"][0]["inferred"][0]["family"] == "Homeodomain" and doc["proteins"][1]["dbds"] == []
    # --no-dbd keeps the two-layer columns only
    assert cli_main(["protein", "predict", str(fa), "-o", str(pred), "--no-dbd"]) == 0
    assert pred.read_text().splitlines()[0] == "id\tp_tf\tis_tf\tp_tfpm\tis_tfpm"
    # a DNA record: exit 2, for both commands
    dna = tmp_path / "dna.fasta"
    dna.write_text(">d\n" + "ACGTTGCAAGCT" * 10 + "\n")
    assert cli_main(["protein", "domains", str(dna)]) == 2
    assert cli_main(["protein", "predict", str(dna)]) == 2
    assert "DNA" in capsys.readouterr().err


def _reference_fasta(path, acc, name):
    from tfscope.protein.dbdref import load_reference

    path.write_text(f">{name}\n{load_reference().proteins[acc]['sequence']}\n")
    return path


def test_pwm_score_threshold_is_exact():
    import itertools

    from tfscope.protein.pwmscan import GRID, StrandPWM, pwm_score_threshold

    rng = np.random.default_rng(0)
    lo = rng.normal(size=(4, 5))
    scores = np.sort([sum(lo[b, j] for j, b in enumerate(s)) for s in itertools.product(range(4), repeat=5)])
    for p in (1e-3, 1e-2, 0.1):
        t = pwm_score_threshold(lo, p)
        # the grid rounds each column by at most GRID / 2
        assert np.mean(scores >= t + 5 * GRID / 2) <= p and np.mean(scores >= t - 5 * GRID) > p
    # the scan model's call is exactly a window at or above the threshold: probability 0.5 at the relative cut
    net = StrandPWM(rng.integers(0, 20, size=(4, 8)).astype(float), pvalue=1e-3)
    assert net.receptive_field == 15 and 0 < net.threshold < 1
    with pytest.raises(Exception, match="p-value"):
        pwm_score_threshold(lo, 0)


def test_scan_with_the_matrices_inferred_from_a_protein(tmp_path, capsys):
    fa = _reference_fasta(tmp_path / "klf4.fasta", "O43474", "sp|O43474|KLF4_HUMAN")  # human KLF4, a C2H2 TF
    bed, js, rep = tmp_path / "k.bed", tmp_path / "k.json", tmp_path / "k.html"
    assert cli_main(["scan", "--example", "--protein", str(fa), "--out", str(bed), "--json", str(js), "--report",
                     str(rep), "--max-matrices", "3", "--quiet"]) == 0
    doc = json.loads(js.read_text())
    assert len(doc["models"]) == 3 and doc["protein"] == str(fa)
    assert all(m.startswith("sp_O43474_KLF4_HUMAN:") for m in doc["models"])
    ev = doc["evidence"][doc["models"][0]]
    assert ev["kind"] == "pwm" and ev["protein"] == "sp|O43474|KLF4_HUMAN" and ev["dbd_family"] == "zf-C2H2"
    assert ev["dbd_identity"] == 1.0 and ev["matrix_id"].startswith("MA0039") and ev["pwm_pvalue"] == 1e-4
    assert ev["matrix_id"] in doc["models"][0]
    calls = [ln.split("\t") for ln in bed.read_text().splitlines()]
    assert doc["sites"] == len(calls) > 0 and {c[3] for c in calls} <= set(doc["models"])
    assert {c[5] for c in calls} <= {"+", "-"}  # one strand scanned at a time: each call knows its strand
    page = rep.read_text()
    assert "where each matrix comes from" in page and "inferred from protein" in page and "zf-C2H2" in page
    out = capsys.readouterr()
    assert "PWM models inferred from" in out.out + out.err
    # streamed (no report), one call per protein and site with --collapse group
    assert cli_main(["scan", "--example", "--protein", str(fa), "--out", str(bed), "--json", str(js),
                     "--collapse", "group", "--quiet"]) == 0
    doc = json.loads(js.read_text())
    assert doc["streamed"] and {ln.split("\t")[3] for ln in bed.read_text().splitlines()} == {"sp_O43474_KLF4_HUMAN"}


def test_scan_protein_refusals(tmp_path, capsys):
    kap = tmp_path / "kap.fasta"
    kap.write_text(f">KAP\n{NON_TF}\n")
    bed = tmp_path / "x.bed"
    assert cli_main(["scan", "--example", "--protein", str(kap), "--out", str(bed)]) == 2
    err = capsys.readouterr().err
    assert "no JASPAR matrix can be inferred" in err and "not a TF" in err and len(err.strip().splitlines()) == 1
    assert not bed.exists()
    dna = tmp_path / "dna.fasta"
    dna.write_text(">d\n" + "ACGTTGCAAGCT" * 10 + "\n")
    assert cli_main(["scan", "--example", "--protein", str(dna), "--out", str(bed)]) == 2
    assert "looks like DNA" in capsys.readouterr().err and not bed.exists()
    hox = _reference_fasta(tmp_path / "hox.fasta", "P20719", "HOXA5")
    assert cli_main(["scan", "--example", "--protein", str(hox), "--tfs", "CTCF", "--out", str(bed)]) == 2
    assert cli_main(["scan", "--example", "--protein", str(hox), "--max-matrices", "0", "--out", str(bed)]) == 2


def test_tfclass_predict_with_the_protein(tmp_path, capsys):
    """The protein's DBDs set the class (RUNX1's Runt domain: a class the motif models do not know), and unknown
    when the protein has no DBD; the output says which evidence decided."""
    from tfscope.io.motifs import write_jaspar
    from tfscope.protein.dbdref import load_reference

    ref = load_reference()
    motif = tmp_path / "runx.jaspar"
    write_jaspar(motif, [("MA0002.2 RUNX1", np.asarray(ref.matrices["MA0002.2"]["counts"], dtype=float))])
    runx = _reference_fasta(tmp_path / "runx1.fasta", "Q01196", "RUNX1")
    assert cli_main(["tfclass", "predict", str(motif), "--protein", str(runx), "--json", "-", "--quiet"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (m,) = doc["motifs"]
    assert m["tf_class"] == "Runt domain factors" and m["class_evidence"] == "protein"
    assert "Runt domain factors" not in doc["classes"] and m["motif_class"] != m["tf_class"]
    assert m["protein"]["id"] == "RUNX1" and m["protein"]["dbd_families"] == ["Runt"]
    out = tmp_path / "p.txt"
    assert cli_main(["tfclass", "predict", str(motif), "--protein", str(runx), "--out", str(out), "--quiet"]) == 0
    text = out.read_text()
    assert "# tf_class from the DNA-binding domains" in text and "class from protein RUNX1" in text
    assert "1 motif (0 unknown)" in capsys.readouterr().out
    # a protein without a DBD: unknown, whatever the motif looks like
    kap = tmp_path / "kap.fasta"
    kap.write_text(f">KAP\n{NON_TF}\n")
    assert cli_main(["tfclass", "predict", str(motif), "--protein", str(kap), "--json", "-", "--quiet"]) == 0
    (m,) = json.loads(capsys.readouterr().out)["motifs"]
    assert (m["tf_class"], m["class_evidence"], m["protein"]["dbd_families"]) == ("unknown", "protein-no-dbd", [])
    # proteins must pair with the motifs: one for all, or one per motif
    two = tmp_path / "two.fasta"
    two.write_text(runx.read_text() + kap.read_text())
    assert cli_main(["tfclass", "predict", str(motif), "--protein", str(two), "--quiet"]) == 2
    assert "one protein for all motifs or one per motif" in capsys.readouterr().err


def test_tiered_layer1_ranks_dbd_proteins_first_and_round_trips(tmp_path):
    """DbdTieredModel: a protein with a DBD scores >= 0.5, one without < 0.5, the threshold is the max-MCC point of
    the out-of-fold tier scores, and the checkpoint reloads to the same scores."""
    from tfscope.protein.dbdmodel import DbdTieredModel, fit_dbd_tiered, tiered_scores
    from tfscope.protein.dbdref import load_reference
    from tfscope.protein.models import load_protein_model, save_protein_model

    assert tiered_scores([1, 0], [0.0, 1.0]).tolist() == [0.5, 0.5]
    ref = load_reference()
    tfs = [p["sequence"] for _, p in sorted(ref.proteins.items())[:40]]
    rng = np.random.default_rng(0)
    aa = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    non = ["".join(rng.choice(aa, 300)) for _ in range(40)]
    seqs, y = tfs + non, np.r_[np.ones(40, int), np.zeros(40, int)]
    m = fit_dbd_tiered(seqs, y, seed=0)  # the graded DBD model (on the stack) inside the tiers, as shipped
    p = m.predict_proba([HOXA5, NON_TF])
    assert p[0] >= 0.5 > p[1] and 0 < m.threshold <= 1 and m.meta["inner"] == "protein-dbd-graded"
    assert m.meta["no_dbd_inner_threshold"] == pytest.approx(min(1.0, 2 * m.threshold))
    save_protein_model(m, tmp_path, "layer1")
    back = load_protein_model(tmp_path, "layer1")
    assert isinstance(back, DbdTieredModel) and back.threshold == m.threshold
    assert np.allclose(back.predict_proba([HOXA5, NON_TF]), p)
    with pytest.raises(Exception, match="out-of-fold"):
        fit_dbd_tiered(seqs, y, inner=object())


def test_tiered_layer1_with_an_esm_inner_model(tmp_path):
    """The ESM-2 path inside the DBD tiers (tiny random backbone from a local directory, no weights fetched):
    out-of-fold P(TF) from grouped folds, the tier order, and one checkpoint holding the ESM member."""
    import torch
    from transformers import EsmConfig, EsmModel

    from tfscope.protein.dbdmodel import DbdTieredModel, fit_dbd_tiered
    from tfscope.protein.dbdref import load_reference
    from tfscope.protein.esm import EsmProteinModel, fit_esm_oof, tiny_esm_config
    from tfscope.protein.models import load_protein_model, save_protein_model

    torch.manual_seed(0)
    torch.set_num_threads(1)
    EsmModel(EsmConfig(**tiny_esm_config()), add_pooling_layer=False).save_pretrained(tmp_path / "tiny-esm2")
    ref = load_reference()
    tfs = [p["sequence"][:120] for _, p in sorted(ref.proteins.items())[:9]]
    rng = np.random.default_rng(1)
    aa = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    non = ["".join(rng.choice(aa, 120)) for _ in range(9)]
    seqs, y = tfs + non + [non[0]], np.r_[np.ones(9, int), np.zeros(10, int)]  # a duplicate: one fold holds both
    inner = fit_esm_oof(seqs, y, folds=3, backbone=tmp_path / "tiny-esm2", epochs=1, batch_size=8,
                        max_residues=64, labels=("TF", "non-TF"))
    assert inner.oof_proba.shape == (19,) and 0 <= inner.meta["cv_auroc"] <= 1
    assert ((inner.oof_proba >= 0) & (inner.oof_proba <= 1)).all()
    m = fit_dbd_tiered(seqs, y, inner=inner, labels=("TF", "non-TF"))
    p = m.predict_proba([HOXA5, NON_TF])
    assert p[0] >= 0.5 > p[1] and m.meta["inner"] == "protein-esm"
    save_protein_model(m, tmp_path, "layer1")
    back = load_protein_model(tmp_path, "layer1")
    assert isinstance(back, DbdTieredModel) and isinstance(back.inner, EsmProteinModel)
    assert np.allclose(back.predict_proba([HOXA5, NON_TF]), p, atol=1e-6)
    with pytest.raises(InputError, match="each class"):
        fit_esm_oof(seqs[:4], y[:4], folds=3, backbone=tmp_path / "tiny-esm2")
