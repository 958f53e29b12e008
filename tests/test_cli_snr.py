"""End-to-end CLI on bundled real data (small epochs) and the bad-input contract."""

import shutil

import pytest

from tfscope.cli import main
from tfscope.resources import resource
from tfscope.io import read_bed


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    assert main(["snr", "train", "--tf", "FOXK1", "--model", "dilated", "--epochs", "3", "--min-samples", "0", "--out",
                 str(d / "foxk1"), "--quiet"]) == 0
    return d / "foxk1"


def test_train_evaluate_predict(trained, tmp_path, capsys):
    assert main(["snr", "evaluate", "--checkpoint", str(trained), "--tf", "FOXK1", "--json",
                 str(tmp_path / "m.json")]) == 0
    import json
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["nt_auprc"] > 0.8 and m["seq_auroc"] > 0.9
    out = tmp_path / "sites.bed"
    assert main(["snr", "predict", str(resource("example_regions")), "--checkpoint", str(trained), "--out", str(out),
                 "--tracks", "tsv", "--quiet", "--no-parse-genomic-coord"]) == 0  # record coordinates, as example_sites
    sites = read_bed(out)
    assert all(s.name == "FOXK1" and 0 <= s.score <= 1 if isinstance(s.score, float) else True for s in sites)
    known = [k for k in read_bed(resource("example_sites")) if k.name == "FOXK1"]
    assert any(s.chrom == k.chrom and s.start < k.end and k.start < s.end for s in sites for k in known)
    lines = (tmp_path / "sites.tracks.tsv").read_text().splitlines()
    assert lines[0] == "seq_id\tposition\tFOXK1" and len(lines) == 1 + 2226
    # snr predict is an alias of scan: the same call through `tfscope scan` writes the same files
    assert main(["scan", str(resource("example_regions")), "--checkpoint", str(trained), "--out",
                 str(tmp_path / "again.bed"), "--tracks", "tsv", "--quiet", "--no-parse-genomic-coord"]) == 0
    assert (tmp_path / "again.bed").read_text() == out.read_text()
    assert (tmp_path / "again.tracks.tsv").read_text() == (tmp_path / "sites.tracks.tsv").read_text()
    # --threshold: one cut for every model; a higher cut calls fewer nucleotides
    assert main(["scan", str(resource("example_regions")), "--checkpoint", str(trained), "--out",
                 str(tmp_path / "strict.bed"), "--threshold", "0.999", "--quiet"]) == 0
    covered = lambda path: sum(int(e) - int(b) for _, b, e, *_ in  # noqa: E731
                               (ln.split("\t") for ln in path.read_text().splitlines()))
    assert covered(tmp_path / "strict.bed") < covered(out)


def test_pwm_model_train(tmp_path, capsys):
    import json

    from tfscope.checkpoint import read_config
    from tfscope.io.jaspar import jaspar_matrix, motif_pfm
    from tfscope.io.motifs import write_jaspar

    # default: of KLF4's four JASPAR 2022 matrices (MA0039.1-4), the one whose scan fits the training sites best
    assert main(["snr", "train", "--tf", "KLF4", "--model", "pwm", "--out", str(tmp_path / "p"),
                 "--json", str(tmp_path / "p.json")]) == 0
    said = capsys.readouterr().err  # progress and choices go to standard error, as the progress bars do
    meta = read_config(tmp_path / "p")["meta"]
    cands = meta["pwm_candidates"]
    assert [c["matrix_id"] for c in cands] == ["MA0039.1", "MA0039.2", "MA0039.3", "MA0039.4"]
    best = max(cands, key=lambda c: c["train_nt_auprc"])
    assert meta["jaspar_id"] == best["matrix_id"] and f"JASPAR matrix {best['matrix_id']} KLF4" in said
    assert json.loads((tmp_path / "p.json").read_text())["matrix"]["jaspar_id"] == best["matrix_id"]
    # --matrix ID: that matrix, however it fits
    assert main(["snr", "train", "--tf", "KLF4", "--model", "pwm", "--matrix", "MA0039.1", "--out",
                 str(tmp_path / "q"), "--quiet"]) == 0
    q = read_config(tmp_path / "q")
    assert q["meta"]["jaspar_id"] == "MA0039.1" and q["meta"]["pwm_choice"] == "given" and q["hparams"]["width"] == 10
    # --matrix FILE: a motif file (here MA0039.3 written as JASPAR)
    write_jaspar(tmp_path / "m.jaspar", [("MA0039.3 KLF4", motif_pfm(jaspar_matrix("MA0039.3")))])
    assert main(["snr", "train", "--tf", "KLF4", "--model", "pwm", "--matrix", str(tmp_path / "m.jaspar"), "--out",
                 str(tmp_path / "r"), "--quiet"]) == 0
    r = read_config(tmp_path / "r")["meta"]
    assert r["jaspar_id"] == "MA0039.3" and r["jaspar_release"] == str(tmp_path / "m.jaspar")
    assert "MA9999.1" in _err(capsys, ["snr", "train", "--tf", "KLF4", "--model", "pwm", "--matrix", "MA9999.1"])
    assert "nor a motif file" in _err(capsys, ["snr", "train", "--tf", "KLF4", "--model", "pwm", "--matrix", "x.txt"])
    assert "only used by --model pwm" in _err(capsys, ["snr", "train", "--tf", "KLF4", "--matrix", "MA0039.1"])


