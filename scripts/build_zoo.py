"""Build the bundled model zoos (``src/tfscope/resources/zoo``).

**The genomic zoo** (default of ``tfscope scan``) is one multi-TF model (:mod:`tfscope.zoo.multitask`):

``python scripts/build_zoo.py CKPTS --multitask --train ../shared/data/tfbs-snr
--windows ../shared/data/tfbs-multilabel/windows.tsv.gz --max-minutes 55``

trains it into ``CKPTS/multitask`` (skipped when that checkpoint is complete, i.e. calibrated), then installs it
into ``resources/zoo/genomic`` with each TF's JASPAR 2022 matrix id, class and family. ``--init CKPT --lam 0.3
--lr 3e-4 --seed 3`` continues an earlier run with the window term of the loss (how the shipped zoo's last two
phases were trained; see ``src/tfscope/resources/README.md``). ``--recalibrate [--strands mean]`` re-chooses the
chr7 call thresholds of a finished checkpoint for a strand rule (:func:`tfscope.scan.engine.combine_strands`).

Since 2026-11-24 the shipped genomic zoo gates that network (the detector) with the shuffled zoo's per-TF models
(:mod:`tfscope.zoo.gated`): ``python scripts/build_zoo.py CKPTS --gated --train ../shared/data/tfbs-snr --windows
../shared/data/tfbs-multilabel/windows.tsv.gz`` chooses the gate on chr7 and the tfbs-snr validation rows,
re-chooses the thresholds on chr7, writes ``CKPTS/gated`` and installs it (``CKPTS/multitask`` = the detector).

Since 2026-12-02 its localizers are retrained without the tfbs-snr rows of chr7, chr8 and chr9 and its calls are
calibrated per site on chr7 (site widths, paralog groups, site-F1 thresholds, per-call precision and p-values):

``python scripts/build_zoo.py CKPTS --train ../shared/data/tfbs-snr --channels 16 --exclude-chroms chr7 chr8 chr9
--no-install --workers 2`` (the localizers, ``CKPTS/dilated``), then ``--swap-localizers CKPTS/dilated --train
../shared/data/tfbs-snr`` (``CKPTS/gated-swapped``), then ``--calibrate-calls CKPTS/gated-swapped --windows
../shared/data/tfbs-multilabel/windows.tsv.gz --sites ../shared/data/tfbs-multilabel/sites.bed.gz --train
../shared/data/tfbs-snr`` (``CKPTS/calibrated``, installed).

**The fast zoo** (``--zoo fast``, issue 44): the genomic zoo distilled by ``scripts/distill_zoo.py`` (a detector
student and per-TF localizer students), packed with ``python scripts/build_zoo.py CKPTS --fast OUT/student.pt
--localizer-students OUT/locA.pt OUT/locB.pt --runtime int8`` (``CKPTS/fast``, declaring the int8 runtime it is then
calibrated and scanned under), then ``--calibrate-calls CKPTS/fast --zoo fast --windows ... --sites ... --train ...``
(installed; see ``docs/genome_scale.md``).

**Per-TF zoos** (the ``shuffled`` zoo of the BertSNR protocol):

With ``--train DATA_DIR`` it first trains the zoo model (the dilated residual CNN, ``--channels`` wide) for every
TF table of ``DATA_DIR`` on the BertSNR split through :func:`tfscope.snr.train_snr` (validation threshold and test
metrics are stored in each checkpoint; TFs whose checkpoint exists are skipped, so the run resumes). Checkpoints
from ``python benchmarks/snr.py --models dilated --save-checkpoints CKPTS`` work as well. It then copies
``CKPTS/<model>/<TF>`` into the package and adds the TF's JASPAR 2022 matrix id, class and family (pyjaspar).

With ``--negatives genomic --windows ../shared/data/tfbs-multilabel/windows.tsv.gz`` each TF also trains against
real genome windows (:class:`tfscope.zoo.genomic.GenomicBackground`: its sites + genomic negatives from the train
chromosomes, chr7 for validation and the window-level call threshold, chr7/chr8 never trained on); that is how the
first genomic zoo (per-TF models, replaced by the multi-TF one) was built. ``--zoo shuffled|genomic`` names the
package folder written.

The per-TF trainings fan out over an executor (:mod:`tfscope.executor`): ``--executor local --workers N`` forks N
processes (default 1: this process), ``--executor ray`` trains on Ray actors (embedded on this machine, or the cluster
at ``RAY_ADDRESS``), each TF a task with one torch thread; the genome background is shipped to the workers once.

Since 2026-12-05 (the hg38 coordinates of 14 TFs corrected in ``../shared``) the detector continues the shipped
one on the corrected windows: ``--unpack src/tfscope/resources/zoo/genomic`` writes ``CKPTS/multitask`` and
``CKPTS/dilated``; then a ``--multitask --init`` phase, ``--gated --localizers CKPTS/dilated`` and
``--calibrate-calls`` as above (commands in ``docs/genomic.md``).

Usage: ``python scripts/build_zoo.py CKPTS [--model dilated] [--train ../shared/data/tfbs-snr --channels 16]
[--negatives genomic --windows WINDOWS] [--tfs TF ...] [--executor local|ray --workers N] [--zoo genomic]
[--no-install]`` or with ``--multitask``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from tfscope.checkpoint import dump_config


def _train_one(state, job):
    """Executor task: train one TF's checkpoint (``state`` = the shared settings and genome background)."""
    from tfscope.snr.train import train_snr

    table, tf = job
    r = train_snr(table, model=state["model"], tf=tf, out=state["src"] / tf, hparams=state["hparams"],
                  patience=state["patience"], verbose=False, background=state["background"],
                  max_seconds=state["max_seconds"], exclude_chroms=state.get("exclude_chroms", ()))
    return tf, r["metrics"].get("nt_auprc", float("nan")), r["threshold"], r["train_seconds"]


