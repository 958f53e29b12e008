"""Protein data sets of the two-layer TF pipeline (iTFPM-RGDC benchmark files) and their leakage handling.

Layer 1: TF vs non-TF; layer 2: TFs preferring methylated DNA (TFPM) vs not (TFPNM). Files (from
github ngphubinh/iTFPM-RGDC ``data/``, copied to ``../shared/data/protein``):

=========  =====================================  ========================================
layer      train (pos / neg)                      independent test (pos / neg)
=========  =====================================  ========================================
layer1     TF_training_dataset (416) /            TF_independent_dataset (106) /
           non-TF_training_dataset (416)          non-TF_independent_dataset (106)
layer2     TFPM_training_dataset_used (146) /     TFPM_independent_dataset (69) /
           TFPNM_training_dataset (146)           TFPNM_independent_dataset (37)
=========  =====================================  ========================================

Two protocols:

* ``published``: every record as distributed (duplicates and train/test overlap kept), so numbers compare
  with the papers (Hassan et al. 2025; Li et al. 2024; Nguyen et al., iTFPM-RGDC).
* ``dedup``: exact-duplicate sequences removed inside each split (first occurrence kept; a sequence seen with
  both labels is dropped), and every test sequence identical to a training sequence (of either label) is
  removed from the test set. Only *exact* identity is handled; homologues remain (no CD-HIT step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.fasta import read_protein_records

LAYER_FILES = {
    "layer1": {"train": ("TF_training_dataset", "non-TF_training_dataset"),
               "test": ("TF_independent_dataset", "non-TF_independent_dataset"),
               "labels": ("TF", "non-TF")},
    "layer2": {"train": ("TFPM_training_dataset_used", "TFPNM_training_dataset"),
               "test": ("TFPM_independent_dataset", "TFPNM_independent_dataset"),
               "labels": ("TFPM", "TFPNM")},
}
PROTOCOLS = ("published", "dedup")


@dataclass
class ProteinSplit:
    """Train and independent-test sequences of one layer under one protocol.

    ``y_*`` are int arrays (1 = TF / TFPM, 0 = non-TF / TFPNM). ``notes`` counts what de-duplication removed.
    """

    layer: str
    protocol: str
    train_ids: list[str]
    train_seqs: list[str]
    y_train: np.ndarray
    test_ids: list[str]
    test_seqs: list[str]
    y_test: np.ndarray
    labels: tuple[str, str]
    notes: dict = field(default_factory=dict)


def _dedup(ids, seqs, y):
    """Keep the first occurrence of each sequence; drop sequences seen with both labels."""
    labels_of: dict[str, set] = {}
    for s, t in zip(seqs, y):
        labels_of.setdefault(s, set()).add(int(t))
    seen, keep = set(), []
    for i, s in enumerate(seqs):
        if s in seen or len(labels_of[s]) > 1:
            continue
        seen.add(s)
        keep.append(i)
    return keep, sum(len(v) > 1 for v in labels_of.values())


def load_layer(layer: str, protocol: str = "published", data_dir=None) -> ProteinSplit:
    """Load one layer of the benchmark.

    Parameters
    ----------
    layer : {"layer1", "layer2"}
    protocol : {"published", "dedup"}
        See the module docstring.
    data_dir : directory with the ``*.fasta`` files (default ``<repo>/../shared/data/protein``).

    Raises
    ------
    InputError
        Unknown layer/protocol, missing directory or file, invalid FASTA.
    """
    if layer not in LAYER_FILES:
        raise InputError(f"unknown layer {layer!r}; choose from {', '.join(LAYER_FILES)}")
    if protocol not in PROTOCOLS:
        raise InputError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    d = Path(data_dir) if data_dir is not None else default_data_dir()
    if not d.is_dir():
        raise InputError("protein data directory not found", str(d))
    spec = LAYER_FILES[layer]
    parts = {}
    for split in ("train", "test"):
        ids, seqs, y = [], [], []
        for label, stem in zip((1, 0), spec[split]):
            for i, s in read_protein_records(d / f"{stem}.fasta"):
                ids.append(i)
                seqs.append(s)
                y.append(label)
        parts[split] = (ids, seqs, np.array(y, dtype=np.int64))
    notes = {"train_records": len(parts["train"][0]), "test_records": len(parts["test"][0]),
             "train_duplicate_sequences": len(parts["train"][1]) - len(set(parts["train"][1])),
             "test_sequences_in_train": sum(s in set(parts["train"][1]) for s in parts["test"][1])}
    if protocol == "dedup":
        ids, seqs, y = parts["train"]
        keep, conflict_tr = _dedup(ids, seqs, y)
        parts["train"] = ([ids[i] for i in keep], [seqs[i] for i in keep], y[keep])
        ids, seqs, y = parts["test"]
        keep, conflict_te = _dedup(ids, seqs, y)
        train_set = set(parts["train"][1]) | set(parts_all_train_seqs(d, spec))
        keep = [i for i in keep if seqs[i] not in train_set]
        parts["test"] = ([ids[i] for i in keep], [seqs[i] for i in keep], y[keep])
        notes.update(train_conflicting_labels=conflict_tr, test_conflicting_labels=conflict_te,
                     train_kept=len(parts["train"][0]), test_kept=len(parts["test"][0]))
    return ProteinSplit(layer, protocol, *parts["train"], *parts["test"], labels=spec["labels"], notes=notes)


def parts_all_train_seqs(d: Path, spec: dict) -> list[str]:
    """Every training sequence of a layer (before de-duplication), used to purge the test set."""
    return [s for stem in spec["train"] for _, s in read_protein_records(d / f"{stem}.fasta")]


def default_data_dir() -> Path:
    """``<repo>/../shared/data/protein`` (the benchmark copy next to the project checkout)."""
    return Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "protein"
