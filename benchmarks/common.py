"""Shared helpers of the benchmark scripts: machine description, long-format results JSON + Markdown, resume."""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
from pathlib import Path

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


def load_results(suite: str) -> dict:
    """Existing results of a suite (for resuming), or an empty document."""
    p = RESULTS / f"{suite}.json"
    if p.exists():
        return json.loads(p.read_text())
    return {"suite": suite, "machine": machine(), "date": str(datetime.date.today()), "rows": []}


def save_results(doc: dict, markdown: str) -> None:
    """Write ``results/<suite>.json`` and ``results/<suite>.md`` atomically."""
    from tfscope.io.atomic import atomic_write

    doc["date"] = str(datetime.date.today())
    doc["machine"] = machine()
    suite = doc["suite"]
    with atomic_write(RESULTS / f"{suite}.json") as fh:
        json.dump(doc, fh, indent=1, default=lambda o: None if isinstance(o, float) and math.isnan(o) else float(o))
    with atomic_write(RESULTS / f"{suite}.md") as fh:
        fh.write(markdown)
