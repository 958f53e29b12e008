"""Attribution files of ``tfscope explain``: per-nucleotide attributions as TSV or NumPy ``.npz``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .atomic import atomic_write


def write_attributions(out: str | os.PathLike, ids: list[str], sequences: list[str], attributions: np.ndarray,
                       onehot: np.ndarray) -> Path:
    """Write attributions atomically, as ``.npz`` or as TSV by the suffix of ``out``.

    Parameters
    ----------
    out : str | os.PathLike
        ``*.npz``: arrays ``ids``, ``attributions`` ``(N, 4, L)`` and ``onehot`` ``(N, 4, L)``; any other name: TSV
        ``id position base attribution`` with one row per nucleotide (position 0-based, as BED; attribution summed
        over the four bases, i.e. the observed base's value for one-hot input).
    ids, sequences : list of str
        Record ids and their DNA (``N`` of each); sequences may be shorter than ``L``.
    attributions, onehot : numpy.ndarray, shape (N, 4, L)

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    OutputError
        The file cannot be written (:func:`tfscope.io.atomic.atomic_write`).
    """
    out = Path(out)
    if out.suffix == ".npz":
        with atomic_write(out, "wb") as fh:
            np.savez_compressed(fh, ids=np.array(ids), attributions=attributions, onehot=onehot)
        return out
    score = attributions.sum(1)
    with atomic_write(out) as fh:
        fh.write("id\tposition\tbase\tattribution\n")
        for i, (rid, s) in enumerate(zip(ids, sequences)):
            for j in range(len(s)):
                fh.write(f"{rid}\t{j}\t{s[j]}\t{score[i, j]:.6g}\n")
    return out
