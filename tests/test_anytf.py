"""Any TF in one scan (tfscope.anytf): non-zoo JASPAR matrices, user motif files, bad files, the bundled model."""

import re

import numpy as np
import pytest

from tfscope.anytf.motifs import jaspar_motifs, read_motif_file, select_motifs
from tfscope.anytf.scan import COLUMNS, EXTRA_COLUMNS, MOTIF_CALLS_AUTOSQL, load_motif_model, scan_motifs
from tfscope.errors import InputError
from tfscope.io.fasta import read_fasta
from tfscope.resources import resource

EVIDENCE = {"trained", "motif-conditioned", "pwm"}


@pytest.fixture(scope="module")
def regions():
    return read_fasta(resource("example_regions"))


def _check_calls(calls, seqs):
    for r in calls:
        assert len(r.extra) == len(COLUMNS)
        assert r.chrom in seqs and 0 <= r.start < r.end <= len(seqs[r.chrom])
        assert 0 <= r.score <= 1000 and r.strand in "+-."
        assert r.extra[-2] in EVIDENCE
        p, q = float(r.extra[COLUMNS.index("pValue")]), float(r.extra[COLUMNS.index("qValue")])
        assert 0 < p <= 1e-3 or r.extra[-2] == "trained"
        assert p <= q <= 1
        if r.extra[-2] != "trained":  # the matched window, read on the call's strand
            site = r.extra[COLUMNS.index("site")]
            fwd = seqs[r.chrom][r.start:r.end].upper()
            assert site == (fwd if r.strand == "+" else fwd[::-1].translate(str.maketrans("ACGTN", "TGCAN")))


def test_bundled_model_loads_with_checksum_and_calibration():
    model, meta = load_motif_model()
    cal = meta["calibration"]
    assert set(cal["floor"]) <= {"motif-conditioned", "pwm"} and len(cal["floor"]) == len(cal["ic_edges"]) + 1
    assert 0 < cal["motif_conditioned"]["min_precision"] < 1
    assert model.receptive_field == 101


def test_jaspar_2024_has_879_matrices_and_ctcf_resolves_by_name_and_id():
    ms = jaspar_motifs()
    assert len(ms) == 879
    by_name = select_motifs(list(ms), ["ctcf"])
    assert by_name and all(m.name == "CTCF" for m in by_name)
    assert [m.matrix_id for m in select_motifs(list(ms), ["MA0139"])][0].startswith("MA0139.")
    with pytest.raises(InputError):
        select_motifs(list(ms), ["NOT_A_TF"])


def test_non_zoo_tf_gets_calls_on_a_real_bundled_sequence(regions):
    calls = scan_motifs(regions, "jaspar", tfs=["CTCF"], min_precision=0.0)
    assert calls, "CTCF (not in the zoo) should have candidate calls in 2.2 kb of real promoters"
    assert {r.name for r in calls} == {"CTCF"}
    assert {r.extra[-2] for r in calls} <= {"motif-conditioned", "pwm"}
    _check_calls(calls, regions)
    default = scan_motifs(regions, "jaspar", tfs=["CTCF"])
    assert len(default) <= len(calls)
    net = scan_motifs(regions, "jaspar", tfs=["CTCF"], min_precision=0.0, pwm_floor=False)
    assert net and {r.extra[-2] for r in net} == {"motif-conditioned"}
    _check_calls(net, regions)
    assert all(0 <= float(r.extra[0]) <= 1 for r in net)  # the network's probability


def test_user_meme_file_and_transfac_file(tmp_path, regions):
    ctcf = select_motifs(list(jaspar_motifs()), ["MA0139"])[0]
    rows = "\n".join(" ".join(f"{v:.4f}" for v in col) for col in ctcf.probs.T)
    meme = tmp_path / "mine.meme"
    meme.write_text("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n"
                    f"MOTIF my_ctcf MYCTCF\nletter-probability matrix: alength= 4 w= {ctcf.width}\n{rows}\n")
    calls = scan_motifs(regions, meme, min_precision=0.0)
    assert calls and {r.name for r in calls} == {"MYCTCF"} and {r.extra[-1] for r in calls} == {"my_ctcf"}
    _check_calls(calls, regions)
    tf = tmp_path / "mine.transfac"
    counts = "\n".join(f"{i + 1:02d}      " + "      ".join(str(int(round(100 * v))) for v in col)
                       for i, col in enumerate(ctcf.probs.T))
    tf.write_text(f"AC  M0001\nXX\nID  MYCTCF2\nXX\nP0      A      C      G      T\n{counts}\nXX\n//\n")
    (m,) = read_motif_file(tf)
    assert m.name == "MYCTCF2" and m.width == ctcf.width
    assert np.allclose(m.probs, ctcf.probs, atol=0.01)


