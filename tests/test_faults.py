"""Fault suite: what tfscope promises on failure (docs/cli.md, "What tfscope promises on failure").

Each fault of issue 28 (F1-F10) runs through the command line in a subprocess, on a tiny checkpoint and small
inputs, and checks the exit code, the one-line message, and that no temporary file, worker process or partial output
remains. Variants of the same fault (several bad config values) run in-process through ``tfscope.cli.main``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tfscope.checkpoint import (FORMAT, WEIGHTS, file_sha256, load_checkpoint, read_config, save_checkpoint,
                                stamp_checksums)
from tfscope.errors import CheckpointError, InputError, OutputError

from cli_helpers import SRC, leftovers, random_fasta, run_tfscope  # noqa: E402

RESOURCES = SRC / "tfscope" / "resources"


def tfscope(*args, timeout=120, **kw):
    """Run ``python -m tfscope ARGS`` on the tree under test (:func:`cli_helpers.run_tfscope`)."""
    return run_tfscope(*args, timeout=timeout, **kw)


def one_error_line(res, code: int = 2) -> str:
    """The exit code is ``code`` and stderr is one ``tfscope: error:`` line (warnings aside); returns it."""
    lines = [ln for ln in res.stderr.splitlines() if not ln.startswith("tfscope: warning:")]
    assert res.returncode == code, res.stderr
    assert len(lines) == 1 and lines[0].startswith("tfscope: error: "), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


def _fasta(path: Path, records: dict[str, int], seed: int = 0) -> Path:
    return random_fasta(path, records, seed, width=80)


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """A tiny snr checkpoint (dilated CNN, 4 channels; calls at threshold 0.3), a tiny 3-output one, FASTAs."""
    import torch

    from tfscope.models.dilated import DilatedResNet

    d = tmp_path_factory.mktemp("kit")
    torch.manual_seed(0)
    hp = {"channels": 4, "n_blocks": 2}
    save_checkpoint(d / "tiny", DilatedResNet(**hp), model_name="dilated", task="snr", hparams=hp,
                    meta={"tf": "TINY", "threshold": 0.3, "window": 100})
    hp3 = {**hp, "n_outputs": 3}
    save_checkpoint(d / "multi", DilatedResNet(**hp3), model_name="dilated", task="snr", hparams=hp3,
                    meta={"tf": "3 TFs", "tfs": ["T1", "T2", "T3"], "window": 100,
                          "per_tf": {t: {"threshold": 0.3} for t in ("T1", "T2", "T3")}})
    return {"dir": d, "tiny": d / "tiny", "multi": d / "multi",
            "small": _fasta(d / "small.fa", {"recA": 3000}), "other": _fasta(d / "other.fa", {"recB": 2500}, 1),
            "long": _fasta(d / "long.fa", {"r1": 6_000_000}, 2)}  # long enough to interrupt on a busy machine


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit_config(ckpt: Path, edit) -> Path:
    cfg = json.loads((ckpt / "config.json").read_text())
    edit(cfg)  # mutates cfg (its return value is ignored)
    (ckpt / "config.json").write_text(json.dumps(cfg))
    return ckpt


def _flip_tensor_byte(weights: Path) -> None:
    """Flip one byte inside the tensor data (after the safetensors JSON header), leaving the file well-formed."""
    raw = bytearray(weights.read_bytes())
    header = 8 + int.from_bytes(raw[:8], "little")
    i = header + (len(raw) - header) // 2
    raw[i] ^= 0x5A
    weights.write_bytes(bytes(raw))


# ---------------------------------------------------------------- F1: checkpoint integrity


SCAN_COPY = """
import sys
from pathlib import Path
import tfscope.resources as r
r.resources_dir = lambda: Path(sys.argv[1])
from tfscope.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("zoo, victim", [("genomic", "zoo/genomic"), ("shuffled", "zoo/shuffled/KLF4")])
def test_f1_scan_example_with_a_flipped_byte_in_a_bundled_zoo(tmp_path, zoo, victim):
    """``tfscope scan --example`` over a copy of the bundled resources with one byte of one zoo checkpoint flipped
    (the genomic zoo is stamped first if it is not yet)."""
    res_copy = tmp_path / "resources"
    shutil.copytree(RESOURCES / "zoo" / zoo, res_copy / "zoo" / zoo)
    shutil.copy(RESOURCES / "example_regions.fa", res_copy / "example_regions.fa")
    if "weights_sha256" not in json.loads((res_copy / victim / "config.json").read_text()):
        stamp_checksums(res_copy / victim)
    _flip_tensor_byte(res_copy / victim / WEIGHTS)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(SRC), "TQDM_DISABLE": "1"}
    res = subprocess.run([sys.executable, "-c", SCAN_COPY, str(res_copy), "scan", "--example", "--zoo", zoo, "--out",
                          str(out / "calls.bed"), "--tracks", "bedgraph", "--quiet"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert one_error_line(res) == (f"tfscope: error: {res_copy / victim / WEIGHTS}: checksum mismatch, the file is "
                                   "corrupt or was changed")
    assert not out.exists()


@pytest.mark.parametrize("ckpt", sorted(str(p.parent.relative_to(RESOURCES)) for p in RESOURCES.rglob(WEIGHTS)
                                        if json.loads((p.parent / "config.json").read_text()).get("format")
                                        == FORMAT))
def test_f1_every_bundled_checkpoint_carries_and_checks_its_checksum(ckpt, tmp_path):
    src = RESOURCES / ckpt
    cfg = json.loads((src / "config.json").read_text())
    # a checkpoint without checksums is refused by default (issue 40), so every bundled one must carry them
    assert "weights_sha256" in cfg, f"{ckpt}: no weights_sha256; run scripts/stamp_checksums.py"
    assert cfg["weights_sha256"][WEIGHTS] == file_sha256(src / WEIGHTS)
    bad = _copy(src, tmp_path / "bad")
    _flip_tensor_byte(bad / WEIGHTS)
    with pytest.raises(CheckpointError, match="checksum mismatch, the file is corrupt or was changed"):
        read_config(bad)


def test_f1_nan_weights_refused_even_with_a_matching_checksum(kit, tmp_path):
    from safetensors.torch import load_file, save_file

    bad = _copy(kit["tiny"], tmp_path / "nan")
    state = load_file(str(bad / WEIGHTS))
    save_file({k: v.float().fill_(float("nan")) if v.is_floating_point() else v for k, v in state.items()},
              str(bad / WEIGHTS))
    stamp = bad / "config.json"
    stamp.write_text(stamp.read_text().replace(json.loads(stamp.read_text())["weights_sha256"][WEIGHTS],
                                               file_sha256(bad / WEIGHTS)))
    res = tfscope("scan", kit["small"], "--checkpoint", bad, "--out", tmp_path / "o.bed", "--quiet")
    assert "non-finite value(s) (NaN/inf)" in one_error_line(res)
    assert not (tmp_path / "o.bed").exists()
    with pytest.raises(CheckpointError, match="non-finite"):
        stamp_checksums(bad)  # and the stamp refuses to vouch for them


def test_f1_old_checkpoint_without_checksum_is_refused_or_loads_with_one_warning_line(kit, tmp_path):
    """Refused by default (issue 40: a checkpoint is untrusted input); ``--allow-unverified`` loads it with one
    warning line; stamping it is the user's deliberate decision to trust it."""
    old = _edit_config(_copy(kit["tiny"], tmp_path / "old"), lambda c: c.pop("weights_sha256"))
    res = tfscope("scan", kit["small"], "--checkpoint", old, "--out", tmp_path / "o.bed", "--quiet")
    assert "no weights checksum recorded (weights_sha256), refusing unverified weights" in one_error_line(res)
    assert not (tmp_path / "o.bed").exists()
    res = tfscope("scan", kit["small"], "--checkpoint", old, "--out", tmp_path / "o.bed", "--quiet",
                  "--allow-unverified")
    assert res.returncode == 0, res.stderr
    warn = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert warn == [f"tfscope: warning: {old}: no weights checksum recorded; loaded unverified (--allow-unverified)"]
    assert (tmp_path / "o.bed").exists()
    assert stamp_checksums(old)[WEIGHTS] == file_sha256(old / WEIGHTS)
    assert load_checkpoint(old, task="snr")[1]["weights_sha256"]  # stamped: loads verified, no warning


# ---------------------------------------------------------------- F2-F4: one schema for config.json


def test_f2_config_not_an_object_through_the_cli(kit, tmp_path):
    bad = _copy(kit["tiny"], tmp_path / "c")
    (bad / "config.json").write_text("[]")
    res = tfscope("scan", kit["small"], "--checkpoint", bad, "--out", tmp_path / "o.bed", "--quiet")
    assert one_error_line(res) == f"tfscope: error: {bad / 'config.json'}: expected a JSON object, got list"
    assert not (tmp_path / "o.bed").exists()


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["hparams"].update(channels="sixteen"), "hparams.channels: input should be a valid integer, got "
                                                        "'sixteen'"),
    (lambda c: c["hparams"].update(chanels=16), "hparams.chanels: unknown key (known: channels, n_blocks, kernel, "
                                                "dropout, n_outputs)"),
    (lambda c: c["hparams"].update(channels=-1), "hparams.channels: input should be greater than or equal to 1, "
                                                 "got -1"),
    (lambda c: c["hparams"].update(dropout=1.5), "hparams.dropout: input should be less than 1, got 1.5"),
    (lambda c: c.update(hparams=[4, 2]), "hparams: input should be a valid dictionary, got [4, 2]"),
    (lambda c: c.update(meta="x"), "meta: input should be a valid dictionary, got 'x'"),
    (lambda c: c["meta"].update(threshold="high"), "meta.threshold: input should be a valid number, got 'high'"),
    (lambda c: c["meta"].update(threshold=5.0), "meta.threshold: input should be less than 1, got 5.0"),
    (lambda c: c["meta"].pop("threshold"), "meta.threshold: missing (the validation-tuned call threshold); give "
                                           "--threshold to scan with it anyway"),
    (lambda c: c["meta"].update(strands="both"), "meta.strands: input should be 'max' or 'mean', got 'both'"),
    (lambda c: c.update(weights_sha256={WEIGHTS: "abc"}), "weights_sha256.model.safetensors: string should match "
                                                           "pattern"),
])
def test_f2_f3_bad_config_is_one_line_naming_the_field(kit, tmp_path, capsys, edit, message):
    from tfscope.cli import main

    bad = _edit_config(_copy(kit["tiny"], tmp_path / "c"), edit)
    assert main(["scan", str(kit["small"]), "--checkpoint", str(bad), "--out", str(tmp_path / "o.bed"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"tfscope: error: {bad}"), err
    assert message in err[0], err[0]
    assert not (tmp_path / "o.bed").exists()


def test_f3_bad_threshold_through_the_cli_and_threshold_override(kit, tmp_path):
    bad = _edit_config(_copy(kit["tiny"], tmp_path / "c"), lambda c: c["meta"].update(threshold=5.0))
    res = tfscope("scan", kit["small"], "--checkpoint", bad, "--out", tmp_path / "o.bed", "--quiet")
    assert one_error_line(res).endswith("meta.threshold: input should be less than 1, got 5.0")
    missing = _edit_config(_copy(kit["tiny"], tmp_path / "m"), lambda c: c["meta"].pop("threshold"))
    from tfscope.scan.models import load_scan_models

    assert load_scan_models([missing], threshold=0.4)[0].threshold == 0.4  # an explicit cut still scans


def test_f4_name_list_must_match_the_outputs(kit, tmp_path, capsys):
    from tfscope.cli import main

    bad = _edit_config(_copy(kit["multi"], tmp_path / "c"), lambda c: c["meta"].update(tfs=["T1", "T3"]))
    res = tfscope("scan", kit["small"], "--checkpoint", bad, "--out", tmp_path / "o.bed", "--quiet")
    assert one_error_line(res) == (f"tfscope: error: {bad / 'config.json'}: meta.tfs: 2 names for 3 model outputs "
                                   "(names map to outputs by position)")
    dup = _edit_config(_copy(kit["multi"], tmp_path / "d"), lambda c: c["meta"].update(tfs=["T1", "T1", "T3"]))
    assert main(["scan", str(kit["small"]), "--checkpoint", str(dup), "--out", str(tmp_path / "o.bed")]) == 2
    assert "meta.tfs: repeated names T1" in capsys.readouterr().err
    assert not (tmp_path / "o.bed").exists()


# ---------------------------------------------------------------- F5: concurrent runs


def _bigwig_chroms(path: Path) -> list[str]:
    import pybigtools

    with pybigtools.open(str(path)) as bw:
        return sorted(bw.chroms())


def test_f5_concurrent_scans_of_the_same_outputs_stay_apart(kit, tmp_path):
    out = tmp_path / "out" / "calls.bed"
    env = {**os.environ, "PYTHONPATH": str(SRC), "TQDM_DISABLE": "1"}
    args = ["--checkpoint", str(kit["tiny"]), "--out", str(out), "--tracks", "bedgraph", "bigwig", "--bigbed",
            str(tmp_path / "out" / "calls.bb"), "--threshold", "0.05", "--quiet", "--workers", "1"]
    runs = [subprocess.Popen([sys.executable, "-m", "tfscope", "scan", str(kit[f]), *args], env=env,
                             stderr=subprocess.PIPE, text=True) for f in ("small", "other")]
    for p in runs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    bed = out.read_text().split("\n")
    chroms = {ln.split("\t")[0] for ln in bed if ln}
    assert chroms in ({"recA"}, {"recB"}), chroms  # one run's calls, not a mix
    (chrom,) = chroms
    graph = (tmp_path / "out" / "calls.bedgraph" / "TINY.bedGraph").read_text().splitlines()[1:]
    assert {ln.split("\t")[0] for ln in graph} == {chrom}
    assert _bigwig_chroms(tmp_path / "out" / "calls.bigwig" / "TINY.bw") == [chrom]
    assert _bigwig_chroms(tmp_path / "out" / "calls.bb") == [chrom]
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------- F6: signals


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _start_long_scan(kit, out: Path):
    env = {**os.environ, "PYTHONPATH": str(SRC), "TQDM_DISABLE": "1"}
    p = subprocess.Popen([sys.executable, "-m", "tfscope", "scan", str(kit["long"]), "--checkpoint", str(kit["tiny"]),
                          "--out", str(out), "--tracks", "bigwig", "--workers", "2", "--quiet"], env=env,
                         stderr=subprocess.PIPE, text=True,
                         # as from a shell: SIGINT at its default even if this test process ignores it (an ignored
                         # signal is inherited across exec, and Python then leaves it ignored)
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t0 = time.time()
    while time.time() - t0 < 60:  # until the workers run and the private track directory exists
        kids = [k for k in _children(p.pid) if _alive(k)]
        if len(kids) >= 2 and leftovers(out.parent):
            return p, kids
        assert p.poll() is None, p.stderr.read()
        time.sleep(0.05)
    p.kill()
    raise AssertionError("the scan did not start its workers")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_f6_sigterm_and_sigint_clean_up(kit, tmp_path, sig, code):
    out = tmp_path / "out" / "calls.bed"
    out.parent.mkdir()
    out.write_text("old\n")
    p, kids = _start_long_scan(kit, out)
    p.send_signal(sig)
    assert p.wait(timeout=30) == code
    assert p.stderr.read().strip().splitlines()[-1] == f"tfscope: interrupted ({signal.Signals(sig).name})"
    deadline = time.time() + 5
    while any(_alive(k) for k in kids) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(_alive(k) for k in kids)
    assert leftovers(tmp_path) == []
    assert out.read_text() == "old\n" and not (out.parent / "calls.bigwig").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc are Linux's")
def test_f6_sigkill_of_the_parent_kills_workers_and_next_run_sweeps(kit, tmp_path):
    out = tmp_path / "out" / "calls.bed"
    p, kids = _start_long_scan(kit, out)
    stale = leftovers(tmp_path)
    p.kill()
    p.wait(timeout=10)
    t0 = time.time()
    while any(_alive(k) for k in kids) and time.time() - t0 < 1.0:
        time.sleep(0.01)
    assert not any(_alive(k) for k in kids), "workers outlived their SIGKILLed parent by 1 s"
    assert stale and leftovers(tmp_path) == stale  # a killed run cannot clean up ...
    res = tfscope("scan", kit["small"], "--checkpoint", kit["tiny"], "--out", out, "--tracks", "bigwig", "--quiet")
    assert res.returncode == 0, res.stderr
    assert leftovers(tmp_path) == []  # ... the next run into the same directory does


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_f6_forked_child_dies_of_sigterm_instead_of_raising():
    """A pool worker terminated before its initializer ran still holds the CLI's SIGTERM handler: it must die of the
    signal, not raise into its copy of the parent's stack (where it would carry on running the caller's code)."""
    from tfscope.cli import _cli_signals

    with _cli_signals():
        pid = os.fork()
        if pid == 0:  # the child: whatever happens, never return into pytest
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
                os._exit(3)
            except BaseException:
                os._exit(4)
        _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM, status


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_f6_sigterm_releases_ray_actors(kit, tmp_path):
    """Ray installs its own SIGTERM handler and turns interrupts into plain KeyboardInterrupts: still exit 143,
    actors and the embedded Ray gone, no temporary files."""
    pytest.importorskip("ray")
    out = tmp_path / "out" / "calls.bed"
    env = {**os.environ, "PYTHONPATH": str(SRC), "TQDM_DISABLE": "1"}
    p = subprocess.Popen([sys.executable, "-m", "tfscope", "scan", str(kit["long"]), "--checkpoint", str(kit["tiny"]),
                          "--out", str(out), "--tracks", "bigwig", "--executor", "ray", "--workers", "2", "--quiet"],
                         env=env, stderr=subprocess.PIPE, text=True)

    def ray_procs():  # this run's Ray processes: descendants of p
        procs, frontier = [], [p.pid]
        while frontier:
            kids = [k for k in _children(frontier.pop()) if _alive(k)]
            procs += kids
            frontier += kids
        return procs

    t0 = time.time()
    while not (leftovers(out.parent) if out.parent.exists() else []) or len(ray_procs()) < 3:
        assert p.poll() is None and time.time() - t0 < 90, p.stderr.read() if p.poll() is not None else "no start"
        time.sleep(0.1)
    procs = ray_procs()
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=60) == 143
    assert p.stderr.read().strip().splitlines()[-1] == "tfscope: interrupted (SIGTERM)"
    deadline = time.time() + 10
    while any(_alive(k) for k in procs) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(k) for k in procs)
    assert leftovers(tmp_path) == []


def test_stale_temps_of_dead_runs_only_are_swept(tmp_path):
    from tfscope.io.atomic import remove_stale_temps, temp_prefix

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = tmp_path / (temp_prefix(tmp_path / "calls.bed") + "abcdefgh.tmp")
    theirs = tmp_path / mine.name.replace(f"-{os.getpid()}-", f"-{dead.pid}-")
    other_host = tmp_path / re.sub(r"\.tfscope-[^-]+-", ".tfscope-otherhost-", theirs.name)
    stale_dir = tmp_path / (theirs.name[:-4] + "_d")
    for f in (mine, theirs, other_host):
        f.write_text("x")
    stale_dir.mkdir()
    (stale_dir / "TF.bedGraph").write_text("x")
    assert sorted(remove_stale_temps(tmp_path, force=True)) == sorted([theirs, stale_dir])
    assert mine.exists() and other_host.exists()


def test_outputs_appear_together_or_not_at_all(tmp_path):
    from tfscope.io.atomic import Outputs

    (tmp_path / "a.txt").write_text("old a")
    with pytest.raises(RuntimeError):
        with Outputs() as outs:
            with outs.open(tmp_path / "a.txt") as fh:
                fh.write("new a")
            assert outs.staged(tmp_path / "a.txt").read_text() == "new a"  # readable before the commit
            assert (tmp_path / "a.txt").read_text() == "old a"
            raise RuntimeError("a later step fails")
    assert sorted(os.listdir(tmp_path)) == ["a.txt"] and (tmp_path / "a.txt").read_text() == "old a"
    with Outputs() as outs:
        for name in ("a.txt", "b.txt"):
            with outs.open(tmp_path / name) as fh:
                fh.write("new " + name)
        d = outs.tempdir(tmp_path / "c")
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.txt"] and not d.exists()
    assert (tmp_path / "b.txt").read_text() == "new b.txt"


# ---------------------------------------------------------------- F7: output errors


def _unshare_ok() -> bool:
    if not shutil.which("unshare") or not sys.platform.startswith("linux"):
        return False
    r = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                        "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs $d && umount $d && rmdir $d"],
                       capture_output=True)
    return r.returncode == 0


