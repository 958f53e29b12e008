"""Matrices for the any-TF scan: JASPAR 2024 CORE vertebrates (offline, ``pyjaspar``) or a user motif file.

A :class:`Motif` is a probability matrix ``(4, W)`` (rows A, C, G, T) with its matrix ID and TF name. User files are
read by tfscope's one motif reader (:func:`tfscope.io.motifs.read_motifs`: MEME, JASPAR, plain PFM, every error naming
file and line) or, for TRANSFAC, by Biopython's ``Bio.motifs`` parser with its errors turned into
:class:`tfscope.errors.InputError`. Names are untrusted: a name that is not a plain TF name
(:func:`tfscope.checkpoint_schema.is_name`) is refused.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..motif import information_content, counts_to_probs
import warnings
from ..checkpoint_schema import is_name
from ..io.motifs import read_motifs

#: the release ``--motifs jaspar`` scans
JASPAR_RELEASE = "JASPAR2024"
#: widest matrix the network encodes (JASPAR 2024 CORE vertebrates: 5-33 columns); wider ones are PWM-only
MAX_WIDTH = 35

_MATRIX_ID = re.compile(r"^[A-Z]{2}\d{4}(\.\d+)?$")


@dataclass(frozen=True)
class Motif:
    """One matrix.

    Attributes
    ----------
    matrix_id : JASPAR ID (``MA0139.2``) or the user file's motif ID
    name : TF name (``CTCF``; dimers as ``FOS::JUN``)
    probs : (4, W) float64 probabilities, columns summing to 1
    source : ``JASPAR2024`` or the motif file's path
    """

    matrix_id: str
    name: str
    probs: np.ndarray
    source: str = JASPAR_RELEASE

    @property
    def width(self) -> int:
        return int(self.probs.shape[1])

    @property
    def ic(self) -> float:
        """Total information content (bits)."""
        return float(information_content(self.probs).sum())


def name_key(name: str) -> str:
    """A name for matching across sources: upper case, letters and digits only (``BATF::JUN`` -> ``BATFJUN``)."""
    return re.sub(r"[^A-Z0-9]", "", name.upper())


@functools.lru_cache(maxsize=2)
def jaspar_motifs(release: str = JASPAR_RELEASE) -> tuple[Motif, ...]:
    """Every CORE vertebrate matrix of ``release`` (latest version of each matrix ID; 879 in JASPAR 2024), sorted by
    matrix ID. Offline: pyjaspar ships the release as SQLite.

    Returns
    -------
    tuple of :class:`Motif`
    """

    from pyjaspar import jaspardb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = jaspardb(release=release).fetch_motifs(collection=["CORE"], tax_group=["vertebrates"],
                                                        all_versions=False)
    out = []
    for m in sorted(found, key=lambda m: m.matrix_id):
        c = np.array([m.counts[b] for b in "ACGT"], np.float64)
        out.append(Motif(m.matrix_id, m.name, c / c.sum(0, keepdims=True), release))
    return tuple(out)


def _looks_transfac(lines: list[str]) -> bool:
    return any(re.match(r"^(P0|PO)\s", ln) for ln in lines) and any(ln.startswith("//") for ln in lines)


def _split_name(label: str, k: int) -> tuple[str, str]:
    """(matrix_id, name) of a motif label ``"MA0139.2 CTCF"``, ``"CTCF"`` or ``"ID NAME ..."``."""
    parts = label.split()
    if not parts:
        return f"motif{k}", f"motif{k}"
    if len(parts) >= 2:
        return parts[0], parts[1]
    return parts[0], parts[0]


def read_motif_file(path) -> list[Motif]:
    """Read every matrix of a MEME, JASPAR, plain PFM or TRANSFAC file.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    list of :class:`Motif` (probabilities; counts are normalised)

    Raises
    ------
    InputError
        A missing, empty or malformed file (from :func:`tfscope.io.motifs.read_motifs`, naming file and line), a
        TRANSFAC file Biopython cannot parse, or a motif name that is not a plain TF name.
    """

    try:
        with open(path, errors="replace") as fh:
            head = fh.read(1 << 20).splitlines()
    except (OSError, TypeError):
        head = []  # missing, a directory, unreadable: tfscope's motif reader says so with the file's name
    labelled = _read_transfac(path) if _looks_transfac(head) else read_motifs(path)
    out = []
    for k, (label, probs) in enumerate(labelled, 1):
        mid, name = _split_name(label, k)
        for v in (mid, name):
            if not is_name(v):
                raise InputError(f"motif {k}: {v[:40]!r} is not a plain name (letters, digits, _.:+-, at most 64)",
                                 str(path))
        out.append(Motif(mid, name, np.asarray(probs, np.float64), str(path)))
    return out


def _read_transfac(path) -> list[tuple[str, np.ndarray]]:
    from Bio import motifs as bio_motifs

    try:
        with open(path) as fh:
            recs = list(bio_motifs.parse(fh, "transfac"))
    except Exception as e:  # Biopython raises ValueError/KeyError/IndexError on malformed records
        raise InputError(f"not a readable TRANSFAC file ({type(e).__name__}: {str(e)[:80]})", str(path)) from None
    out = []
    for k, m in enumerate(recs, 1):
        try:
            c = np.array([m.counts[b] for b in "ACGT"], np.float64)
            probs = counts_to_probs(c)
        except (KeyError, ValueError) as e:
            raise InputError(f"TRANSFAC motif {k}: {e}", str(path)) from None
        ident = m.get("AC") or m.get("ID") or f"motif{k}"
        name = m.get("ID") or m.get("NA") or ident
        out.append((f"{ident} {name}", probs))
    if not out:
        raise InputError("no motif found", str(path))
    return out


def load_motifs(spec) -> list[Motif]:
    """``"jaspar"`` (JASPAR 2024 CORE vertebrates) or a motif file path (:func:`read_motif_file`).

    Raises
    ------
    InputError
        A file that cannot be read as motifs.
    """
    if isinstance(spec, str) and spec.lower() in ("jaspar", "jaspar2024"):
        return list(jaspar_motifs())
    return read_motif_file(spec)


def select_motifs(motifs: list[Motif], tfs) -> list[Motif]:
    """The motifs named by ``tfs`` (TF names, matched case- and punctuation-insensitively, every matrix of that
    name; or matrix IDs with or without version: ``MA0139`` or ``MA0139.2``), in the order of ``motifs``.

    Raises
    ------
    InputError
        A name or ID that matches no motif.
    """
    if not tfs:
        return list(motifs)
    keep = set()
    for t in tfs:
        hit = [i for i, m in enumerate(motifs)
               if name_key(m.name) == name_key(t) or m.matrix_id == t
               or (_MATRIX_ID.match(t) and "." not in t and m.matrix_id.split(".")[0] == t)]
        if not hit:
            raise InputError(f"no motif named {t!r} (give a TF name such as CTCF or a matrix ID such as MA0139.2)")
        keep.update(hit)
    return [m for i, m in enumerate(motifs) if i in keep]


def motif_features(motifs: list[Motif]) -> np.ndarray:
    """Per-matrix scalars the network and the calibration see: ``(M, 4)`` float32 = total information content /
    20 bits, width / 20, mean IC per column / 2, GC share of the matrix."""
    out = np.zeros((len(motifs), 4), np.float32)
    for i, m in enumerate(motifs):
        ic = information_content(m.probs)
        out[i] = [ic.sum() / 20, m.width / 20, ic.mean() / 2, m.probs[1:3].sum() / m.width]
    return out


def padded_matrices(motifs: list[Motif], width: int = MAX_WIDTH) -> np.ndarray:
    """``(M, 4, width)`` float32: each matrix's probabilities, left-aligned, zero columns after it (matrices wider
    than ``width`` are cut; :data:`MAX_WIDTH` covers JASPAR 2024 CORE vertebrates)."""
    out = np.zeros((len(motifs), 4, width), np.float32)
    for i, m in enumerate(motifs):
        w = min(width, m.width)
        out[i, :, :w] = m.probs[:, :w]
    return out
