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
                 "--tracks", "tsv", "--quiet"]) == 0
    sites = read_bed(out)
    assert all(s.name == "FOXK1" and 0 <= s.score <= 1 if isinstance(s.score, float) else True for s in sites)
    known = [k for k in read_bed(resource("example_sites")) if k.name == "FOXK1"]
    assert any(s.chrom == k.chrom and s.start < k.end and k.start < s.end for s in sites for k in known)
    lines = (tmp_path / "sites.tracks.tsv").read_text().splitlines()
    assert lines[0] == "seq_id\tposition\tFOXK1" and len(lines) == 1 + 2003
    # snr predict is an alias of scan: the same call through `tfscope scan` writes the same files
    assert main(["scan", str(resource("example_regions")), "--checkpoint", str(trained), "--out",
                 str(tmp_path / "again.bed"), "--tracks", "tsv", "--quiet"]) == 0
    assert (tmp_path / "again.bed").read_text() == out.read_text()
    assert (tmp_path / "again.tracks.tsv").read_text() == (tmp_path / "sites.tracks.tsv").read_text()
    # --threshold: one cut for every model; a higher cut calls fewer nucleotides
    assert main(["scan", str(resource("example_regions")), "--checkpoint", str(trained), "--out",
                 str(tmp_path / "strict.bed"), "--threshold", "0.999", "--quiet"]) == 0
    covered = lambda path: sum(int(e) - int(b) for _, b, e, *_ in  # noqa: E731
                               (ln.split("\t") for ln in path.read_text().splitlines()))
    assert covered(tmp_path / "strict.bed") < covered(out)


def test_pwm_model_train(tmp_path):
    assert main(["snr", "train", "--tf", "KLF4", "--model", "pwm", "--out", str(tmp_path / "p"), "--quiet"]) == 0


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
