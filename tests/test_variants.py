"""tfscope variants (issue 45): VCF/TSV in, REF check, ref/alt scoring equal to the scan, null p-values, VCF out
read by bcftools, haplotypes, the bundled example."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from cli_helpers import run_tfscope

TFS = ["FOXK1", "FOXK2", "E2F1", "NFYB", "KLF4"]


def same_rows(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """The same rows and text; numbers equal to their 4 written significant digits (a run in one process with 2 torch
    threads and workers with 1 thread each sum in another order, which can move a value across a rounding boundary)."""
    pd.testing.assert_frame_equal(a, b, rtol=1e-3, atol=1e-6)


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The bundled example VCF and a bgzipped copy of its genome (no .fai: built on first use)."""
    import pysam

    from tfscope.variants.run import example_paths

    d = tmp_path_factory.mktemp("variants")
    vcf, fa = example_paths()
    shutil.copy(vcf, d / "in.vcf.gz")
    pysam.tabix_compress(str(fa), str(d / "genome.fa.gz"))
    return d, d / "in.vcf.gz", d / "genome.fa.gz"


@pytest.fixture(scope="module")
def zoo_models():
    from tfscope.variants.run import load_models

    return load_models(tfs=TFS, device="cpu")


@pytest.fixture(scope="module")
def cli_run(example):
    d, vcf, fa = example
    r = run_tfscope("variants", vcf, "--genome", fa, "--out", d / "effects.tsv", "--vcf-out", d / "out.vcf.gz",
                    "--json", d / "run.json", "--tfs", *TFS, "--all", "--workers", "1")
    return r, d


def test_cli_vcf_bgzip_indel_multiallelic_writes_tsv_and_vcf(cli_run):
    r, d = cli_run
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(d / "effects.tsv", sep="\t", keep_default_na=False)
    from tfscope.variants.score import COLUMNS

    assert list(df.columns) == COLUMNS
    # 5 scorable variants: the multi-allelic record split in two, a deletion, an SNV, an insertion; <DEL> skipped
    assert sorted(set(zip(df["id"], df["alt"]))) == sorted(
        {("ex_multi", "A"), ("ex_multi", "C"), ("ex_del", "G"), ("FOXK1_site_break", "C"), ("ex_ins", "AGGGCGG"),
         ("E2F1_site_break", "A")})
    assert len(df) == 6 * len(TFS)
    assert set(df["kind"]) == {"SNV", "deletion", "insertion"}
    assert ((df["altP"] - df["refP"] - df["delta"]).abs() < 1e-3).all()
    assert set(df["effect"]) <= {"gain", "loss", "none"}
    s = json.loads((d / "run.json").read_text())
    assert s["skipped"] == {"symbolic": 1} and s["records"] == 6 and s["variants_scored"] == 6
    brk = df[(df["id"] == "FOXK1_site_break") & (df["TF"] == "FOXK1")].iloc[0]
    assert brk["effect"] == "loss" and brk["refP"] > 0.5 > brk["altP"] and brk["pwmRef"] > brk["pwmAlt"]
    assert 0 <= brk["siteOffset"] < 15 and 0 <= brk["pValue"] < 0.01


