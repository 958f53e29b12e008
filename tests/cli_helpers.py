"""Helpers shared by the command-line fault and security suites (``test_faults.py``, ``test_security.py``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src"
#: names of tfscope's temporary files and directories (staging beside an output, scan spill files, atomic temps)
TEMP = re.compile(r"\.tfscope-|^tfscope-scan-|\.tmp")


def run_tfscope(*args, cwd=None, timeout=120, preexec_fn=None, prefix=()):
    """Run ``python -m tfscope ARGS`` on the tree under test (``prefix``: a wrapper command such as ``prlimit``);
    returns the CompletedProcess."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
           "TQDM_DISABLE": "1"}
    return subprocess.run([*prefix, sys.executable, "-m", "tfscope", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env=env, preexec_fn=preexec_fn)


def leftovers(d: Path) -> list[str]:
    """Temporary files/directories of tfscope under ``d``."""
    return sorted(str(p.relative_to(d)) for p in d.rglob("*") if TEMP.search(p.name))


def random_fasta(path: Path, records: dict[str, int], seed: int = 0, width: int = 80) -> Path:
    """Write seeded random ACGT records (name -> length) to ``path``, ``width`` letters per line; returns ``path``."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as fh:
        for name, n in records.items():
            seq = "".join(rng.choice(list("ACGT"), n))
            fh.write(f">{name}\n" + "\n".join(seq[i:i + width] for i in range(0, n, width)) + "\n")
    return path
