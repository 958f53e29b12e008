"""Security suite (issue 40): a checkpoint from someone else cannot write outside ``--out``, run script in a report,
or load unverified; outputs never clobber inputs or each other (docs/cli.md, "Trust").

Hostile checkpoints are copies of a small real checkpoint (a per-TF model of the bundled shuffled zoo) with an edited
``config.json``; each fault N1-N12 of the issue runs through the command line in a subprocess (variants of one fault
in-process through ``tfscope.cli.main``) and checks the exit code, the one-line message, that nothing was written
outside ``--out`` and that earlier files are byte-identical.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tfscope.checkpoint import WEIGHTS, file_sha256, load_checkpoint, model_class, stamp_checksums
from tfscope.errors import CheckpointError, OutputError

from cli_helpers import SRC, leftovers, random_fasta, run_tfscope  # noqa: E402

SHUFFLED = SRC / "tfscope" / "resources" / "zoo" / "shuffled"
HOSTILE = "K<img src=x onerror=alert(4)>"


def tfscope(*args, timeout=180, **kw):
    """Run ``python -m tfscope ARGS`` on the tree under test (:func:`cli_helpers.run_tfscope`)."""
    return run_tfscope(*args, timeout=timeout, **kw)


def one_error_line(res, code: int = 2) -> str:
    """The exit code is ``code`` and stderr is one ``tfscope: error:`` line and nothing else; returns it."""
    lines = res.stderr.splitlines()
    assert res.returncode == code, res.stderr
    assert len(lines) == 1 and lines[0].startswith("tfscope: error: "), res.stderr
    return lines[0]


def snapshot(d: Path) -> dict:
    """``{relative path: bytes}`` of every file under ``d``."""
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _fasta(path: Path, records: dict[str, int], seed: int = 0) -> Path:
    return random_fasta(path, records, seed, width=60)


def hostile(tmp_path: Path, edit, *, tf: str = "KLF4", name: str = "evil") -> Path:
    """A copy of the bundled shuffled-zoo checkpoint of ``tf`` whose parsed config.json ``edit`` changed."""
    ckpt = tmp_path / name
    shutil.copytree(SHUFFLED / tf, ckpt)
    cfg = json.loads((ckpt / "config.json").read_text())
    edit(cfg)
    (ckpt / "config.json").write_text(json.dumps(cfg))
    return ckpt


def _flip_tensor_byte(weights: Path) -> None:
    raw = bytearray(weights.read_bytes())
    header = 8 + int.from_bytes(raw[:8], "little")
    raw[header + (len(raw) - header) // 2] ^= 0x5A
    weights.write_bytes(bytes(raw))


@pytest.fixture(scope="module")
def fa(tmp_path_factory) -> Path:
    return _fasta(tmp_path_factory.mktemp("fa") / "small.fa", {"recA": 2000})


def _scan(fa, ckpts, out, *more, cwd=None):
    ckpts = ckpts if isinstance(ckpts, (list, tuple)) else [ckpts]
    return tfscope("scan", fa, "--checkpoint", *ckpts, "--out", out, "--workers", "1", "--quiet", *more, cwd=cwd)


NAME_PROBLEM = ("not a TF name (1-64 letters, digits or _ . : + - starting with a letter or digit; names become file "
                "names and page text)")


# ---------------------------------------------------------------- N1: names are data, never paths


@pytest.mark.parametrize("kind", ["relative", "absolute"])
def test_n1_path_traversal_tf_name_is_refused_and_writes_nothing_outside_out(tmp_path, fa, kind):
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    out = work / "out"
    rel = "../../../../elsewhere/victim"  # from out/calls.bigwig/ up to tmp_path/a
    elsewhere = Path(os.path.normpath(out / "calls.bigwig" / rel)).parent
    elsewhere.mkdir(parents=True)
    (elsewhere / "victim.bw").write_bytes(b"precious")
    tf = rel if kind == "relative" else str(elsewhere / "victim")
    ckpt = hostile(tmp_path, lambda c: c["meta"].update(tf=tf))
    res = _scan(fa, ckpt, out / "calls.bed", "--tracks", "bedgraph", "bigwig", cwd=work)
    assert one_error_line(res) == f"tfscope: error: {ckpt / 'config.json'}: meta.tf: {NAME_PROBLEM}, got {tf!r}"
    assert snapshot(elsewhere) == {"victim.bw": b"precious"}
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("edit, field", [
    (lambda c: c["meta"].update(labels=["../../x"]), "meta.labels.0"),
    (lambda c: c["meta"].update(tf="KLF4\n"), "meta.tf"),
    (lambda c: c["meta"].update(tf=".hidden"), "meta.tf"),
    (lambda c: c["meta"].update(tf=""), "meta.tf"),
    (lambda c: c["meta"].update(tf="x" * 65), "meta.tf"),
    (lambda c: c["meta"].update(group="KLF4/<b>"), "meta.group"),
    (lambda c: c["meta"].update(per_tf={"../x": {"threshold": 0.5}}), "meta.per_tf"),
])
def test_n1_every_name_field_is_checked(tmp_path, fa, capsys, edit, field):
    from tfscope.cli import main

    ckpt = hostile(tmp_path, edit)
    assert main(["scan", str(fa), "--checkpoint", str(ckpt), "--out", str(tmp_path / "o" / "c.bed"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"tfscope: error: {ckpt / 'config.json'}: {field}: not a "), err
    assert not (tmp_path / "o").exists()


def test_n1_multi_tf_names_are_checked(tmp_path, fa):
    """``meta.tfs`` (names of a multi-TF checkpoint) and ``meta.groups``; its ``meta.tf`` may be a summary."""
    import torch

    from tfscope.checkpoint import save_checkpoint
    from tfscope.models.dilated import DilatedResNet
    from tfscope.scan.models import load_scan_models

    torch.manual_seed(0)
    hp = {"channels": 4, "n_blocks": 2, "n_outputs": 2}
    good = save_checkpoint(tmp_path / "multi", DilatedResNet(**hp), model_name="dilated", task="snr", hparams=hp,
                           meta={"tf": "2 TFs", "tfs": ["T1", "T2"], "groups": {"T1": "T1/T2", "T2": "T1/T2"},
                                 "per_tf": {"T1": {"threshold": 0.3}, "T2": {"threshold": 0.3}}})
    assert [m.name for m in load_scan_models([good])] == ["T1", "T2"]
    for edit, field in [(lambda m: m["tfs"].__setitem__(0, "/etc/evil"), "meta.tfs.0"),
                        (lambda m: m["groups"].update(T1="<script>"), "meta.groups.T1"),
                        (lambda m: m.update(tf="<b>2 TFs</b>"), "meta.tf")]:
        bad = tmp_path / "bad"
        shutil.rmtree(bad, ignore_errors=True)
        shutil.copytree(good, bad)
        cfg = json.loads((bad / "config.json").read_text())
        edit(cfg["meta"])
        (bad / "config.json").write_text(json.dumps(cfg))
        with pytest.raises(CheckpointError, match=rf"config\.json: {re.escape(field)}: not a "):
            load_checkpoint(bad, task="snr")


def test_n1_names_that_bypass_the_schema_still_stay_in_their_folder(tmp_path):
    """Names from the Python API (a ScanModel named by hand) are checked where they become file names."""
    from tfscope.io.atomic import file_inside
    from tfscope.scan.stream import track_files

    d = tmp_path / "out" / "tracks"
    for bad in ("../../evil", str(tmp_path / "evil"), "a/b", ".hidden", "..", ""):
        with pytest.raises(OutputError, match="not a plain file name inside this directory"):
            file_inside(d, bad)
    assert file_inside(d, "KLF4.bedGraph") == d / "KLF4.bedGraph"
    with pytest.raises(OutputError):
        track_files({"bedgraph": d, "bigwig": d}, ["KLF4", "../../evil"])
    assert sorted(p.name for p in tmp_path.rglob("*")) == []  # nothing written, no folder left


def test_n1_names_tfscope_would_write_into_a_checkpoint_are_checked_before_training(tmp_path):
    """A checkpoint with such a name would be refused at load, so training refuses the name first."""
    from tfscope.errors import InputError
    from tfscope.multilabel import read_label_set
    from tfscope.snr.train import train_snr

    lab = tmp_path / "labels.txt"
    lab.write_text("CTCF\n../../evil\n")
    with pytest.raises(InputError, match=r"labels\.txt:2: TF name '\.\./\.\./evil' is not a valid name") as e:
        read_label_set(lab)
    assert e.value.line == 2
    with pytest.raises(InputError, match=r"TF name '<b>' is not a valid name .*; give --tf NAME"):
        train_snr(tmp_path / "missing.tsv.gz", tf="<b>")


# ---------------------------------------------------------------- N2: names never become markup


def test_n2_script_in_a_tf_name_is_refused_at_load(tmp_path, fa):
    ckpt = hostile(tmp_path, lambda c: c["meta"].update(tf=HOSTILE))
    res = _scan(fa, ckpt, tmp_path / "o.bed", "--report", tmp_path / "r.html")
    assert one_error_line(res) == f"tfscope: error: {ckpt / 'config.json'}: meta.tf: {NAME_PROBLEM}, got {HOSTILE!r}"
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "o.bed").exists()


def _hostile_report(path: Path) -> Path:
    """A report whose TF name, record id and known-site name are markup (names set through the Python API, which
    the checkpoint schema does not see)."""
    from tfscope.io.bed import BedRecord
    from tfscope.report.html import write_report
    from tfscope.scan.models import load_scan_models
    from tfscope.scan.engine import scan

    m = load_scan_models([SHUFFLED / "KLF4"], threshold=0.05)[0]
    m.name = HOSTILE
    rng = np.random.default_rng(3)
    sid = "rec<svg/onload=alert(5)>"
    seqs = {sid: "".join(rng.choice(list("ACGT"), 400))}
    sites, tracks = scan([m], seqs, keep_tracks=True, workers=1)
    assert sites, "the hostile name must reach igv as a feature name too"
    known = [BedRecord(sid, 10, 20, "<b onmouseover=alert(6)>known")]
    write_report(path, sequences=seqs, sites=sites, tracks=tracks, models=[m], known=known, n_attributions=0)
    return path


def test_n2_report_hands_igv_only_escaped_names(tmp_path):
    doc = _hostile_report(tmp_path / "r.html").read_text()
    payload = re.search(r"<script type='application/json' id='tfscope-data'>(.*?)</script>", doc, re.S).group(1)
    data = json.loads(payload)
    track_names = [t["name"] for t in data["tracks"]] + [a["name"] for a in data["annotations"]]
    feature_names = [r[3] for a in data["annotations"] for r in a["rows"]]
    assert html.escape(HOSTILE) in track_names and html.escape(HOSTILE) in feature_names
    assert not any(c in n for n in track_names + feature_names + data["chroms"] for c in "<>")
    assert HOSTILE not in doc and "<svg/onload" not in doc and "<b onmouseover" not in doc


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=20000"]
ALERT_PROBE = """<script>
(function () {
  var R = {alerts: [], igv: null};
  window.alert = function (m) { R.alerts.push(String(m)); };
  var tries = 0;
  function finish() { R.igv = document.body.getAttribute('data-igv');
    var pre = document.createElement('pre'); pre.id = 'alert-probe'; pre.textContent = JSON.stringify(R);
    document.body.appendChild(pre); }
  function wait() { if (document.body.getAttribute('data-igv') === 'ready' || ++tries > 150) setTimeout(finish, 1000);
                    else setTimeout(wait, 100); }
  window.addEventListener('load', wait);
})();
</script>"""


def _alerts(page: Path, tmp: Path) -> dict:
    """Open ``page`` in headless Chromium with ``window.alert`` hooked; returns ``{"alerts", "igv"}``."""
    probed = tmp / ("probed-" + page.name)
    probed.write_text(page.read_text().replace("<head>", "<head>" + ALERT_PROBE, 1))
    res = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp}/profile", "--dump-dom", probed.as_uri()],
                         capture_output=True, text=True, timeout=240)
    m = re.search(r'<pre id="alert-probe">(.*?)</pre>', res.stdout, re.S)
    assert m, res.stderr[-2000:]
    return json.loads(html.unescape(m.group(1)))


@pytest.mark.skipif(not CHROMIUM, reason="needs Debian chromium (apt-get install chromium)")
def test_n2_report_runs_no_script_in_headless_chromium(tmp_path, monkeypatch):
    # the probe sees an alert of markup that igv renders (the report's escaping switched off) ...
    import tfscope.report.html as report

    monkeypatch.setattr(report, "inert", str)
    monkeypatch.setattr(report, "_MARKUP", re.compile(r"(?!)"))
    raw = _alerts(_hostile_report(tmp_path / "raw.html"), tmp_path)
    assert raw["igv"] == "ready" and "4" in raw["alerts"], raw
    monkeypatch.undo()
    # ... and none in the report as tfscope writes it
    res = _alerts(_hostile_report(tmp_path / "r.html"), tmp_path)
    assert res == {"alerts": [], "igv": "ready"}, res


# ---------------------------------------------------------------- N9, N8: checkpoints verify or refuse


def test_n9_checksum_keys_outside_the_checkpoint_are_refused(tmp_path, fa):
    other = tmp_path / "KLF5"
    shutil.copytree(SHUFFLED / "KLF5", other)
    for key in ("../KLF5/model.safetensors", str(other / WEIGHTS)):
        evil = hostile(tmp_path, lambda c: c.update(weights_sha256={key: file_sha256(other / WEIGHTS)}))
        _flip_tensor_byte(evil / WEIGHTS)  # the listed file is intact, the weights that would load are not
        res = _scan(fa, evil, tmp_path / "o.bed")
        line = one_error_line(res)
        assert line.startswith(f"tfscope: error: {evil / 'config.json'}: weights_sha256: not a plain file name "
                               "inside the checkpoint directory, got "), line
        assert not (tmp_path / "o.bed").exists()
        shutil.rmtree(evil)


def test_n9_checksums_must_cover_every_weights_file(tmp_path, fa):
    evil = hostile(tmp_path, lambda c: c.update(weights_sha256={"notes.txt": "0" * 64}))
    (evil / "notes.txt").write_text("x")
    evil_cfg = json.loads((evil / "config.json").read_text())
    evil_cfg["weights_sha256"] = {"notes.txt": file_sha256(evil / "notes.txt")}
    (evil / "config.json").write_text(json.dumps(evil_cfg))
    _flip_tensor_byte(evil / WEIGHTS)
    res = _scan(fa, evil, tmp_path / "o.bed")
    assert one_error_line(res) == (f"tfscope: error: {evil / 'config.json'}: weights_sha256: no checksum of "
                                   f"{WEIGHTS} (every weights file must be covered)")
    extra = hostile(tmp_path, lambda c: None, name="extra")
    shutil.copy(extra / WEIGHTS, extra / "more.safetensors")
    with pytest.raises(CheckpointError, match="no checksum of more.safetensors"):
        load_checkpoint(extra, task="snr")
    assert not (tmp_path / "o.bed").exists()


def test_n9_a_checkpoint_without_checksums_is_refused_unless_allowed(tmp_path, fa):
    old = hostile(tmp_path, lambda c: c.pop("weights_sha256"), name="old")
    out = tmp_path / "o.bed"
    res = _scan(fa, old, out)
    assert one_error_line(res) == (f"tfscope: error: {old}: no weights checksum recorded (weights_sha256), refusing "
                                   "unverified weights; if you trust where this checkpoint came from, pass "
                                   f"--allow-unverified or stamp it: python scripts/stamp_checksums.py {old}")
    assert not out.exists()
    res = _scan(fa, old, out, "--allow-unverified")
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines() == [f"tfscope: warning: {old}: no weights checksum recorded; loaded unverified "
                                       "(--allow-unverified)"]
    assert out.exists()
    with pytest.raises(CheckpointError, match="no weights checksum recorded"):
        load_checkpoint(old, task="snr")  # the Python API refuses too ...
    from tfscope.checkpoint import allow_unverified

    with pytest.warns(UserWarning, match="loaded unverified"), allow_unverified():
        load_checkpoint(old, task="snr")  # ... unless told otherwise
    stamp_checksums(old)  # the user's deliberate "I trust it"
    assert load_checkpoint(old, task="snr")[1]["weights_sha256"][WEIGHTS] == file_sha256(old / WEIGHTS)


def test_n9_every_bundled_checkpoint_has_checksums():
    """Bundled checkpoints load by default only if they carry checksums (all of them must)."""
    configs = [p.parent / "config.json" for p in (SRC / "tfscope" / "resources").rglob(WEIGHTS)]
    cfgs = {p: json.loads(p.read_text()) for p in configs}
    missing = [str(p) for p, c in cfgs.items() if c.get("format") == "tfscope-checkpoint/1" and not c.get(
        "weights_sha256")]
    assert not missing, f"run scripts/stamp_checksums.py on {missing}"


@pytest.mark.parametrize("cls", ["tfscope.cli:os.system", "tfscope.checkpoint:os.system", "tfscope:cli.os.system",
                                 "tfscope.cli:os.system('echo pwned')"])
def test_n8_attribute_chain_classes_are_refused(tmp_path, fa, capsys, cls):
    from tfscope.cli import main

    evil = hostile(tmp_path, lambda c: c.update({"class": cls}))
    assert main(["scan", str(fa), "--checkpoint", str(evil), "--out", str(tmp_path / "o.bed"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"tfscope: error: {evil / 'config.json'}: class: not a model class path module:Class, got "
                   f"{cls!r}"], err
    assert not (tmp_path / "o.bed").exists()


def test_n8_only_registered_classes_are_imported(tmp_path, fa):
    from tfscope.models import import_class
    from tfscope.models.dilated import DilatedResNet

    assert "tfscope.__main__" not in sys.modules
    assert model_class({"model": "dilated", "class": "tfscope.__main__:main"}) is DilatedResNet  # by model name
    assert "tfscope.__main__" not in sys.modules  # never imported: importing it would run the command line again
    for path in ("tfscope.__main__:main", "tfscope.cli:main", "os:system"):
        with pytest.raises(ImportError, match="not a registered tfscope model class"):
            import_class(path)
    with pytest.raises(CheckpointError, match="unknown model"):
        model_class({"model": "nope", "class": "tfscope.cli:main"})
    assert import_class("tfscope.zoo.gated:GatedZoo").__name__ == "GatedZoo"  # the genomic zoo's class
    evil = hostile(tmp_path, lambda c: c.update({"class": "tfscope.__main__:main"}))
    res = _scan(fa, evil, tmp_path / "o.bed")
    assert res.returncode == 0 and res.stdout.count("scanned ") == 1, res.stdout + res.stderr


# ---------------------------------------------------------------- N4, N5, N7: outputs never clobber


def test_n4_output_equal_to_the_input_is_refused(tmp_path):
    fa = _fasta(tmp_path / "x.fa", {"recA": 1500})
    os.link(fa, tmp_path / "link.fa")
    before = snapshot(tmp_path)
    for out, more in [(fa, ()), (tmp_path / "link.fa", ()), (tmp_path / "c.bed", ("--report", fa)),
                      (tmp_path / "c.bed", ("--json", tmp_path / "link.fa"))]:
        res = _scan(fa, SHUFFLED / "KLF4", out, *more)
        line = one_error_line(res)
        assert line.endswith(f"is the input FASTA {fa} (the same file); writing it would destroy the input: choose "
                             "another output path"), line
        assert snapshot(tmp_path) == before
    res = _scan(fa, SHUFFLED / "KLF4", tmp_path / "c.bed", "--json", tmp_path / "c.bed")
    assert one_error_line(res) == (f"tfscope: error: {tmp_path / 'c.bed'}: --json and --out are the same file; give "
                                   "them different paths")
    res = _scan(fa, SHUFFLED / "KLF4", SHUFFLED / "KLF4" / "config.json")
    assert "is the input checkpoint file" in one_error_line(res)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("bad", ["--json", "--report"])
def test_n5_a_failed_json_or_report_leaves_the_previous_outputs_byte_identical(tmp_path, fa, bad):
    out = tmp_path / "out"
    res = _scan(fa, SHUFFLED / "KLF4", out / "calls.bed", "--tracks", "bedgraph", "--json", out / "run.json",
                *(["--report", out / "r.html", "--attributions", "0"] if bad == "--report" else []))
    assert res.returncode == 0, res.stderr
    before = snapshot(out)
    assert {"calls.bed", "calls.as", "run.json", "calls.bedgraph/KLF4.bedGraph"} <= set(before)
    (tmp_path / "afile").write_text("x")
    target = tmp_path / "afile" / "x"
    more = ["--json", target] if bad == "--json" else ["--json", out / "run.json", "--report", target]
    res = _scan(fa, SHUFFLED / "KLF5", out / "calls.bed", "--tracks", "bedgraph", *more)
    assert one_error_line(res) == f"tfscope: error: {target}: cannot write ({tmp_path / 'afile'} is a file, not a " \
                                  "directory)"
    assert snapshot(out) == before and leftovers(tmp_path) == []


def test_n7_a_rerun_with_fewer_tfs_leaves_only_its_own_tracks(tmp_path, fa):
    out = tmp_path / "calls.bed"
    res = _scan(fa, [SHUFFLED / "KLF4", SHUFFLED / "KLF5"], out, "--tracks", "bedgraph", "bigwig")
    assert res.returncode == 0, res.stderr
    assert sorted(os.listdir(tmp_path / "calls.bigwig")) == ["KLF4.bw", "KLF5.bw"]
    (tmp_path / "calls.bedgraph" / "README.txt").write_text("mine")  # not a track: not the run's to remove
    res = _scan(fa, SHUFFLED / "KLF5", out, "--tracks", "bedgraph", "bigwig")
    assert res.returncode == 0, res.stderr
    assert sorted(os.listdir(tmp_path / "calls.bedgraph")) == ["KLF5.bedGraph", "README.txt"]
    assert sorted(os.listdir(tmp_path / "calls.bigwig")) == ["KLF5.bw"]
    assert {ln.split("\t")[3] for ln in out.read_text().splitlines()} <= {"KLF5"}


# ---------------------------------------------------------------- N6: a full disk while writing tracks


def _unshare_ok() -> bool:
    if not shutil.which("unshare") or not sys.platform.startswith("linux"):
        return False
    r = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                        "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs $d && umount $d && rmdir $d"],
                       capture_output=True)
    return r.returncode == 0


TRACK_ERROR = re.compile(r"tfscope: error: (?P<path>\S+/calls\.bedgraph/\w+\.bedGraph): cannot write "
                         r"\((?P<why>[^)]+)\); existing output, if any, is kept")


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    return _fasta(tmp_path_factory.mktemp("big") / "big.fa", {"r1": 30_000}, 5)


@pytest.mark.skipif(not _unshare_ok(), reason="needs unshare (user + mount namespaces) for a full tmpfs")
@pytest.mark.parametrize("path", ["streamed", "in memory"])
def test_n6_full_disk_while_writing_tracks_is_one_line_and_leaves_nothing(tmp_path, big, path):
    d = tmp_path / "mnt"
    d.mkdir()
    tfs = " ".join(str(SHUFFLED / t) for t in ("AR", "CDX2", "KLF4", "MYC"))
    more = "--report $D/r.html --attributions 0" if path == "in memory" else ""
    env = {**os.environ, "PYTHONPATH": str(SRC), "TQDM_DISABLE": "1", "PY": sys.executable, "D": str(d)}
    res = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                          f"mount -t tmpfs -o size=160k tmpfs $D && echo old > $D/calls.bed && "
                          f"$PY -m tfscope scan {big} --checkpoint {tfs} --out $D/calls.bed --tracks bedgraph bigwig "
                          f"{more} --workers 1 --quiet; echo rc=$?; ls -A $D; cat $D/calls.bed"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert len(res.stderr.splitlines()) == 1, res.stderr  # no "Exception ignored ... Traceback" blocks
    m = TRACK_ERROR.fullmatch(res.stderr.strip())
    assert m and m["why"] == "No space left on device", res.stderr
    assert res.stdout.split() == ["rc=2", "calls.bed", "old"]  # no temp dir, no empty track folder


def test_n6_file_size_limit_while_writing_tracks(tmp_path, big):
    """The same promise where no tmpfs can be mounted: RLIMIT_FSIZE makes the track writes fail (EFBIG)."""
    import resource

    out = tmp_path / "calls.bed"
    out.write_text("old\n")
    res = tfscope("scan", big, "--checkpoint", *[SHUFFLED / t for t in ("AR", "CDX2", "KLF4", "MYC")], "--out", out,
                  "--tracks", "bedgraph", "bigwig", "--workers", "1", "--quiet",
                  preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000)))
    m = TRACK_ERROR.fullmatch(one_error_line(res))
    assert m and m["why"] == "File too large", res.stderr
    assert sorted(os.listdir(tmp_path)) == ["calls.bed"] and out.read_text() == "old\n"


# ---------------------------------------------------------------- N3: stale indexes


def test_n3_a_stale_or_disagreeing_fai_is_not_trusted(tmp_path):
    import pyfaidx

    fa = _fasta(tmp_path / "g.fa", {"chrZ": 5000})
    pyfaidx.Faidx(str(fa)).close()
    fai = Path(f"{fa}.fai")
    assert fai.exists()

    def run():
        res = _scan(fa, SHUFFLED / "KLF4", tmp_path / "o.bed", "--json", tmp_path / "o.json")
        assert res.returncode == 0, res.stderr
        return json.loads((tmp_path / "o.json").read_text())["bp"], res.stderr.splitlines()

    assert run() == (5000, [])  # a good index is used silently
    _fasta(fa, {"chrZ": 10_000}, seed=1)  # the FASTA grows after indexing
    t = os.stat(fa).st_mtime_ns
    os.utime(fai, ns=(t - 10**10, t - 10**10))
    assert run() == (10_000, [f"tfscope: warning: {fai}: index older than the FASTA; not used (the FASTA is read "
                              "without it; rebuild it with samtools faidx)"])
    os.utime(fai, ns=(t + 10**10, t + 10**10))  # a newer index that still describes 5,000 bp
    assert run() == (10_000, [f"tfscope: warning: {fai}: the FASTA holds more than the index describes (lengths "
                              "disagree); not used (the FASTA is read without it; rebuild it with samtools faidx)"])


def test_n3_index_whose_records_moved_is_detected(tmp_path):
    from tfscope.io.fasta import stale_index

    import pyfaidx

    fa = _fasta(tmp_path / "g.fa", {"a": 300, "b": 300})
    pyfaidx.Faidx(str(fa)).close()
    assert stale_index(fa) is None
    _fasta(fa, {"a": 360, "b": 240})  # same size, the second record starts elsewhere
    t = os.stat(fa).st_mtime_ns
    os.utime(f"{fa}.fai", ns=(t + 10**10, t + 10**10))
    assert stale_index(fa) == "record 'a' does not end where the next header begins (lengths disagree)"


# ---------------------------------------------------------------- N10-N12: the low items


def test_n10_one_column_motif_is_refused_quickly(tmp_path):
    f = tmp_path / "one.jaspar"
    f.write_text(">MA1 ONE\nA [ 10 ]\nC [ 0 ]\nG [ 0 ]\nT [ 0 ]\n")
    res = tfscope("tfclass", "predict", f, timeout=120)
    assert one_error_line(res) == (f"tfscope: error: {f}: motif 'MA1 ONE' is 1 column wide; tfclass predict "
                                   "classifies motifs at least 4 columns wide (the narrowest JASPAR 2024 CORE motifs)")


def test_n11_a_protein_of_only_x_gets_a_note(tmp_path):
    f = tmp_path / "p.fa"
    real = "MSDKPKRPLSAYMLWLNSARESIKRENPGIKVTEVAKRGGELWRAMKDKSEWEAKAAKAKDDYDRAVKEFEAN"
    f.write_text(">blank\n" + "X" * 120 + f"\n>real\n{real}\n")
    out = tmp_path / "p.tsv"
    res = tfscope("protein", "predict", f, "--out", out, "--device", "cpu")
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines() == [f"tfscope: warning: {f}: 1 protein of only X (unknown residues), scored "
                                       "without information: blank"]
    assert [ln.split("\t")[0] for ln in out.read_text().splitlines()] == ["id", "blank", "real"]


def test_n12_messages_name_the_parent_file_and_the_header_line(tmp_path, fa):
    (tmp_path / "afile").write_text("x")
    res = _scan(fa, SHUFFLED / "KLF4", tmp_path / "afile" / "calls.bed")
    assert one_error_line(res) == (f"tfscope: error: {tmp_path / 'afile' / 'calls.bed'}: cannot write "
                                   f"({tmp_path / 'afile'} is a file, not a directory)")
    g = tmp_path / "regions.fa"
    g.write_text(">chr1:1001-1060\n" + "ACGT" * 15 + "\n>chr2:100-200\n" + "ACGTA" * 10 + "\n")
    res = _scan(g, SHUFFLED / "KLF4", tmp_path / "g.bed", "--parse-genomic-coord")
    assert one_error_line(res).startswith(f"tfscope: error: {g}:3: record chr2:100-200 is 50 bp, but its header "
                                          "spans 101 bp"), res.stderr
    assert not (tmp_path / "g.bed").exists()
