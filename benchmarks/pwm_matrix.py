"""Which JASPAR matrix the PWM baseline scans (issue 29): the newest matrix by ID (the old default) vs the TF's
matrix whose scan fits the training sites best (``tfscope snr train --model pwm``'s default since issue 29).

For each of the 45 tfbs-snr TFs (paper split), trains the PWM baseline twice through
:func:`tfscope.snr.train.train_snr` (the default choice, then ``matrix=`` the newest JASPAR 2022 CORE vertebrate
matrix by ID) and records both matrices and their test nucleotide AUPRC. Writes
``benchmarks/results/pwm_matrix.json``. About 4 minutes on 2 cores.

Usage: ``python benchmarks/pwm_matrix.py``
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED  # noqa: E402

from tfscope.io.jaspar import jaspar_motif  # noqa: E402
from tfscope.snr.train import train_snr  # noqa: E402

OUT = Path(__file__).parent / "results" / "pwm_matrix.json"


def main() -> int:
    data = SHARED / "tfbs-snr"
    rows = {}
    for table in sorted(data.glob("*.tsv.gz")):
        tf = table.name.split(".")[0]
        t = time.time()
        newest = jaspar_motif(tf).matrix_id
        best = train_snr(table, model="pwm", tf=tf, verbose=False, device="cpu")
        old = train_snr(table, model="pwm", tf=tf, verbose=False, device="cpu", matrix=newest)
        rows[tf] = {"newest_id": newest, "newest_nt_auprc": old["metrics"]["nt_auprc"],
                    "chosen_id": best["matrix"]["jaspar_id"], "chosen_nt_auprc": best["metrics"]["nt_auprc"],
                    "candidates": best["matrix"]["pwm_candidates"], "seconds": round(time.time() - t, 1)}
        print(tf, newest, round(rows[tf]["newest_nt_auprc"], 3), "->", rows[tf]["chosen_id"],
              round(rows[tf]["chosen_nt_auprc"], 3), flush=True)
    o = np.array([r["newest_nt_auprc"] for r in rows.values()])
    n = np.array([r["chosen_nt_auprc"] for r in rows.values()])
    summary = {"tfs": len(rows), "newest_mean_nt_auprc": float(o.mean()), "chosen_mean_nt_auprc": float(n.mean()),
               "newest_median_nt_auprc": float(np.median(o)), "chosen_median_nt_auprc": float(np.median(n)),
               "matrix_changed": int(sum(r["newest_id"] != r["chosen_id"] for r in rows.values()))}
    OUT.write_text(json.dumps({"summary": summary, "per_tf": rows}, indent=1) + "\n")
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
