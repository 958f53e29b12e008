"""Parser, labeller and near-duplicate finder of the extra motif collections (issue 33), on real bits of the
GimmeMotifs 0.18.4 motif databases (HOCOMOCO v11, ENCODE, CIS-BP)."""

import numpy as np
import pytest

from tfscope.errors import InputError
from tfscope.tfclass.collections import (ExtraMotifs, contained_correlation, gene_class_map, gene_symbol,
                                         greedy_unique, group_class_map, label_motifs, load_extra,
                                         near_identical_pairs, read_gimme_pfm, read_motif2factors, relabel)

# HOCOMOCOv11_HUMAN.pfm / HOCOMOCOv11_MOUSE.pfm (counts, rows = positions A C G T): the mouse GATA4 matrix is the
# human one plus a 10th column
GATA4_HUMAN = """184 64 156 96
94 215 142 49
332 4 8 156
2 0 498 0
490 2 4 4
4 11 20 465
481 2 2 15
459 1 35 5
47 91 349 13"""
HOCO = f"""# HOCOMOCOv11 motif database
>AHR_HUMAN.H11MO.0.B
40.51343240527031	18.259112547756697	56.41253757072521	38.77363485291994
10.877470982533044	11.870876719950774	34.66312982331297	96.54723985087516
21.7165707818416	43.883079837598544	20.706746561638717	67.6523201955933
2.5465132509466635	1.3171620263517245	145.8637051322628	4.231336967110781
0.0	150.35847450464382	1.4927836298652875	2.1074592421627525
3.441039751299748	0.7902972158110341	149.37613720253387	0.3512432070271259
0.0	3.441039751299748	0.7024864140542533	149.81519121131782
0.0	0.0	153.95871737667187	0.0
43.07922333291745	66.87558226865211	16.159862546986584	27.844049228115868
>GATA4_HUMAN.H11MO.0.A
{GATA4_HUMAN}
>GATA4_MOUSE.H11MO.0.A
{GATA4_HUMAN}
285 71 128 16
"""
ENCODE = """# ENCODE motif database
>SIX5_disc1 SIX5_GM12878_encode-Myers_seq_hsa_r1:MEME#1#Intergenic
G 0.008511 0.004255 0.987234 0.000000
A 0.902127 0.012766 0.038298 0.046809
R 0.455319 0.072340 0.344681 0.127660
W 0.251064 0.085106 0.085106 0.578724
"""
M2F = """Motif	Factor	Evidence	Curated
M00056_2.00	OTP	PBM	N
M00056_2.00	SEBOX	PBM	N
M00056_2.00	OTP	PBM	N
M09751_2.00	TFAP2D	Transfac	N
M09751_2.00	TFAP2C	Transfac	Y
"""


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_read_gimme_pfm_hocomoco_and_encode(tmp_path):
    mot = read_gimme_pfm(_write(tmp_path, "h.pfm", HOCO))
    assert [n for n, _ in mot] == ["AHR_HUMAN.H11MO.0.B", "GATA4_HUMAN.H11MO.0.A", "GATA4_MOUSE.H11MO.0.A"]
    ahr = mot[0][1]
    assert ahr.shape == (4, 9) and np.allclose(ahr.sum(0), 1)
    assert ahr[:, 4].argmax() == 1 and ahr[:, 7].argmax() == 2  # column 5 is C, column 8 G (the GCGTG core)
    assert mot[2][1].shape == (4, 10)
    enc = read_gimme_pfm(_write(tmp_path, "e.pfm", ENCODE))
    assert enc[0][0].startswith("SIX5_disc1") and enc[0][1].shape == (4, 4)
    assert np.isclose(enc[0][1][2, 0], 0.987234, atol=1e-5)  # the consensus letter is skipped


def test_read_gimme_pfm_errors(tmp_path):
    with pytest.raises(InputError, match="x.pfm:3"):
        read_gimme_pfm(_write(tmp_path, "x.pfm", ">m\n0.1 0.2 0.3 0.4\n0.1 0.2 0.3\n"))
    with pytest.raises(InputError, match="before the first"):
        read_gimme_pfm(_write(tmp_path, "y.pfm", "0.1 0.2 0.3 0.4\n"))
    with pytest.raises(InputError, match="no rows"):
        read_gimme_pfm(_write(tmp_path, "z.pfm", ">a\n>b\n0.1 0.2 0.3 0.4\n"))


