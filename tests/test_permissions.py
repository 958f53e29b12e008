"""Outputs respect the umask (issue 29): colleagues on a shared server can read checkpoints and tracks."""

import os
import stat

import pytest

from tfscope.checkpoint import load_checkpoint, save_checkpoint
from tfscope.io.atomic import atomic_write, respect_umask


def _mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.fixture(params=[0o022, 0o027])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _pwm():
    from tfscope.models import build_model

    return build_model("pwm", width=4)


def test_checkpoint_files_and_directory_follow_umask(tmp_path, umask):
    ck = save_checkpoint(tmp_path / "ck", _pwm(), model_name="pwm", task="snr", hparams={"width": 4})
    assert _mode(ck) == 0o777 & ~umask  # mkdtemp would leave 0700
    for f in ("model.safetensors", "config.json"):
        assert _mode(ck / f) == 0o666 & ~umask, f  # safetensors would leave 0600
    save_checkpoint(ck, _pwm(), model_name="pwm", task="snr", hparams={"width": 4})  # overwrite keeps it
    assert _mode(ck) == 0o777 & ~umask and _mode(ck / "model.safetensors") == 0o666 & ~umask
    net, cfg = load_checkpoint(ck, task="snr")  # and it still loads
    assert cfg["model"] == "pwm" and net.log_odds.shape == (4, 4)


def test_atomic_write_and_browser_tracks_follow_umask(tmp_path, umask):
    from tfscope.io.tracks import TrackRuns, bed_to_bigbed, runs_to_bigwig

    with atomic_write(tmp_path / "a.txt") as fh:
        fh.write("x\n")
    runs = TrackRuns(tmp_path / "t.runs")
    runs.add("chr1", [0, 10], [10, 20], [0.5, 0.25])
    (tmp_path / "c.bed").write_text("chr1\t2\t13\tFOXK2\t282\t+\t0.4265\t7\t0.2820\t0.3013\t0.00537\t0.00575\t"
                                    "FOXK1/FOXK2\tFOXK2:0.282\tATGTAAATAAA\n")  # a BED6+9 call line
    bw = runs_to_bigwig(runs.close(), tmp_path / "t.bw", {"chr1": 100})
    bb = bed_to_bigbed(tmp_path / "c.bed", tmp_path / "c.bb", {"chr1": 100})
    for p in (tmp_path / "a.txt", bw, bb):
        assert _mode(p) == 0o666 & ~umask, p


def test_respect_umask_walks_a_tree(tmp_path, umask):
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "w").write_text("")
    os.chmod(d / "sub" / "w", 0o600)
    os.chmod(d / "sub", 0o700)
    respect_umask(d)
    assert _mode(d / "sub") == 0o777 & ~umask and _mode(d / "sub" / "w") == 0o666 & ~umask
