"""The Python API's tidy result (issue 29): scan() calls as a DataFrame, and scan()'s default worker count."""

import numpy as np
import pandas as pd
import pytest

from tfscope.executor import MAX_DEFAULT_WORKERS, default_workers
from tfscope.io.bed import BedRecord
from tfscope.io.fasta import read_fasta
from tfscope.io.tracks import CALL_COLUMNS
from tfscope.resources import resource
from tfscope.scan.engine import scan
from tfscope.scan.frame import sites_frame
from tfscope.zoo.registry import load_zoo


def test_scan_default_workers_and_sites_frame():
    seqs = read_fasta(resource("example_regions"))
    models = load_zoo(["FOXK1", "KLF4", "E2F1"], kind="shuffled", device="cpu")
    assert 1 <= default_workers() <= MAX_DEFAULT_WORKERS
    sites, _ = scan(models, seqs)  # default: the available cores, capped
    one, _ = scan(models, seqs, workers=1)
    assert sites and sites == one  # the same calls, whichever number of workers
    df = sites_frame(sites)
    assert len(df) == len(sites) and list(df.columns[:6]) == ["chrom", "start", "end", "name", "score", "strand"]
    assert list(df.columns[6:]) == list(CALL_COLUMNS[:len(df.columns) - 6]) and "peakP" in df
    assert df["start"].dtype == np.int64 and df["end"].dtype == np.int64
    assert pd.api.types.is_float_dtype(df["peakP"]) and ((df["peakP"] > 0) & (df["peakP"] <= 1)).all()
    assert pd.api.types.is_numeric_dtype(df["score"]) and set(df["name"]) <= {"FOXK1", "KLF4", "E2F1"}
    assert (df["end"] > df["start"]).all() and set(df["chrom"]) <= set(seqs)
    assert df.iloc[0]["peakP"] == pytest.approx(float(sites[0].extra[0]))


def test_sites_frame_full_call_columns():
    full = BedRecord("chr1", 10, 22, "GATA1", 812, ".",
                     ["0.9731", "15", "0.812", "0.85", "4.1e-06", "3.3e-04", "GATA", "GATA1,GATA2", "AGATAAG"])
    short = BedRecord("chr2", 0, 8, "KLF4", 500, "+", ["0.5"])
    df = sites_frame([full, short])
    assert list(df.columns) == ["chrom", "start", "end", "name", "score", "strand", *CALL_COLUMNS]
    assert df.loc[0, "pValue"] == pytest.approx(4.1e-6) and df.loc[0, "peak"] == 15 and df.loc[0, "group"] == "GATA"
    assert df.loc[0, "members"] == "GATA1,GATA2" and df["peak"].dtype == "Int64" and df.loc[0, "site"] == "AGATAAG"
    assert all(pd.api.types.is_float_dtype(df[c]) for c in ("peakP", "precision", "groupPrecision", "qValue"))
    assert np.isnan(df.loc[1, "precision"]) and pd.isna(df.loc[1, "group"])  # a record without the newer columns
    assert sites_frame([]).empty and list(sites_frame([]).columns)[:6] == ["chrom", "start", "end", "name",
                                                                            "score", "strand"]
    # an any-TF call (scan --motifs) carries its evidence and matrix ID after the scanner's columns, as text
    motif = sites_frame([BedRecord("c", 3, 18, "CTCF", 640, "+", ["0.64", "10", "0.64", "-1", "2e-06", "0.01",
                                                                   "CTCF", "CTCF:0.640", "CCGCGNGGNGGCAG", "pwm",
                                                                   "MA0139.2"])])
    assert motif.loc[0, "evidence"] == "pwm" and motif.loc[0, "matrixId"] == "MA0139.2"
    assert motif.loc[0, "pValue"] == pytest.approx(2e-6)
    with pytest.raises(ValueError, match="at most 11"):
        sites_frame([BedRecord("c", 0, 1, "X", 0, ".", ["1"] * 12)])


def test_scan_and_zoo_list_json(tmp_path, capsys):
    import json

    from tfscope.cli import main
    from tfscope.io import read_bed

    out, js = tmp_path / "calls.bed", tmp_path / "run.json"
    assert main(["scan", "--example", "--zoo", "shuffled", "--tfs", "FOXK1", "KLF4", "--out", str(out),
                 "--tracks", "bedgraph", "--json", str(js), "--quiet", "--workers", "1"]) == 0
    said = capsys.readouterr().out
    run = json.loads(js.read_text())
    seqs = read_fasta(resource("example_regions"))
    assert run["sequences"] == len(seqs) and run["bp"] == sum(map(len, seqs.values())) == 2226
    assert run["models"] == ["FOXK1", "KLF4"] and run["sites"] == len(read_bed(out)) and run["seconds"] > 0
    assert run["outputs"] == {"bed": str(out), "autosql": str(tmp_path / "calls.as"),
                              "tracks_bedgraph": str(tmp_path / "calls.bedgraph")}
    assert (tmp_path / "calls.as").read_text().startswith("table tfscopeCalls")
    assert f"scanned {len(seqs)} sequences, 2,226 bp, with 2 TF models" in said
    assert main(["zoo", "list", "--json", "-"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 45 and all(0 < r["threshold"] < 1 for r in rows)


def test_json_to_standard_output_stays_valid_json(tmp_path, capsys):
    """With --json -, standard output holds the JSON only; the human-readable report goes to standard error."""
    import json

    from tfscope.cli import main

    assert main(["scan", "--example", "--zoo", "shuffled", "--tfs", "FOXK1", "--out", str(tmp_path / "c.bed"),
                 "--json", "-", "--quiet", "--workers", "1"]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["models"] == ["FOXK1"] and cap.err.startswith("scanned 6 sequences, 2,226 bp")


def test_scan_to_files_writes_what_the_cli_writes(tmp_path):
    """The library call behind `tfscope scan` gives the same BED as the command, its summary, and refuses clobbering."""
    from tfscope.cli import main
    from tfscope.errors import InputError
    from tfscope.scan import scan_to_files

    models = load_zoo(["KLF5", "E2F1"], device="cpu")
    fa = resource("example_regions")
    s = scan_to_files(models, fa, tmp_path / "lib.bed", tracks=["bedgraph"], genome="auto", example=True)
    lines = (tmp_path / "lib.bed").read_text().splitlines()
    assert s["sites"] == len(lines) > 0 and s["genome_coordinates"] == "auto" and s["models"] == ["KLF5", "E2F1"]
    assert (tmp_path / "lib.as").exists() and sorted(p.name for p in (tmp_path / "lib.bedgraph").iterdir()) == [
        "E2F1.bedGraph", "KLF5.bedGraph"]
    assert lines[0].split("\t")[0] == "chr1"  # genome coordinates from the chrom:start-end headers
    assert main(["scan", "--example", "--tfs", "KLF5", "E2F1", "--parse-genomic-coord", "--out",
                 str(tmp_path / "cli.bed"), "--quiet"]) == 0
    assert (tmp_path / "cli.bed").read_text() == (tmp_path / "lib.bed").read_text()
    with pytest.raises(InputError, match="--out"):
        scan_to_files(models, fa, fa, example=False)  # the output would replace the FASTA