def test_read_motif2factors_filters(tmp_path):
    p = _write(tmp_path, "m2f.txt", M2F)
    assert read_motif2factors(p) == {"M00056_2.00": ["OTP", "SEBOX"], "M09751_2.00": ["TFAP2D", "TFAP2C"]}
    # CIS-BP: only the directly measured factor (Curated = Y), not the inferred paralog
    assert read_motif2factors(p, curated=True) == {"M09751_2.00": ["TFAP2C"]}
    assert read_motif2factors(p, evidence=("PBM",)) == {"M00056_2.00": ["OTP", "SEBOX"]}
    with pytest.raises(InputError, match="header"):
        read_motif2factors(_write(tmp_path, "bad.txt", "Motif\tGene\nA\tB\n"))


def test_gene_labels_case_ambiguity_and_groups():
    names = ["Gata4", "GATA4", "Ahr(var.2)", "TFAP2C", "X1", "X1", "Pou5f1::Sox2"]
    classes = ["GATA", "GATA", "bHLH-PAS", "AP-2", "A", "B", "POU"]
    gm, amb = gene_class_map(names, classes)
    assert gm == {"GATA4": "GATA", "AHR": "bHLH-PAS", "TFAP2C": "AP-2"} and amb == {"X1"}
    assert gene_symbol("Gata4") == gene_symbol("GATA4") == "GATA4"
    labels, src = label_motifs([["gata4"], ["GATA4", "TFAP2C"], ["OTP"], ["GATA6"], ["X1"]], gm)
    assert labels == ["GATA", None, None, None, None] and src == ["gene", "conflict", "none", "none", "none"]
    grp = group_class_map(gm, amb)
    assert grp["GATA"] == "GATA" and "X" not in grp  # X1's group is ambiguous
    labels, src = label_motifs([["GATA6"], ["GATA4", "Gata6"]], gm, grp)
    assert labels == ["GATA", "GATA"] and src == ["group", "group"]


def test_contained_correlation_finds_copies_not_paralogs(tmp_path):
    mot = dict(read_gimme_pfm(_write(tmp_path, "h.pfm", HOCO)))
    ahr, g4h, g4m = mot["AHR_HUMAN.H11MO.0.B"], mot["GATA4_HUMAN.H11MO.0.A"], mot["GATA4_MOUSE.H11MO.0.A"]
    c = contained_correlation([g4h, ahr], [g4m, g4h[::-1, ::-1], ahr])
    assert c[0, 0] == pytest.approx(1.0, abs=1e-5)  # mouse = human + one column: contained copy
    assert c[0, 1] == pytest.approx(1.0, abs=1e-5)  # reverse complement
    assert c[1, 2] == pytest.approx(1.0, abs=1e-5) and c[0, 2] < 0.8 and c[1, 0] < 0.8
    short = g4h[:, 2:8]  # 3 columns narrower than the human matrix: beyond max_width_diff
    assert np.isneginf(contained_correlation([short], [g4h])[0, 0])
    pairs = near_identical_pairs([g4h, ahr, g4m])
    assert pairs.tolist() == [[0, 2]]
    assert greedy_unique(3, pairs).tolist() == [True, True, False]
    assert near_identical_pairs([ahr], [g4h, g4m]).shape == (0, 2)


def test_extra_roundtrip_and_relabel(tmp_path):
    p = np.array([[0.7, 0.1], [0.1, 0.1], [0.1, 0.7], [0.1, 0.1]])
    ex = ExtraMotifs(["HOMER:a", "CIS-BP:b"], ["HOMER", "CIS-BP"], [["GATA4"], ["OTP"]], [p, p[:, ::-1]],
                     ["GATA", "Homeo"], ["gene", "gene"], {"n": 2})
    ex.save(tmp_path / "x.json.gz")
    back = ExtraMotifs.load(tmp_path / "x.json.gz")
    assert back.ids == ex.ids and back.genes == ex.genes and back.meta == {"n": 2}
    assert np.allclose(back.pfms[1], p[:, ::-1])
    r = relabel(back, {"OTP": "Homeo"})
    assert r.ids == ["CIS-BP:b"] and r.labels == ["Homeo"]


def test_shipped_extra_file():
    ex = load_extra()
    assert len(ex) == ex.meta["n_motifs"] > 1000
    assert all(np.allclose(p.sum(0), 1, atol=1e-3) and p.shape[1] >= ex.meta["min_width"] for p in ex.pfms)
    assert all(g and lab for g, lab in zip(ex.genes, ex.labels))
    assert set(ex.collections) <= set(ex.meta["collections"])
    assert not any(c.startswith("JASPAR") for c in ex.collections)