def jaspar_record(tf: str) -> dict:
    """The TF's JASPAR 2022 matrix id, name, class and family (pyjaspar, offline)."""
    from tfscope.io.jaspar import jaspar_motif

    m = jaspar_motif(tf)
    return {"jaspar_id": m.matrix_id, "jaspar_name": m.name, "tf_class": "; ".join(m.tf_class),
            "tf_family": "; ".join(m.tf_family)}


def build_multitask(args) -> None:
    """Train (unless done) and install the multi-TF genomic zoo (see the module docstring)."""
    src = Path(args.checkpoints) / "multitask"
    done = (src / "config.json").exists() and json.loads((src / "config.json").read_text())["meta"].get("per_tf")
    if not done:
        if not (args.train and args.windows):
            raise SystemExit("--multitask needs --train DATA_DIR and --windows WINDOWS (or a finished CKPTS/multitask)")
        from tfscope.zoo.multitask import train_multitask

        r = train_multitask(args.windows, args.train, out=src, tfs=args.tfs, init=args.init, lam=args.lam, lr=args.lr,
                            seed=args.seed, pairs_per_tf=args.pairs_per_tf, strands=args.strands,
                            max_seconds=args.max_minutes * 60 if args.max_minutes else None, device=args.device)
        print(f"trained {len(r['tfs'])} TFs in {r['train_seconds']:.0f} s", flush=True)
    elif args.recalibrate:
        if not (args.train and args.windows):
            raise SystemExit("--recalibrate needs --train DATA_DIR and --windows WINDOWS")
        from tfscope.zoo.multitask import DEFAULTS, recalibrate

        recalibrate(src, args.windows, args.train, strands=args.strands or DEFAULTS["strands"])
        print(f"recalibrated {src} on chr7 (strands: {args.strands or DEFAULTS['strands']})", flush=True)
    if not args.no_install:
        install_multi(src, args.zoo or "genomic")