def _err(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("tfscope: error:") and len(err.splitlines()) == 1, err
    return err


def test_cli_bad_inputs(trained, tmp_path, capsys):
    assert "unknown TF 'NOPE'" in _err(capsys, ["snr", "train", "--tf", "NOPE"])
    bad = tmp_path / "bad.fa"
    bad.write_text(">x\nACGTQ\n")
    out = tmp_path / "o.bed"
    err = _err(capsys, ["snr", "predict", str(bad), "--checkpoint", str(trained), "--out", str(out)])
    assert f"{bad}:2" in err and not out.exists()
    empty = tmp_path / "empty.fa"
    empty.write_text("")
    assert "empty file" in _err(capsys, ["snr", "predict", str(empty), "--checkpoint", str(trained),
                                         "--out", str(out)])
    # a checkpoint of another model/task
    other = tmp_path / "other"
    shutil.copytree(trained, other)
    cfg = (other / "config.json").read_text().replace('"task": "snr"', '"task": "family"')
    (other / "config.json").write_text(cfg)
    assert "not 'snr'" in _err(capsys, ["snr", "predict", str(resource("example_regions")),
                                        "--checkpoint", str(other), "--out", str(out)])
    assert not out.exists() and not list(tmp_path.glob(".o.bed*"))
    tbl = tmp_path / "short.tsv"
    tbl.write_text("id\tsplit\tbound\tsite_start\tsite_end\tchrom\twindow_start\tstrand\tsequence\n"
                   "a\ttest\t1\t1\t5\tchr1\t0\t+\tACGTACGT\n")
    assert f"{tbl}:2: window has length 8, expected 100" in _err(capsys, ["snr", "train", "--table", str(tbl)])


def test_snr_motifs_recovers_jaspar(trained, tmp_path, capsys):
    import json

    assert main(["snr", "motifs", "--checkpoint", str(trained), "--tf", "FOXK1", "--out", str(tmp_path / "m")]) == 0
    res = json.loads((tmp_path / "m" / "motif.json").read_text())
    assert res["own_id"] == "MA0852.2" and res["own_rank"] <= 5 and res["own_q"] < 0.05
    assert (tmp_path / "m" / "logo.png").stat().st_size > 1000


def test_aligned_sites_window_scan():
    import numpy as np

    from tfscope.interpret.motifs import aligned_sites, pfm_from_sites
    from tfscope.sequence import one_hot

    x = one_hot(["AAAACGTAAA", "CGTAAAAAAA"])
    p = np.zeros((2, 10), np.float32)
    p[0, 4:7] = 0.9
    p[1, 0:3] = 0.8
    sites, starts = aligned_sites(x, p, 3)
    assert starts.tolist() == [4, 0] and pfm_from_sites(sites)[:, 0].tolist() == [0, 2, 0, 0]
