"""Shared helpers of the benchmark scripts: machine description, long-format results JSON + Markdown, resume,
and the real chr8 sequence + window labels that the scanning benchmarks score."""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import gzip
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def machine() -> str:
    """One line: CPU model, cores, RAM, torch threads."""
    cpu = platform.processor() or "cpu"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def load_results(suite: str, results_dir=None) -> dict:
    """Existing results of a suite (for resuming), or an empty document (``results_dir``: default
    :data:`RESULTS`)."""
    p = Path(results_dir or RESULTS) / f"{suite}.json"
    if p.exists():
        return json.loads(p.read_text())
    return {"suite": suite, "machine": machine(), "date": str(datetime.date.today()), "rows": []}


def save_results(doc: dict, markdown: str, results_dir=None, *, stamp: bool = True) -> None:
    """Write ``results/<suite>.json`` and ``results/<suite>.md`` atomically (a temp file moved into place with
    ``os.replace``; ``results_dir``: default :data:`RESULTS`). ``stamp``: set the document's date and machine to
    today's and this one's (False when only re-rendering rows measured elsewhere)."""
    from tfscope.io.atomic import atomic_write

    if stamp:
        doc["date"] = str(datetime.date.today())
        doc["machine"] = machine()
    suite = doc["suite"]
    root = Path(results_dir or RESULTS)
    with atomic_write(root / f"{suite}.json") as fh:
        json.dump(doc, fh, indent=1, default=lambda o: None if isinstance(o, float) and math.isnan(o) else float(o))
    with atomic_write(root / f"{suite}.md") as fh:
        fh.write(markdown)


def keep_first_build(doc: dict, note: str) -> None:
    """Move every row of ``doc`` measured on the first build of ``../shared/data`` (before the 2026-12-05
    coordinate correction) into ``doc["first_build"]`` (with ``note`` and the rows' date), once; later runs add
    their rows beside it."""
    if "first_build" in doc:
        return
    doc["first_build"] = {"note": note, "date": doc.get("date"), "rows": list(doc["rows"])}
    doc["rows"], doc["per_tf"] = [], {}


def real_sequence(bp: int, n_records: int = 10) -> tuple[dict[str, str], list[set[str]]]:
    """``n_records`` records of concatenated chr8 windows (genomic order) and the TF set of each 100 bp window."""
    rows = []
    with gzip.open(SHARED / "tfbs-multilabel" / "windows.tsv.gz", "rt") as fh:
        fh.readline()
        for line in fh:
            c = line.rstrip("\n").split("\t")
            if c[1] == "chr8":
                rows.append((int(c[2]), c[6], set(c[5].split(","))))
    rows.sort(key=lambda r: r[0])
    s = "".join(r[1] for r in rows)[:bp]
    if len(s) < bp or bp % (100 * n_records):
        raise SystemExit(f"need --bp a multiple of {100 * n_records} and <= {len(s)}")
    size = bp // n_records
    return ({f"chr8_windows_{i}": s[i * size:(i + 1) * size] for i in range(n_records)},
            [r[2] for r in rows[:bp // 100]])


def window_scores(tracks: dict, seqs: dict, labels: list[set[str]], names: list[str]) -> dict[str, float]:
    """Mean over TFs of AUROC/AUPRC of per-window max probability against the window's TF labels."""
    return mean_window_metrics(window_max(tracks, seqs, len(names)), labels, names)


def window_max(tracks: dict, seqs: dict, n_models: int, window: int = 100) -> np.ndarray:
    """``(T, nW)``: each model's highest probability in each ``window`` bp window of the scanned records."""
    return np.concatenate([tracks[sid].reshape(n_models, -1, window).max(-1) for sid in seqs], axis=1)


def mean_window_metrics(score: np.ndarray, labels: list[set[str]], names: list[str],
                        per_tf: dict | None = None) -> dict[str, float]:
    """Mean over TFs of window AUROC/AUPRC of scores ``(T, nW)`` against the windows' TF label sets
    (``per_tf``, if given, receives ``{TF: {"window_auroc", "window_auprc", "n_pos"}}``)."""
    from tfscope.metrics import binary_metrics

    au = {"window_auroc": [], "window_auprc": []}
    for t, name in enumerate(names):
        y = np.array([name in lab for lab in labels], dtype=np.float32)
        if 0 < y.sum() < len(y):
            m = binary_metrics(y, score[t])
            au["window_auroc"].append(m["auroc"])
            au["window_auprc"].append(m["auprc"])
            if per_tf is not None:
                per_tf[name] = {"window_auroc": m["auroc"], "window_auprc": m["auprc"], "n_pos": m["n_pos"]}
    return {k: float(np.mean(v)) for k, v in au.items()}