def build_gated(args) -> None:
    """Gate the finished ``CKPTS/multitask`` detector with the bundled shuffled zoo's per-TF localizers
    (:func:`tfscope.zoo.build.build_gated_zoo`: gate chosen on chr7 + tfbs-snr validation rows, thresholds on chr7)
    into ``CKPTS/gated`` (skipped when it exists), then install it as the genomic zoo."""
    from tfscope.resources import resource

    det, out = Path(args.checkpoints) / "multitask", Path(args.checkpoints) / "gated"
    if not (out / "config.json").exists():
        if not (args.train and args.windows):
            raise SystemExit("--gated needs --train DATA_DIR and --windows WINDOWS")
        from tfscope.zoo.build import build_gated_zoo

        r = build_gated_zoo(det, args.localizers or resource("zoo", "shuffled"), args.windows, args.train, out=out)
        print(f"gate {r['gate']}: chr7 window AUPRC {r['detector']['chr7_window_auprc']:.4f} (detector) -> "
              f"{sum(v['calibration']['window_auprc'] for v in r['per_tf'].values()) / len(r['per_tf']):.4f}",
              flush=True)
    if not args.no_install:
        install_multi(out, args.zoo or "genomic")


def swap(args) -> None:
    """The installed genomic zoo with the per-TF localizers of ``--swap-localizers DIR`` (detector and gate kept;
    tfbs-snr test metrics re-measured) into ``CKPTS/gated-swapped`` (:func:`tfscope.zoo.build.swap_localizers`)."""
    from tfscope.resources import resource
    from tfscope.zoo.build import swap_localizers

    if not args.train:
        raise SystemExit("--swap-localizers needs --train DATA_DIR (the tfbs-snr tables, for the test metrics)")
    out = Path(args.checkpoints) / "gated-swapped"
    swap_localizers(resource("zoo", "genomic"), args.swap_localizers, args.train, out=out)
    print(f"wrote {out}; calibrate its calls with --calibrate-calls {out}", flush=True)


def calibrate(args) -> None:
    """Calibrate the calls of a multi-TF zoo checkpoint on chr7 (:func:`tfscope.zoo.sites.calibrate_zoo`: paralog
    groups, site widths, site-F1 thresholds, per-call precision maps, p-value backgrounds) into
    ``CKPTS/calibrated``, then install it as the ``--zoo`` (default genomic)."""
    from tfscope.zoo.sites import calibrate_zoo

    if not (args.windows and args.sites and args.train):
        raise SystemExit("--calibrate-calls needs --windows WINDOWS --sites SITES --train DATA_DIR")
    out = Path(args.checkpoints) / "calibrated"
    res = calibrate_zoo(args.calibrate_calls, args.windows, args.sites, args.train, out=out, workers=args.workers)
    f1 = [r["site_calibration"]["f1"] for r in res.values()]
    print(f"chr7 mean site F1 {sum(f1) / len(f1):.4f} over {len(f1)} TFs", flush=True)
    if args.no_install:
        return
    install_multi(out, args.zoo or "genomic")
    if args.zoo == "fast":  # the fast zoo shares the genomic zoo's localizers, widths and groups; no variant null
        return
    stamp_shuffled(out)
    # the variant-effect null belongs to these weights (tfscope variants ignores it, with a warning, otherwise)
    import build_variant_null

    build_variant_null.main(["--zoo", args.zoo or "genomic", "--windows", str(args.windows)])


def stamp_shuffled(calibrated: Path) -> None:
    """Give each checkpoint of the bundled shuffled zoo its TF's site width and paralog group (from the calibrated
    genomic zoo), so that its calls have the TF's width and group too (no confidence: it has no genome calibration)."""
    from tfscope.resources import resource

    meta = json.loads((Path(calibrated) / "config.json").read_text())["meta"]
    for d in sorted(resource("zoo", "shuffled").iterdir()):
        p = d / "config.json"
        if not p.exists() or d.name not in meta["per_tf"]:
            continue
        cfg = json.loads(p.read_text())
        cfg["meta"]["site_width"] = meta["per_tf"][d.name]["site_width"]
        cfg["meta"]["group"] = meta["groups"][d.name]
        p.write_text(dump_config(cfg))


def install_multi(src: Path, kind: str) -> None:
    """Copy a multi-TF checkpoint into ``resources/zoo/<kind>`` with each TF's JASPAR record."""
    from tfscope.resources import resource

    cfg = json.loads((src / "config.json").read_text())
    for tf, rec in cfg["meta"]["per_tf"].items():
        rec.update(jaspar_record(tf))
    cfg["meta"].pop("history", None)
    dst = resource("zoo", kind)
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    shutil.copyfile(src / "model.safetensors", dst / "model.safetensors")
    (dst / "config.json").write_text(dump_config(cfg))
    size = sum(p.stat().st_size for p in dst.rglob("*") if p.is_file()) / 2**20
    print(f"zoo: one {len(cfg['meta']['tfs'])}-TF model, {size:.1f} MiB in {dst}")


