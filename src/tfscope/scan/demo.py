"""The main job on bundled real data (README command 1).

For each bundled TF (real BertSNR benchmark tables, see ``resources/README.md``): train a nucleotide-resolution
model on the paper's train split, evaluate on its test split beside the PWM-matching baseline, print a metrics
table, then scan the bundled real hg19 regions with all trained models and write predicted sites as BED; finally
scan the same regions with the bundled 45-TF zoo and write the HTML binding-map report, which shows both sets of
calls beside the bundled known sites (``resources/example_sites.bed``), in hg19 coordinates (the regions' headers
are ``chrom:start-end``, 0-based half-open as bedtools getfasta writes them).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..io.atomic import atomic_write
from ..io.bed import read_bed, write_bed
from ..io.coords import GenomeCoords, relocate_bed
from ..io.fasta import read_fasta
from ..metrics import markdown_table
from ..report.html import write_report
from ..resources import resource
from ..snr.data import snr_table_path
from ..snr.train import train_snr
from ..zoo.registry import list_zoo, load_zoo
from .engine import scan
from .files import PEAK_COLUMNS
from .known import known_recall, recall_line
from .models import load_scan_models


def run_demo(out, *, tfs=None, model: str = "dilated", epochs: int = 4, min_samples: int | None = None,
             verbose: bool = True, device: str = "auto") -> dict:
    """Train + evaluate + scan on the bundled data; writes into directory ``out``.

    Outputs: ``checkpoints/<TF>/``, ``metrics.json``, ``metrics.md``, ``predicted_sites.bed`` (the freshly trained
    models), ``zoo_sites.bed`` and ``report.html`` (all bundled zoo models over the same regions, with the trained
    models' calls and the known sites beside them); the BEDs are in hg19 coordinates.
    Returns the metrics rows and the site-recovery summary.
    """
    out = Path(out)
    tfs = tfs or sorted(p.name.split(".")[0] for p in resource("snr_tables").glob("*.tsv.gz"))
    rows, ckpts = [], []
    t0 = time.time()
    for tf in tfs:
        table = snr_table_path(tf, resource("snr_tables"))
        for m in ("pwm", model):
            r = train_snr(table, model=m, tf=tf, epochs=epochs if m != "pwm" else None, verbose=verbose,
                          min_samples=min_samples, device=device,
                          out=out / "checkpoints" / tf if m == model else None)
            rows.append({"TF": tf, "model": m, **r["metrics"], "train_s": r["train_seconds"]})
            if m == model:
                ckpts.append(r["checkpoint"])
    cols = ["TF", "model", "nt_auprc", "nt_auroc", "nt_f1", "nt_precision", "nt_recall", "seq_auroc", "seq_f1",
            "train_s"]
    table_md = markdown_table(rows, cols)
    print("\nTest-split metrics (paper split, threshold 0.5):\n" + table_md)
    models = load_scan_models(ckpts)
    seqs = read_fasta(resource("example_regions"))
    coords = GenomeCoords({k: len(v) for k, v in seqs.items()}, "bedtools")
    sites, _ = scan(models, seqs)
    write_bed(out / "predicted_sites.bed", sites)
    relocate_bed(out / "predicted_sites.bed", out / "predicted_sites.bed", coords, position_columns=PEAK_COLUMNS)
    known = [k for k in read_bed(resource("example_sites"))]
    mine = [k for k in known if k.name in tfs]
    hit = known_recall(mine, sites)["found"]
    summary = {"predicted_sites": len(sites), "known_heldout_sites": len(mine), "recovered": hit,
               "sequences": len(seqs), "bp": sum(map(len, seqs.values())), "seconds": round(time.time() - t0, 1)}
    print(f"Scanned {summary['sequences']} real hg19 regions ({summary['bp']} bp) with "
          f"{len(models)} model{'' if len(models) == 1 else 's'}: "
          f"{len(sites)} predicted site{'' if len(sites) == 1 else 's'} -> "
          f"{out / 'predicted_sites.bed'}; {hit}/{len(mine)} known held-out JASPAR sites recovered.")
    # the everyday use: every bundled zoo model over the same regions -> binding map report
    t1 = time.time()
    zoo_models = load_zoo()
    zoo_sites, zoo_tracks = scan(zoo_models, seqs, keep_tracks=True)
    write_bed(out / "zoo_sites.bed", zoo_sites)
    relocate_bed(out / "zoo_sites.bed", out / "zoo_sites.bed", coords, position_columns=PEAK_COLUMNS)
    t2 = time.time()
    write_report(out / "report.html", sequences=seqs, sites=zoo_sites, tracks=zoo_tracks, models=zoo_models,
                 model_rows=list_zoo(), title="tfscope binding map of the bundled hg19 regions", coords=coords,
                 known=known, other_calls={f"demo-trained models ({', '.join(tfs)})": (sites, tfs)}, verbose=verbose)
    summary["zoo_models"] = len(zoo_models)
    summary["zoo_sites"] = len(zoo_sites)
    summary["zoo_recovered"] = known_recall(known, zoo_sites)["found"]
    summary["zoo_scan_seconds"], summary["report_seconds"] = round(t2 - t1, 1), round(time.time() - t2, 1)
    print(f"Scanned the same regions with the {len(zoo_models)}-TF zoo in {t2 - t1:.1f} s: {len(zoo_sites)} sites "
          f"-> {out / 'zoo_sites.bed'}; {recall_line(known, zoo_sites)}; report -> {out / 'report.html'} "
          f"in {time.time() - t2:.1f} s")
    with atomic_write(out / "metrics.json") as fh:
        json.dump({"rows": rows, "scan": summary}, fh, indent=2, default=float)
    with atomic_write(out / "metrics.md") as fh:
        fh.write(table_md)
    return {"rows": rows, "scan": summary}