@pytest.mark.parametrize("text", ["MOTIF x\nletter-probability matrix: alength= 4 w= 3\n0.25 0.25 0.25 0.25\n",
                                  "not a motif at all\n", ""])
def test_bad_motif_file_is_an_input_error(tmp_path, regions, text):
    p = tmp_path / "bad.meme"
    p.write_text(text)
    with pytest.raises(InputError):
        scan_motifs(regions, p)


def test_zoo_tf_keeps_its_trained_model(regions):
    calls = scan_motifs(regions, "jaspar", tfs=["KLF4", "CTCF"], workers=1, min_precision=0.0)
    ev = {(r.name, r.extra[-2]) for r in calls}
    assert ("KLF4", "trained") in ev
    assert all(e != "trained" for n, e in ev if n == "CTCF")
    assert EXTRA_COLUMNS == ("evidence", "matrixId") and COLUMNS[-2:] == EXTRA_COLUMNS
    _check_calls(calls, regions)
    fields = re.findall(r"^\s+\w+(?:\[\d+\])?\s+(\w+);", MOTIF_CALLS_AUTOSQL, re.M)  # every column in the .as
    assert fields[6:] == list(COLUMNS) and len(fields) == 6 + len(COLUMNS)


def test_scan_motifs_command_writes_declared_bed6_11_in_genome_coordinates(tmp_path):
    """`tfscope scan --example --motifs jaspar --tfs CTCF` (a TF no model was trained on) and a user MEME file: BED6+11
    with evidence and matrix ID declared in the .as, genome coordinates, loads with pandas and bedtools; refusals."""
    import json
    import shutil
    import subprocess

    import pandas as pd

    from tfscope.anytf.scan import COLUMNS, MOTIF_CALLS_AUTOSQL
    from tfscope.cli import main

    out = tmp_path / "ctcf.bed"
    assert main(["scan", "--example", "--motifs", "jaspar", "--tfs", "CTCF", "MA0599.1", "--out", str(out),
                 "--json", str(tmp_path / "s.json"), "--quiet"]) == 0
    df = pd.read_csv(out, sep="\t", header=None, names=["chrom", "start", "end", "name", "score", "strand", *COLUMNS])
    assert set(df["name"]) == {"CTCF", "KLF5"} and set(df["evidence"]) == {"pwm", "trained"}
    assert set(df.loc[df["name"] == "CTCF", "matrixId"].str.split(".").str[0]) <= {"MA0139", "MA1929", "MA1930"}
    assert df["chrom"].str.startswith("chr").all() and not df["chrom"].str.contains(":").any()
    assert (tmp_path / "ctcf.as").read_text() == MOTIF_CALLS_AUTOSQL and "string evidence;" in MOTIF_CALLS_AUTOSQL
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["sites"] == len(df) and s["evidence"]["pwm"] == int((df["evidence"] == "pwm").sum())
    if shutil.which("bedtools"):
        merged = subprocess.run(["bedtools", "merge", "-i", str(out)], capture_output=True, text=True, check=True)
        assert merged.stdout.strip()
    # sites_frame reads the calls back with their evidence; zoo list --motifs states the same evidence per matrix
    from tfscope.io.bed import read_bed
    from tfscope.scan.frame import sites_frame

    frame = sites_frame(read_bed(out))
    assert frame[["name", "evidence", "matrixId"]].equals(df[["name", "evidence", "matrixId"]])
    assert main(["zoo", "list", "--motifs", "jaspar", "--tfs", "CTCF", "MA0599.1", "--json",
                 str(tmp_path / "ev.json")]) == 0
    listed = {r["matrixId"]: r["evidence"] for r in json.loads((tmp_path / "ev.json").read_text())}
    assert listed["MA0599.1"] == "trained" and set(listed) >= set(df["matrixId"])
    assert all(listed[m] == e for m, e in zip(df["matrixId"], df["evidence"]))
    assert main(["zoo", "list", "--tfs", "CTCF"]) == 2  # --tfs belongs to --motifs
    # a bigBed 6+11 of the same calls (genome coordinates: the genome's chromosome sizes are needed, and asked for)
    import pybigtools

    sizes = tmp_path / "g.sizes"
    sizes.write_text("".join(f"{c}\t250000000\n" for c in dict.fromkeys(df["chrom"])))
    assert main(["scan", "--example", "--motifs", "jaspar", "--tfs", "CTCF", "MA0599.1", "--out",
                 str(tmp_path / "b.bed"), "--bigbed", str(tmp_path / "b.bb"), "--chrom-sizes", str(sizes),
                 "--quiet"]) == 0
    bb = pybigtools.open(str(tmp_path / "b.bb"))
    got = [(c, *r) for c in dict.fromkeys(df["chrom"]) for r in bb.records(c)]
    calls = read_bed(tmp_path / "b.bed")
    assert calls and got == [(r.chrom, r.start, r.end, r.name, str(r.score), r.strand, *r.extra) for r in calls]
    assert "evidence" in bb.sql() and "matrixId" in bb.sql()
    assert main(["scan", "--example", "--motifs", "jaspar", "--tfs", "CTCF", "--out", str(tmp_path / "c.bed"),
                 "--bigbed", str(tmp_path / "c.bb")]) == 2  # genome coordinates without --chrom-sizes
    # the HTML report, grouped by evidence: a browser lane and a table per level, the known sites, the logos
    import re

    from tfscope.resources import resource

    assert main(["scan", "--example", "--motifs", "jaspar", "--tfs", "CTCF", "MA0599.1", "--out",
                 str(tmp_path / "r.bed"), "--report", str(tmp_path / "r.html"), "--known",
                 str(resource("example_sites")), "--quiet"]) == 0
    page = (tmp_path / "r.html").read_text()
    data = json.loads(re.search(r"id='tfscope-data'>(.*?)</script>", page, re.S).group(1).replace("<\\/", "</"))
    assert [a["name"] for a in data["annotations"]] == ["trained calls", "pwm calls", "known sites"]
    n = {a["name"]: len(a["rows"]) for a in data["annotations"]}
    assert n["trained calls"] == int((df["evidence"] == "trained").sum()) and n["pwm calls"] == int(
        (df["evidence"] == "pwm").sum())
    assert f"Calls: trained ({n['trained calls']})" in page and f"Calls: pwm ({n['pwm calls']})" in page
    assert "MA0599.1" in page and "<svg" in page
    assert not (tmp_path / "c.bed").exists()
    # --zoo fast: the zoo TF's matrix is called by the distilled zoo (its own calls), the others as before
    fast = tmp_path / "fast.bed"
    assert main(["scan", "--example", "--motifs", "jaspar", "--tfs", "CTCF", "MA0599.1", "--zoo", "fast", "--out",
                 str(fast), "--json", str(tmp_path / "f.json"), "--quiet"]) == 0
    dff = pd.read_csv(fast, sep="\t", header=None, names=df.columns)
    assert json.loads((tmp_path / "f.json").read_text())["zoo"] == "fast" and s["zoo"] == "genomic"
    pd.testing.assert_frame_equal(dff[dff["name"] == "CTCF"].reset_index(drop=True),
                                  df[df["name"] == "CTCF"].reset_index(drop=True))
    trained = ["start", "end", "peakP"]
    assert not dff.loc[dff["name"] == "KLF5", trained].reset_index(drop=True).equals(
        df.loc[df["name"] == "KLF5", trained].reset_index(drop=True))
    meme = tmp_path / "mine.meme"
    meme.write_text("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n"
                    "Background letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n"
                    "MOTIF M1 EBOXLIKE\nletter-probability matrix: alength= 4 w= 6\n"
                    "0.01 0.97 0.01 0.01\n0.97 0.01 0.01 0.01\n0.01 0.97 0.01 0.01\n"
                    "0.01 0.01 0.97 0.01\n0.01 0.01 0.01 0.97\n0.01 0.01 0.97 0.01\n")
    assert main(["scan", "--example", "--motifs", str(meme), "--out", str(tmp_path / "m.bed"), "--quiet"]) == 0
    assert main(["scan", "--example", "--motifs", "jaspar", "--tracks", "bedgraph", "--out",
                 str(tmp_path / "x.bed")]) == 2