def test_vcf_out_read_by_bcftools(cli_run):
    _, d = cli_run
    if shutil.which("bcftools") is None:
        pytest.skip("bcftools is not installed (apt-get install bcftools; .ci/run installs it)")
    out = subprocess.run(["bcftools", "query", "-f", "%ID\t%INFO/TFBS_EFFECT\n", str(d / "out.vcf.gz")],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    info = dict(line.split("\t") for line in out)
    assert len(info) == 6  # every input record kept, the symbolic one too
    entries = info["FOXK1_site_break"].split(",")
    tf, effect, delta, q = next(e for e in entries if e.startswith("FOXK1|")).split("|")
    assert effect == "loss" and float(delta) < -0.5 and 0 <= float(q) <= 1
    assert all(e.startswith(("1:", "2:")) for e in info["ex_multi"].split(",") if info["ex_multi"] != ".")
    header = subprocess.run(["bcftools", "view", "-h", str(d / "out.vcf.gz")], capture_output=True, text=True,
                            check=True).stdout
    assert "##INFO=<ID=TFBS_EFFECT,Number=.,Type=String" in header


def test_ref_mismatch_exits_2_naming_the_variant(example, tmp_path, capsys):
    from tfscope.cli import main

    _, _, fa = example
    tsv = tmp_path / "v.tsv"
    tsv.write_text("chrom\tpos\tref\talt\tid\nchr1_27816599_27816935\t246\tT\tC\tok\n"
                   "chr1_27816599_27816935\t247\tG\tA\tbad\n")  # genome has A at 247
    code = main(["variants", str(tsv), "--genome", str(fa), "--out", str(tmp_path / "e.tsv"), "--tfs", "FOXK1"])
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tfscope: error:") and "chr1_27816599_27816935:247 G>A" in lines[0]
    assert not (tmp_path / "e.tsv").exists()


def test_ref_mismatch_skip_tsv_input_and_chrom_naming(example, zoo_models):
    from tfscope.variants.read import Genome
    from tfscope.variants.run import score_variants

    d, _, fa = example
    tsv = d / "v2.tsv"
    # "1_27816599_27816935" is the genome's "chr1_27816599_27816935" (chr1 / 1 naming)
    tsv.write_text("1_27816599_27816935\t246\tT\tC\tok\nchr1_27816599_27816935\t247\tG\tA\tbad\n"
                   "chrX\t10\tA\tG\tnowhere\n")
    g = Genome(fa)
    df = score_variants(tsv, g, models=zoo_models, ref_mismatch="skip")
    assert set(df["id"]) == {"ok"}
    assert df.attrs["counts"]["ref_mismatch"] == 1 and df.attrs["counts"]["unknown_chrom"] == 1
    assert g.renamed == {"1_27816599_27816935": "chr1_27816599_27816935"}


def test_ref_and_alt_scores_equal_the_scan_of_each_allele(example, zoo_models):
    """refP/altP are the scan's own combined-strand track maxima over the site-width window (indel rule), and
    areaDelta the difference of the tracks' sums within AREA_FLANK of the change (the area rule)."""
    from tfscope.scan.engine import combine_strands, scan_tracks
    from tfscope.variants.read import Genome, Variant
    from tfscope.variants.run import score_variants
    from tfscope.variants.score import AREA_FLANK

    _, _, fa = example
    g = Genome(fa)
    chrom = "chr1_27816599_27816935"
    seq = g.fetch(chrom, 0, g.sizes[chrom])
    vs = [Variant(chrom, 200, seq[199:203], seq[199], "del")]  # the indel rule (SNVs: the same with c1 = c0 + 1)
    df = score_variants(vs, g, models=zoo_models, pwm=False)
    models = zoo_models[0]
    for v in vs:
        s0 = v.pos - 1
        alt_seq = seq[:s0] + v.alt + seq[s0 + len(v.ref):]
        area = {}
        for allele, full in (("refP", seq), ("altP", alt_seq)):
            fwd, rev = scan_tracks(models, full, chunk=512)
            for j, m in enumerate(models):
                p = combine_strands(fwd[j], rev[j], m.strands)
                w = m.call.site_width
                c0 = s0 + (0 if v.kind == "SNV" else 1)  # changed bases after trimming the anchor base
                c1 = c0 + (1 if v.kind == "SNV" or allele == "altP" else len(v.ref) - 1)
                want = p[max(0, c0 - w + 1):c1 + w - 1].max()
                got = df[(df["id"] == v.id) & (df["TF"] == m.name)][allele].iloc[0]
                assert abs(got - want) < 1e-5, (v.id, allele, m.name, got, want)
                c1 = max(c1, c0 + 1)  # a junction on the allele without changed bases
                area[allele, m.name] = p[c0 - AREA_FLANK:c1 + AREA_FLANK].sum(dtype=np.float64)
        for m in models:
            got = df[(df["id"] == v.id) & (df["TF"] == m.name)]["areaDelta"].iloc[0]
            assert abs(got - (area["altP", m.name] - area["refP", m.name])) < 1e-4, (m.name, got)


def test_null_pvalues_and_checksum(tmp_path):
    from tfscope.errors import CheckpointError
    from tfscope.resources import resource
    from tfscope.variants.null import VariantNull, load_null, null_path

    p = null_path(resource("zoo", "genomic"))
    null = load_null(p)
    assert null is not None and null.meta["source"].startswith("tfbs-multilabel windows on chr7")
    pv = null.p_values("FOXK1", np.array([0.0, 1e-3, 0.5, 0.99]))
    assert pv[0] == 1.0 and np.all(np.diff(pv) <= 0) and pv[-1] < 0.01
    assert (null.p_values("NOT_A_TF", np.array([0.1])) == -1).all()
    d = json.loads(p.read_text())
    d["per_tf"]["FOXK1"]["count_ge"][5] += 1
    bad = tmp_path / "x.variant_null.json"
    bad.write_text(json.dumps(d))
    with pytest.raises(CheckpointError, match="sha256"):
        load_null(bad)
    small = VariantNull.from_deltas({"T": np.array([0.0, 0.1, 0.2, 0.3])})
    assert small.p_values("T", np.array([0.25]))[0] == pytest.approx(2 / 5)


def test_null_records_the_runtime_it_was_built_under():
    """The shipped null was built with the default zoo's int8 networks; read under another runtime it is kept, with a
    warning (a GPU run falls back to float32); under its own runtime, silently."""
    import warnings

    from tfscope.errors import TfscopeWarning
    from tfscope.models.int8 import int8_available
    from tfscope.resources import resource
    from tfscope.variants.null import load_null, null_path
    from tfscope.zoo.gated import effective_runtime
    from tfscope.zoo.registry import load_zoo

    p = null_path(resource("zoo", "genomic"))
    built = json.loads(p.read_text())["zoo_runtime"]
    models = load_zoo(["FOXK1"], device="cpu")
    here = built if int8_available() else "channels-last"  # an ARM CPU runs the float32 networks
    assert effective_runtime(models[0].model) == here
    with warnings.catch_warnings():
        warnings.simplefilter("error", TfscopeWarning)
        assert load_null(p, runtime=built) is not None
    with pytest.warns(TfscopeWarning, match="approximate"):
        assert load_null(p, runtime="channels-last") is not None


def test_qvalues_from_counts_equal_bh():
    from tfscope.scan.calls import bh_qvalues
    from tfscope.variants.run import count_p, fill_qvalues, qvalue_table

    rng = np.random.default_rng(0)
    p = rng.choice([0.001, 0.01, 0.02, 0.2, 0.5, 1.0], 300)
    df = pd.DataFrame({"pValue": p, "qValue": -1.0})
    counts = {}
    count_p(df.iloc[:100], counts)
    count_p(df.iloc[100:], counts)
    fill_qvalues(df, qvalue_table(counts))
    np.testing.assert_allclose(df["qValue"], bh_qvalues(p))


def test_haplotypes_join_phased_neighbours(example, zoo_models):
    from tfscope.variants.read import Genome
    from tfscope.variants.run import score_variants

    _, vcf, fa = example
    df = score_variants(vcf, Genome(fa), models=zoo_models, haplotypes=True, sample="EXAMPLE1", pwm=False)
    row = df[(df["id"] == "ex_del") & (df["TF"] == "FOXK1")].iloc[0]
    # ex_del (0|1) shares haplotype 2 with ex_multi's first ALT (0|1) and ex_ins (1|1), 50-100 bp away
    assert row["haplotype"] == "2" and "150:T>A" in row["hapVariants"] and "300:A>AGGGCGG" in row["hapVariants"]
    assert row["jointEffect"] in ("gain", "loss", "none") and np.isfinite(row["jointDelta"])
    ins = df[(df["id"] == "ex_ins") & (df["TF"] == "FOXK1")].iloc[0]
    assert ins["haplotype"] == "1,2"  # homozygous ALT
    with pytest.raises(Exception, match="--sample"):
        score_variants(vcf, Genome(fa), models=zoo_models, haplotypes=True)


def test_example_shows_a_broken_known_site(tmp_path, capsys):
    from tfscope.cli import main

    assert main(["variants", "--example", "--out", str(tmp_path / "ex.tsv"), "--tfs", "FOXK1", "E2F1"]) == 0
    out = capsys.readouterr().out
    assert "known ChIP-seq FOXK1 site" in out and "effect loss" in out
    df = pd.read_csv(tmp_path / "ex.tsv", sep="\t")
    assert (df["effect"] != "none").any() or (df["qValue"] <= 0.05).all()


def test_reader_skips_and_splits(tmp_path):
    from tfscope.variants.read import read_records, skip_reason

    assert skip_reason("A", "<DEL>") == "symbolic" and skip_reason("A", "A[chr2:5[") == "symbolic"
    assert skip_reason("A", "*") == "symbolic" and skip_reason("A", ".") == "no_alt"
    assert skip_reason("A" * 52, "A") == "too_long" and skip_reason("A" * 51, "A") is None
    tsv = tmp_path / "v.tsv"
    tsv.write_text("c1\t5\tA\tG,T\tx\nc1\t9\tA\t<INS>\ty\n")
    counts = {}
    recs = list(read_records(tsv, counts=counts))
    assert [len(v) for _, v in recs] == [2, 0] and counts == {"symbolic": 1}
    bad = tmp_path / "b.tsv"
    bad.write_text("c1\tfive\tA\tG\n")
    from tfscope.errors import InputError

    with pytest.raises(InputError, match=r"b.tsv:1: pos 'five'"):
        list(read_records(bad))


def test_streamed_batches_give_the_same_rows_and_qvalues(cli_run, example, monkeypatch, tmp_path):
    """Records scored two at a time (spilled, q-values from p-value counts) equal one batch."""
    from tfscope.variants import run

    _, d = cli_run
    _, vcf, fa = example
    monkeypatch.setattr(run, "BATCH_RECORDS", 2)
    s = run.variants_to_files(vcf, fa, tmp_path / "e.tsv", tfs=TFS, all_rows=True, device="cpu")
    assert s["variants_scored"] == 6 and s["skipped"] == {"symbolic": 1}
    a = pd.read_csv(d / "effects.tsv", sep="\t", keep_default_na=False)
    b = pd.read_csv(tmp_path / "e.tsv", sep="\t", keep_default_na=False)
    same_rows(a, b)


def test_report_views_rescore_the_rows_and_workers_agree(cli_run, example, zoo_models, tmp_path):
    """``--report`` with 2 local workers: the TSV equals the 1-worker run, the page has REF/ALT tracks and logos,
    and each view (SNV, insertion, deletion) re-scores its row's refP and altP exactly."""
    from tfscope.variants.report import variant_view
    from tfscope.variants.read import Genome
    from tfscope.variants.score import VariantScorer

    _, d = cli_run
    _, vcf, fa = example
    out, page = tmp_path / "e.tsv", tmp_path / "r.html"
    r = run_tfscope("variants", vcf, "--genome", fa, "--out", out, "--report", page, "--attributions", "2",
                    "--tfs", *TFS, "--all", "--workers", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    a = pd.read_csv(d / "effects.tsv", sep="\t", keep_default_na=False)
    same_rows(a, pd.read_csv(out, sep="\t", keep_default_na=False))
    text = page.read_text()
    assert text.count('<svg class="logo"') == 4 and "<title>ALT allele: " in text
    assert text.count('<img class="track"') == 2 and "igv.createBrowser" not in text
    assert "FOXK1_site_break" in text and "Strongest rows (30)" in text
    models, null, ids = zoo_models
    scorer = VariantScorer(models, null=null, jaspar_ids=ids, pwm=False)
    g = Genome(fa)
    for kind in ("SNV", "insertion", "deletion"):
        row = a[(a["kind"] == kind)].sort_values("delta", key=abs).iloc[-1]
        view = variant_view(scorer, g, row)
        assert view["refP"] == pytest.approx(row["refP"], abs=5e-5)  # the TSV has 4 decimals
        assert view["altP"] == pytest.approx(row["altP"], abs=5e-5)
        assert len(view["logos"]) == 2 and view["track"].startswith("data:image/png;base64,")
    g.close()


def test_ray_executor_gives_the_rows_of_local_workers(cli_run, example, tmp_path):
    """Variants scored on 2 embedded Ray actors equal the local run."""
    ray = pytest.importorskip("ray")
    from tfscope.executor import make_executor
    from tfscope.variants.run import variants_to_files

    _, d = cli_run
    _, vcf, fa = example
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_memory_monitor_refresh_ms", "0")
        ex = make_executor("ray", 2)
    try:
        s = variants_to_files(vcf, fa, tmp_path / "e.tsv", tfs=TFS, all_rows=True, device="cpu", executor=ex)
    finally:
        ex.close()
    assert s["executor"] == "ray" and s["workers"] == 2 and not ray.is_initialized()
    same_rows(pd.read_csv(d / "effects.tsv", sep="\t", keep_default_na=False),
                                  pd.read_csv(tmp_path / "e.tsv", sep="\t", keep_default_na=False))


def test_plain_vcf_is_read_as_vcf(example, tmp_path):
    """An uncompressed VCF is a VCF (its ID column is not taken for REF): the same rows as the bgzipped input."""
    import pysam

    from tfscope.variants.read import is_vcf, read_records

    _, vcf, _ = example
    plain = tmp_path / "plain.vcf"
    with pysam.VariantFile(str(vcf)) as src, pysam.VariantFile(str(plain), "w", header=src.header) as dst:
        for rec in src:
            dst.write(rec)
    tsv = tmp_path / "t.tsv"
    tsv.write_text("chr1\t5\tA\tG\n")
    assert is_vcf(plain) and is_vcf(vcf) and not is_vcf(tsv)
    a, b = {}, {}
    got = [(i, [(v.chrom, v.pos, v.ref, v.alt, v.id) for v in vs]) for i, vs in read_records(plain, counts=a)]
    want = [(i, [(v.chrom, v.pos, v.ref, v.alt, v.id) for v in vs]) for i, vs in read_records(vcf, counts=b)]
    assert got == want and a == b == {"symbolic": 1} and sum(len(v) for _, v in got) == 6