def main():
    from tfscope.executor import EXECUTORS, make_executor

    from tfscope.zoo.gated import RUNTIMES

    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoints")
    ap.add_argument("--model", default="dilated")
    ap.add_argument("--train", metavar="DATA_DIR", help="train the missing checkpoints from these TF tables first")
    ap.add_argument("--channels", type=int, default=16, help="width of the zoo's dilated CNN (with --train)")
    ap.add_argument("--patience", type=int, help="early-stopping patience (with --train; default: tfscope.snr's)")
    ap.add_argument("--negatives", choices=["shuffled", "genomic"], default="shuffled",
                    help="with --train: shuffled negatives only (BertSNR protocol) or also genomic background")
    ap.add_argument("--windows", help="tfbs-multilabel windows table (with --negatives genomic)")
    ap.add_argument("--max-minutes", type=float, help="training budget per TF (with --train)")
    ap.add_argument("--tfs", nargs="+", help="train only these TFs (with --train)")
    ap.add_argument("--exclude-chroms", nargs="+", metavar="CHROM",
                    help="with --train: drop tfbs-snr train/validation rows on these chromosomes (the genomic zoo's "
                         "localizers: chr7 chr8 chr9)")
    ap.add_argument("--localizers", help="--gated: per-TF checkpoints to gate with (default: the bundled shuffled "
                    "zoo)")
    ap.add_argument("--zoo", choices=["genomic", "shuffled", "fast"], help="package zoo folder to write "
                    "(default: the --negatives kind)")
    ap.add_argument("--executor", choices=EXECUTORS, default="local",
                    help="where the per-TF trainings run (with --train): forked local processes or Ray actors")
    ap.add_argument("--workers", type=int, default=1, help="parallel trainings (with --train; 1: this process)")
    ap.add_argument("--no-install", action="store_true", help="train only; do not copy into the package")
    ap.add_argument("--multitask", action="store_true", help="the genomic zoo: one multi-TF model (see above)")
    ap.add_argument("--device", default="auto", help="training device of --multitask (auto|cpu|cuda[:N])")
    ap.add_argument("--init", help="--multitask: continue training from this checkpoint (same TFs and architecture)")
    ap.add_argument("--lam", type=float, help="--multitask: weight of the window term of the loss (default 0)")
    ap.add_argument("--lr", type=float, help="--multitask: learning rate (default 1e-3)")
    ap.add_argument("--seed", type=int, default=0, help="--multitask: seed (also draws the tfbs-snr pair sample)")
    ap.add_argument("--pairs-per-tf", type=int, help="--multitask: tfbs-snr (bound, shuffled) pairs per TF")
    ap.add_argument("--strands", choices=["max", "mean"],
                    help="--multitask: how scans combine the two strands (default mean; stored in the checkpoint)")
    ap.add_argument("--recalibrate", action="store_true",
                    help="--multitask: re-choose the chr7 call thresholds of a finished CKPTS/multitask (e.g. for "
                         "another --strands) before installing")
    ap.add_argument("--gated", action="store_true",
                    help="gate the finished CKPTS/multitask with the shuffled zoo's per-TF localizers "
                         "(tfscope.zoo.gated) into CKPTS/gated and install that as the genomic zoo")
    ap.add_argument("--swap-localizers", metavar="DIR",
                    help="put these per-TF localizers (DIR/<TF>) into the installed genomic zoo, detector and gate "
                         "kept, into CKPTS/gated-swapped (then --calibrate-calls it)")
    ap.add_argument("--calibrate-calls", metavar="ZOO",
                    help="calibrate the calls of this multi-TF zoo checkpoint on chr7 (groups, site widths, site-F1 "
                         "thresholds, per-call precision and p-values) into CKPTS/calibrated and install it")
    ap.add_argument("--sites", help="tfbs-multilabel sites.bed.gz (with --calibrate-calls)")
    ap.add_argument("--fast", metavar="STUDENT",
                    help="the fast zoo: the genomic zoo with this distilled detector (scripts/distill_zoo.py's "
                         "student.pt) into CKPTS/fast (with --runtime int8, as shipped); then calibrate it with "
                         "--calibrate-calls CKPTS/fast --zoo fast")
    ap.add_argument("--runtime", choices=RUNTIMES,
                    help="with --fast: the runtime the fast zoo declares, then calibrates and scans under (the shipped "
                         "one: int8; tfscope.zoo.gated.RUNTIMES)")
    ap.add_argument("--localizer-students", metavar="PT", nargs="+",
                    help="with --fast: the distilled localizers (scripts/distill_zoo.py --part localizers; several "
                         "files of one run merge) instead of the genomic zoo's CNN localizers")
    ap.add_argument("--unpack", metavar="ZOO",
                    help="write a gated zoo's detector to CKPTS/multitask and its localizers to CKPTS/dilated/<TF> "
                         "(to continue the detector's training with --multitask --init, or to re-gate with --gated "
                         "--localizers CKPTS/dilated)")
    args = ap.parse_args()
    if args.fast:
        from tfscope.resources import resource
        from tfscope.zoo.build import fast_zoo

        rec = fast_zoo(resource("zoo", "genomic"), args.fast, Path(args.checkpoints) / "fast",
                       localizers=args.localizer_students, runtime=args.runtime)
        print(f"fast zoo -> {Path(args.checkpoints) / 'fast'} (student {rec['hparams']})", flush=True)
        return None
    if args.unpack:
        from tfscope.zoo.build import unpack

        r = unpack(args.unpack, args.checkpoints)
        print(f"detector -> {r['detector']}; {len(r['tfs'])} localizers -> {r['localizers']}", flush=True)
        return None
    if args.swap_localizers:
        return swap(args)
    if args.calibrate_calls:
        return calibrate(args)
    if args.gated:
        return build_gated(args)
    if args.multitask:
        return build_multitask(args)
    src = Path(args.checkpoints) / args.model
    if args.train:
        background = None
        if args.negatives == "genomic":
            if not args.windows:
                ap.error("--negatives genomic needs --windows")
            from tfscope.zoo.genomic import GenomicBackground

            background = GenomicBackground.load(args.windows)  # its defaults are the shipped zoo's recipe
        jobs = [(table.resolve(), table.name.split(".")[0]) for table in sorted(Path(args.train).glob("*.tsv.gz"))]
        jobs = [(t, tf) for t, tf in jobs if not (src / tf / "config.json").exists()
                and not (args.tfs and tf not in args.tfs)]
        state = {"model": args.model, "src": src.resolve(), "hparams": {"channels": args.channels},
                 "patience": args.patience, "background": background,
                 "max_seconds": args.max_minutes * 60 if args.max_minutes else None,
                 "exclude_chroms": tuple(args.exclude_chroms or ())}
        executor = make_executor(args.executor, args.workers)
        try:
            for tf, auprc, thr, secs in executor.imap(_train_one, jobs, state=state, in_flight=args.workers):
                print(f"{tf}: nt AUPRC {auprc:.3f} threshold {thr:.3f} ({secs:.0f} s)", flush=True)
        finally:
            executor.close()
    if args.no_install:
        return
    from tfscope.resources import resource

    dst = resource("zoo", args.zoo or args.negatives)
    dst.mkdir(parents=True, exist_ok=True)
    n = 0
    for d in sorted(src.iterdir()):
        if not (d / "config.json").exists():
            continue
        cfg = json.loads((d / "config.json").read_text())
        cfg["meta"].update(jaspar_record(d.name))
        cfg["meta"].pop("history", None)
        out = dst / d.name
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        shutil.copyfile(d / "model.safetensors", out / "model.safetensors")
        (out / "config.json").write_text(dump_config(cfg))
        n += 1
    size = sum(p.stat().st_size for p in dst.rglob("*") if p.is_file()) / 2**20
    print(f"zoo: {n} models, {size:.1f} MiB in {dst}")


if __name__ == "__main__":
    main()
