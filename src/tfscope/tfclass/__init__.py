"""TF class ("family") from a motif: JASPAR 2024 dataset, motif readers, KNN on Tomtom-style similarities, the
reverse-complement-invariant CNN of Wilk (2025) and our ensemble. See ``docs/family.md``."""

from .data import FamilyDataset, build_dataset, pad_batch
from ..io.motifs import read_motifs
from .model import FamilyCNN

__all__ = ["FamilyDataset", "build_dataset", "pad_batch", "read_motifs", "FamilyCNN"]
