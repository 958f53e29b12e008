"""The empirical null of variant effects: per TF, the |delta| of random SNVs in genomic background.

Built at zoo-build time by ``scripts/build_variant_null.py`` from chr7 (validation) windows of tfbs-multilabel only
(never chr8 or chr9): one random SNV per window position sample, scored like any variant, and per TF only SNVs in
windows without a site of the TF's paralog group are kept (genomic background, as the call calibration's
background peaks). The null is stored beside the zoo as a small JSON artifact (``zoo/<kind>.variant_null.json``)
holding, per TF, how many null SNVs reach each |delta| of a fixed grid (:data:`DELTA_GRID`), the sha256 of the zoo
weights it was built for, the runtime it was built under (``zoo_runtime``,
:func:`tfscope.zoo.gated.effective_runtime`) and a sha256 of its own content; :func:`load_null` refuses a null whose
content checksum does not match, ignores (with a warning) one built for other weights and warns that p-values are
approximate when this run scores under another runtime.

``pValue = (1 + #null |delta| >= |delta|) / (1 + n)``, counted at the grid value just at or below ``|delta|``
(conservative, like the call p-values of :mod:`tfscope.scan.calls`).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, TfscopeWarning
from ..io.atomic import atomic_write

FORMAT = "tfscope-variant-null/1"

#: |delta| values the null counts are kept at: 0, then 400 log-spaced values 1e-6 .. 1
DELTA_GRID = np.concatenate([[0.0], np.logspace(-6, 0, 400)])


def null_path(zoo_directory) -> Path:
    """Where the null of the zoo checkpoint directory ``zoo_directory`` lives: ``<dir>.variant_null.json`` beside
    it (``resources/zoo/genomic.variant_null.json`` for the default zoo).
    """
    d = Path(zoo_directory)
    return d.parent / f"{d.name}.variant_null.json"


def content_sha256(per_tf: dict, grid) -> str:
    """sha256 of the null's content (the grid and the per-TF counts, canonical JSON)."""
    blob = json.dumps({"grid": [round(float(g), 12) for g in grid], "per_tf": per_tf}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class VariantNull:
    """Per-TF counts of null |delta| values at or above each :data:`DELTA_GRID` value.

    Attributes
    ----------
    counts : dict TF -> (count_ge ``(len(DELTA_GRID),)`` float array, n)

    """

    def __init__(self, counts: dict, meta: dict | None = None):
        self.counts = counts
        self.meta = meta or {}

    @classmethod
    def from_deltas(cls, deltas: dict, meta: dict | None = None) -> "VariantNull":
        """From per-TF arrays of null |delta| (any length)."""
        counts = {}
        for tf, d in deltas.items():
            d = np.sort(np.abs(np.asarray(d, float)))
            counts[tf] = (len(d) - np.searchsorted(d, DELTA_GRID, side="left").astype(float), len(d))
        return cls(counts, meta)

    def p_values(self, tf: str, delta: np.ndarray) -> np.ndarray:
        """Empirical p-values of ``|delta|`` for ``tf`` (``-1`` when the null has no such TF)."""
        a = np.abs(np.asarray(delta, float))
        if tf not in self.counts:
            return np.full(len(a), -1.0)
        cnt, n = self.counts[tf]
        i = np.clip(np.searchsorted(DELTA_GRID, a, side="right") - 1, 0, len(DELTA_GRID) - 1)
        return (1.0 + cnt[i]) / (1.0 + n)

    def to_json(self) -> dict:
        per_tf = {tf: {"n": int(n), "count_ge": [int(c) for c in cnt]} for tf, (cnt, n) in sorted(self.counts.items())}
        return {"format": FORMAT, **self.meta, "grid": [float(g) for g in DELTA_GRID], "per_tf": per_tf,
                "sha256": content_sha256(per_tf, DELTA_GRID)}

    def save(self, path) -> None:
        """Write the null JSON atomically."""

        with atomic_write(path) as fh:
            json.dump(self.to_json(), fh, indent=1)


def load_null(path, *, weights_sha256: str | None = None, runtime: str | None = None) -> VariantNull | None:
    """The null at ``path`` (None when absent, or with a warning when built for other zoo weights).

    ``runtime``: the runtime the zoo scores with in this run (:func:`tfscope.zoo.gated.effective_runtime`); a null
    built under another one (e.g. the int8 networks, where this run falls back to float32 on a GPU) is kept with a
    warning that its p-values are approximate.

    Raises
    ------
    CheckpointError
        A null file in another format, or whose content does not match its recorded sha256.

    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        d = json.loads(path.read_text())
    except ValueError as e:
        raise CheckpointError(f"{path}: not JSON ({e})") from None
    if d.get("format") != FORMAT:
        raise CheckpointError(f"{path}: format {d.get('format')!r}, expected {FORMAT}")
    if content_sha256(d["per_tf"], d["grid"]) != d.get("sha256"):
        raise CheckpointError(f"{path}: content does not match its sha256 (corrupt or edited variant null)")
    if weights_sha256 and d.get("zoo_weights_sha256") and d["zoo_weights_sha256"] != weights_sha256:
        warnings.warn(f"{path}: built for other zoo weights; pValue/qValue left at -1", TfscopeWarning)
        return None
    if runtime and d.get("zoo_runtime") and d["zoo_runtime"] != runtime:  # the same weights, other arithmetic
        warnings.warn(f"{path}: built with the zoo's {d['zoo_runtime']} networks, this run scores with its {runtime} "
                      "ones; pValue/qValue are approximate", TfscopeWarning)
    if not np.allclose(d["grid"], DELTA_GRID):
        raise CheckpointError(f"{path}: unexpected |delta| grid")
    counts = {tf: (np.asarray(r["count_ge"], float), int(r["n"])) for tf, r in d["per_tf"].items()}
    meta = {k: v for k, v in d.items() if k not in ("grid", "per_tf", "sha256", "format")}
    return VariantNull(counts, meta)


class RegionGenome:
    """A genome made of known regions (e.g. stitched tfbs-multilabel windows), N everywhere else; the
    :class:`tfscope.variants.read.Genome` interface (``resolve``, ``fetch``, ``sizes``) for null building and
    benchmarks.

    Parameters
    ----------
    regions : iterable of objects with ``chrom``, ``start`` (0-based), ``sequence``

    """

    def __init__(self, regions):
        self.by_chrom: dict[str, list] = {}
        for r in regions:
            self.by_chrom.setdefault(r.chrom, []).append((r.start, r.start + len(r.sequence), r.sequence.upper()))
        for v in self.by_chrom.values():
            v.sort()
        self.starts = {c: np.array([a for a, _, _ in v]) for c, v in self.by_chrom.items()}
        self.sizes = {c: max(b for _, b, _ in v) + 10**9 for c, v in self.by_chrom.items()}

    def resolve(self, chrom: str) -> str | None:
        return chrom if chrom in self.by_chrom else None

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """``chrom[start, end)`` with N outside the regions."""
        out = bytearray(b"N" * (end - start))
        regs = self.by_chrom[chrom]
        i = max(0, int(np.searchsorted(self.starts[chrom], start, side="right")) - 1)
        while i < len(regs) and regs[i][0] < end:
            a, b, s = regs[i]
            lo, hi = max(a, start), min(b, end)
            if hi > lo:
                out[lo - start:hi - start] = s[lo - a:hi - a].encode()
            i += 1
        return out.decode()