UNSHARE = _unshare_ok()


def _in_tmpfs(script: str, tmp_path: Path, *, size: str = "256k"):
    """Run ``script`` (sh) with ``$D`` a fresh tmpfs of ``size`` (a private mount namespace); returns
    CompletedProcess."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "TQDM_DISABLE": "1", "PY": sys.executable}
    d = tmp_path / "mnt"
    d.mkdir()
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                           f"mount -t tmpfs -o size={size} tmpfs $D && {script}"], capture_output=True, text=True,
                          env={**env, "D": str(d)}, timeout=120)


@pytest.mark.skipif(not UNSHARE, reason="needs unshare (user + mount namespaces) for a read-only tmpfs")
def test_f7_read_only_file_system(kit, tmp_path):
    res = _in_tmpfs(f'echo old > $D/calls.bed && mount -o remount,ro $D && '
                    f'$PY -m tfscope scan {kit["small"]} --checkpoint {kit["tiny"]} --out $D/calls.bed --quiet; '
                    f'echo "rc=$?"; cat $D/calls.bed; ls -A $D', tmp_path)
    d = tmp_path / "mnt"
    assert f"tfscope: error: {d}/calls.bed: cannot write (Read-only file system); existing output, if any, is " \
           "kept" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert res.stdout.split() == ["rc=2", "old", "calls.bed"]


@pytest.mark.skipif(not UNSHARE, reason="needs unshare (user + mount namespaces) for a full tmpfs")
def test_f7_full_disk_keeps_the_old_output(kit, tmp_path):
    res = _in_tmpfs(f'echo old > $D/calls.bed && (dd if=/dev/zero of=$D/fill bs=4k 2>/dev/null; true) && '
                    f'$PY -m tfscope scan {kit["small"]} --checkpoint {kit["tiny"]} --out $D/calls.bed '
                    f'--threshold 0.05 --quiet; echo "rc=$?"; cat $D/calls.bed; ls -A $D', tmp_path)
    d = tmp_path / "mnt"
    assert f"tfscope: error: {d}/calls.bed: cannot write (No space left on device); existing output, if any, is " \
           "kept" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert res.stdout.split() == ["rc=2", "old", "calls.bed", "fill"]


def test_f7_file_size_limit_without_namespaces(kit, tmp_path):
    """The same promise where no tmpfs can be mounted: RLIMIT_FSIZE makes writes fail with EFBIG."""
    import resource

    out = tmp_path / "calls.bed"
    out.write_text("old\n")
    res = tfscope("scan", kit["small"], "--checkpoint", kit["tiny"], "--out", out, "--threshold", "0.05", "--quiet",
                  "--workers", "1", preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (8, 8)))
    assert one_error_line(res) == (f"tfscope: error: {out}: cannot write (File too large); existing output, if any, "
                                   "is kept")
    assert out.read_text() == "old\n" and leftovers(tmp_path) == []


def test_f7_permission_denied(kit, tmp_path):
    import tempfile

    base = tmp_path
    prefix = ()
    if os.geteuid() == 0:  # root writes anywhere: run the CLI as user nobody, on world-readable copies
        setpriv = shutil.which("setpriv")
        probe = setpriv and subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                                            sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                                            "import tfscope", str(SRC)], capture_output=True)
        if not probe or probe.returncode:
            pytest.skip("running as root and user nobody cannot import the tree: no real EACCES here")
        base = Path(tempfile.mkdtemp(prefix="tfscope-faults-"))
        base.chmod(0o755)
        prefix = (setpriv, "--reuid=65534", "--regid=65534", "--clear-groups")
    try:
        ckpt, fa = _copy(kit["tiny"], base / "tiny"), shutil.copy(kit["small"], base / "small.fa")
        for p in (ckpt, *ckpt.iterdir(), Path(fa)):
            p.chmod(0o755 if p.is_dir() else 0o644)
        ro = base / "ro"
        ro.mkdir()
        (ro / "calls.bed").write_text("old\n")
        ro.chmod(0o555)
        res = tfscope("scan", fa, "--checkpoint", ckpt, "--out", ro / "calls.bed", "--quiet", prefix=prefix,
                      cwd=base)
        assert one_error_line(res) == (f"tfscope: error: {ro / 'calls.bed'}: cannot write (Permission denied); "
                                       "existing output, if any, is kept")
        assert (ro / "calls.bed").read_text() == "old\n" and sorted(os.listdir(ro)) == ["calls.bed"]
    finally:
        (base / "ro").chmod(0o755)
        if base != tmp_path:
            shutil.rmtree(base)


def test_f7_parent_that_is_a_file_and_missing_parents(kit, tmp_path):
    (tmp_path / "afile").write_text("x")
    res = tfscope("scan", kit["small"], "--checkpoint", kit["tiny"], "--out", tmp_path / "afile" / "calls.bed",
                  "--quiet")
    assert tmp_path.name in one_error_line(res) and "afile" in res.stderr
    assert (tmp_path / "afile").read_text() == "x"
    from tfscope.io.atomic import atomic_write

    with atomic_write(tmp_path / "new" / "dir" / "c.bed") as fh:  # missing parents are created
        fh.write("ok\n")
    assert (tmp_path / "new" / "dir" / "c.bed").read_text() == "ok\n"


def test_f7_output_error_in_process_names_the_path(tmp_path):
    from tfscope.io.atomic import atomic_write

    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match=r"f/out\.txt: cannot write"):
        with atomic_write(tmp_path / "f" / "out.txt") as fh:
            fh.write("y")


# ---------------------------------------------------------------- F8-F10: input limits


def test_f8_motif_100000_columns_wide(tmp_path):
    rng = np.random.default_rng(0)
    m = rng.integers(1, 20, (4, 100_000))
    f = tmp_path / "wide.jaspar"
    f.write_text(">MA1 WIDE\n" + "".join(f"{b} [ " + " ".join(map(str, m[i])) + " ]\n" for i, b in enumerate("ACGT")))
    res = tfscope("tfclass", "predict", f)
    assert one_error_line(res) == (f"tfscope: error: {f}:2: motif 'MA1 WIDE' is 100,000 columns wide; tfscope "
                                   "reads motifs up to 1,000 columns (real motifs are 5-40)")


def test_f8_tomtom_width_bound():
    from tfscope.tfclass.knn import MAX_TOMTOM_WIDTH, tomtom_similarity

    q = np.full((4, MAX_TOMTOM_WIDTH + 1), 0.25)
    with pytest.raises(InputError, match=r"101 columns wide; Tomtom comparison needs about 3 GB"):
        tomtom_similarity([q], [np.full((4, 8), 0.25)])


def test_f9_protein_predict_refuses_dna(tmp_path):
    f = tmp_path / "dna.fa"
    rng = np.random.default_rng(0)
    f.write_text(">seq1\n" + "".join(rng.choice(list("ACGT"), 300)) + "\n")
    out = tmp_path / "calls.tsv"
    res = tfscope("protein", "predict", f, "--out", out)
    assert one_error_line(res) == (f"tfscope: error: {f}:1: record 'seq1' looks like DNA, not protein (100% "
                                   "A/C/G/T/U/N); give protein sequences (or force it: --force-protein)")
    assert not out.exists()
    from tfscope.io.fasta import read_fasta  # what --force-protein passes on

    assert len(read_fasta(f, alphabet="protein", allow_dna_like=True)["seq1"]) == 300


def test_f9_protein_length_and_line_bounds(tmp_path):
    from tfscope.io.inputs import read_lines
    from tfscope.io.fasta import MAX_PROTEIN_LENGTH, read_fasta

    f = tmp_path / "long.fa"
    f.write_text(">titan\n" + ("MKLV" * 100 + "\n") * (MAX_PROTEIN_LENGTH // 400 + 1))
    with pytest.raises(InputError, match="longer than 100,000 residues"):
        read_fasta(f, alphabet="protein")
    g = tmp_path / "oneline.txt"
    g.write_text("x" * 5000)
    with pytest.raises(InputError, match=r"oneline\.txt:1: line longer than 1,000 characters"):
        list(read_lines(g, max_chars=1000))


def test_f10_directory_as_input(kit, tmp_path):
    d = tmp_path / "adir"
    d.mkdir()
    res = tfscope("scan", d, "--checkpoint", kit["tiny"], "--out", tmp_path / "o.bed", "--quiet")
    assert one_error_line(res) == f"tfscope: error: {d}: is a directory, not a file"
    assert not (tmp_path / "o.bed").exists()
