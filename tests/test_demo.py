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
    assert 'alt="track plot' in (out / "report.html").read_text()
