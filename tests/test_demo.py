"""The README's main job (command 1) end to end, with one TF and one epoch to stay fast."""

import json

from tfscope.cli import main


def test_demo_main_job(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--tfs", "FOXK1", "--epochs", "1", "--min-samples", "0"]) == 0
    text = capsys.readouterr().out
    assert "| FOXK1 | dilated |" in text and "| FOXK1 | pwm |" in text
    m = json.loads((out / "metrics.json").read_text())
    assert {r["model"] for r in m["rows"]} == {"pwm", "dilated"} and m["scan"]["zoo_models"] >= 4
    for f in ("predicted_sites.bed", "zoo_sites.bed", "report.html", "metrics.md", "checkpoints/FOXK1/config.json"):
        assert (out / f).exists(), f
    html = (out / "report.html").read_text()
    assert 'alt="track plot' in html and "igv.createBrowser" in html
    # the report shows the known sites and the freshly trained model's calls beside the zoo's, in hg19 coordinates
    assert '"name":"known sites"' in html and "demo-trained models (FOXK1)" in html
    assert "Known sites: found and missed" in html and "chr1:27816600-27816935" in html
    assert (out / "zoo_sites.bed").read_text().startswith("chr")
    assert all(not ln.split("\t")[0].count(":") for ln in (out / "zoo_sites.bed").read_text().splitlines())
    assert "zoo_recovered" in m["scan"] and "report_seconds" in m["scan"]
