"""Multi-label TF-binding windows: ``windows.tsv.gz`` -> one-hot ``(N, 4, L)`` + label matrix ``(N, T)``.

Table format (``../shared/data/tfbs-multilabel``, built from JASPAR 2022 ChIP-seq TFBS, hg19): tab-separated with a
header ``id, chrom, start, end, split, tfs, sequence``; ``split`` is ``train``/``valid``/``test`` (chromosome split:
chr7 valid, chr8 test); ``tfs`` is the comma-separated list of TFs with a whole site in the window (may be empty);
a window is negative for every TF of the label set not listed. The label set (``label_set.txt``, one TF per line)
fixes the column order of the label matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..checkpoint_schema import NAME_RULE, is_name
from ..errors import InputError
from ..sequence import invalid_letter, one_hot
from .inputs import read_lines

COLUMNS = ("id", "chrom", "start", "end", "split", "tfs", "sequence")
SPLITS = ("train", "valid", "test")


@dataclass
class MultiLabelData:
    """Windows of one table.

    Attributes
    ----------
    ids, chrom, split : (N,) str arrays
    x : (N, 4, L) float32 one-hot (A, C, G, T)
    y : (N, T) float32 0/1 labels, columns in ``labels`` order
    labels : list of T TF names
    start : (N,) int64 0-based genome start of each window (``start`` column), or None
    """

    ids: np.ndarray
    chrom: np.ndarray
    split: np.ndarray
    x: np.ndarray
    y: np.ndarray
    labels: list[str]
    start: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, mask) -> "MultiLabelData":
        """Rows selected by a boolean mask or index array."""
        return MultiLabelData(self.ids[mask], self.chrom[mask], self.split[mask], self.x[mask], self.y[mask],
                              list(self.labels), None if self.start is None else self.start[mask])

    def part(self, name: str) -> "MultiLabelData":
        """Return the ``train``/``valid``/``test`` rows."""
        return self.subset(self.split == name)


def read_label_set(path) -> list[str]:
    """TF names, one per line (blank lines and ``#`` comments skipped).

    Raises
    ------
    InputError
        Missing/empty file, a duplicated name or one that is not a valid TF name
        (:data:`tfscope.checkpoint_schema.NAME_PATTERN`: checkpoints carry the names) (with file and line).
    """
    labels: list[str] = []
    for i, line in read_lines(path):
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        if not is_name(name):
            raise InputError(f"TF name {name!r} is not a valid name ({NAME_RULE})", str(path), i)
        if name in labels:
            raise InputError(f"duplicate TF {name!r} in label set", str(path), i)
        labels.append(name)
    if not labels:
        raise InputError("empty label set", str(path))
    return labels


def load_windows(path, *, labels: list[str] | str | Path | None = None, splits=None,
                 max_rows: int | None = None) -> MultiLabelData:
    """Read a multi-label windows table.

    Parameters
    ----------
    path : windows table (``.tsv`` or ``.tsv.gz``)
    labels : list of TF names, a label-set file, or None for ``label_set.txt`` next to ``path``
    splits : iterable of split names to keep (default all)
    max_rows : stop after this many data rows (for tests / quick runs)

    Returns
    -------
    MultiLabelData

    Raises
    ------
    InputError
        Missing file, wrong header, wrong number of fields, unknown split, a TF not in the label set, a sequence
        with a non-DNA letter or a length different from the first window's (all with file:line).
    """
    path = Path(path)
    if labels is None:
        lab_path = path.parent / "label_set.txt"
        if not lab_path.exists():
            raise InputError("no label set given and no label_set.txt next to the table", str(path))
        labels = read_label_set(lab_path)
    elif isinstance(labels, (str, Path)):
        labels = read_label_set(labels)
    labels = list(labels)
    col = {t: j for j, t in enumerate(labels)}
    keep_splits = set(splits) if splits is not None else None
    ids, chrom, split, seqs, rows, cols, starts = [], [], [], [], [], [], []
    length = None
    header = None
    for i, line in read_lines(path):
        if not line.strip():
            continue
        f = line.split("\t")
        if header is None:
            header = f
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise InputError(f"header lacks column(s) {', '.join(missing)} (expected {', '.join(COLUMNS)})",
                                 str(path), i)
            ci = {c: header.index(c) for c in COLUMNS}
            continue
        if len(f) != len(header):
            raise InputError(f"expected {len(header)} tab-separated fields, got {len(f)}", str(path), i)
        sp = f[ci["split"]]
        if sp not in SPLITS:
            raise InputError(f"unknown split {sp!r} (expected one of {', '.join(SPLITS)})", str(path), i)
        if keep_splits is not None and sp not in keep_splits:
            continue
        seq = f[ci["sequence"]].upper()
        if length is None:
            length = len(seq)
        if len(seq) != length or not seq:
            raise InputError(f"sequence length {len(seq)} differs from the first window's {length}", str(path), i)
        bad = invalid_letter(seq)
        if bad >= 0:
            raise InputError(f"invalid DNA letter {seq[bad]!r} at position {bad + 1}", str(path), i)
        n = len(ids)
        tfs = f[ci["tfs"]].strip()
        if tfs:
            for t in tfs.split(","):
                t = t.strip()
                if t not in col:
                    raise InputError(f"TF {t!r} is not in the label set ({len(labels)} TFs)", str(path), i)
                rows.append(n)
                cols.append(col[t])
        try:
            starts.append(int(f[ci["start"]]))
        except ValueError:
            raise InputError(f"start must be an integer, got {f[ci['start']]!r}", str(path), i) from None
        ids.append(f[ci["id"]])
        chrom.append(f[ci["chrom"]])
        split.append(sp)
        seqs.append(seq)
        if max_rows is not None and len(ids) >= max_rows:
            break
    if header is None:
        raise InputError("empty table", str(path))
    if not ids:
        raise InputError("no windows (after split filtering)", str(path))
    y = np.zeros((len(ids), len(labels)), dtype=np.float32)
    y[np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)] = 1.0
    return MultiLabelData(np.asarray(ids), np.asarray(chrom), np.asarray(split), one_hot(seqs), y, labels,
                          np.asarray(starts, dtype=np.int64))
