"""Strand and matched site sequence of each call, from its TF's JASPAR matrix, as FIMO reports them.

A call is the TF's site width centred on the peak of a nucleotide probability track; the track itself says nothing
about orientation (the gated zoo combines the two strands before its gate). Each call is therefore aligned with the
TF's JASPAR matrix (log-odds against a uniform background, :func:`tfscope.io.jaspar.pfm_to_log_odds`): every window
of the matrix's width whose centre lies inside the call (:func:`site_window`) is scored on both strands, and the best
window gives

- the call's **strand**: ``+`` when the matrix matches the forward strand best, ``-`` when its reverse complement
  does, ``.`` when the matrix is palindromic (:data:`PALINDROME_R`: its probabilities correlate with those of its
  own reverse complement at Pearson r >= 0.9, e.g. the E-box CACGTG of USF1/MYC or NRF1's GCGCATGCGC, so that the
  two orientations are one site) or both strands score the same;
- the **site** column: the matched sequence of that window on that strand (reverse-complemented for ``-``), upper
  case, as FIMO's ``matched_sequence``.

A model without a JASPAR matrix (a checkpoint trained on a user's TF) keeps the strand its track gives (the strand
with the higher probability at the peak, ``.`` for strand-symmetric models) and its site is the call's forward-strand
sequence. The BED coordinates stay those of the call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..io.bed import BedRecord
from ..io.jaspar import jaspar_matrix, motif_pfm, pfm_to_log_odds
from ..sequence import reverse_complement

#: ASCII byte -> base code (A, C, G, T -> 0-3, upper or lower case; anything else 4, scoring 0)
_CODES = np.full(256, 4, np.intp)
for _i, _b in enumerate("ACGT"):
    _CODES[ord(_b)] = _CODES[ord(_b.lower())] = _i

#: a matrix whose probabilities correlate with those of its reverse complement at least this much is palindromic
PALINDROME_R = 0.9


@dataclass(frozen=True)
class SiteMatrix:
    """A TF's matrix for orienting calls: log-odds ``(4, W)`` (A, C, G, T rows), palindromic or not, its JASPAR ID."""

    log_odds: np.ndarray
    palindromic: bool
    matrix_id: str = ""

    @classmethod
    def from_pfm(cls, pfm: np.ndarray, matrix_id: str = "") -> "SiteMatrix":
        """Build from a count or probability matrix ``(4, W)``.

        Raises
        ------
        ValueError
            A matrix that is not ``(4, W)`` with ``W >= 1``.
        """
        pfm = np.asarray(pfm, float)
        if pfm.ndim != 2 or pfm.shape[0] != 4 or pfm.shape[1] < 1:
            raise ValueError(f"a site matrix is (4, W), not {pfm.shape}")
        prob = pfm / np.maximum(pfm.sum(0, keepdims=True), 1e-9)
        rc = prob[::-1, ::-1]
        a, b = prob.ravel() - prob.mean(), rc.ravel() - rc.mean()
        r = float(a @ b / np.sqrt((a @ a) * (b @ b))) if (a @ a) > 0 and (b @ b) > 0 else 1.0
        return cls(pfm_to_log_odds(pfm), r >= PALINDROME_R, matrix_id)

    @classmethod
    def from_jaspar(cls, matrix_id: str) -> "SiteMatrix":
        """Load a JASPAR matrix by ID (pyjaspar, offline; :func:`tfscope.io.jaspar.jaspar_matrix`)."""
        return cls.from_pfm(motif_pfm(jaspar_matrix(matrix_id)), matrix_id)

    @functools.cached_property
    def scores(self) -> np.ndarray:
        """Log-odds ``(5, W)`` by base code (A, C, G, T, other = 0)."""
        return np.vstack([self.log_odds, np.zeros((1, self.width))])

    @functools.cached_property
    def rc_scores(self) -> np.ndarray:
        """Log-odds ``(5, W)`` of the reverse-complement matrix by base code (other = 0)."""
        return np.vstack([self.log_odds[::-1, ::-1], np.zeros((1, self.width))])

    @property
    def width(self) -> int:
        """Width of the matrix (bp)."""
        return int(self.log_odds.shape[1])


def best_sites(seqs: list[str], matrix: SiteMatrix) -> list[tuple[int, str]]:
    """Return the best window of ``matrix`` in each of ``seqs`` on either strand, all scored in one pass.

    Parameters
    ----------
    seqs : list of str
        DNA, each at least as long as the matrix (other letters than ACGT score 0; windows that hold one are chosen
        only when every window of that sequence does). Sequences may differ in length.
    matrix : SiteMatrix

    Returns
    -------
    list of (offset, strand)
        0-based start of the best window in each sequence and its strand: ``+``, ``-``, or ``.`` for a palindromic
        matrix or equal scores on both strands (numpy.isclose's rule).
    """
    letters, lens = _packed(seqs)
    off, strand = _best_windows(_CODES[letters], lens - matrix.width + 1, matrix)
    return list(zip(off.tolist(), strand.tolist()))


def _packed(seqs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(n, longest)`` ASCII codes of ``seqs``, each padded with N, and their lengths."""
    lens = np.array([len(q) for q in seqs], dtype=np.int64)
    width = int(lens.max())
    raw = np.frombuffer("".join(q.ljust(width, "N") for q in seqs).encode("ascii", "replace"), np.uint8)
    return raw.reshape(len(seqs), width), lens


def _best_windows(codes: np.ndarray, n: np.ndarray, matrix: SiteMatrix) -> tuple[np.ndarray, np.ndarray]:
    """Return :func:`best_sites` as ``(offsets, strands)`` arrays, from base codes.

    ``codes``: ``(sequences, width)``, A C G T 0-3, anything else 4; ``n``: windows per sequence (the rest is padding).
    """
    W = matrix.width
    view = np.lib.stride_tricks.sliding_window_view(codes, W, axis=1)  # (sequences, windows, W)
    cols = np.arange(W)
    fwd = matrix.scores[view, cols].sum(-1)
    rev = matrix.rc_scores[view, cols].sum(-1)
    real = np.arange(view.shape[1])[None, :] < n[:, None]  # windows inside each sequence (not its padding)
    unknown = (view == 4).any(-1) & real
    drop = ~real | (unknown & ~(unknown.sum(1) == n)[:, None])  # N windows only when every window has one
    fwd[drop] = rev[drop] = -np.inf
    i, j = fwd.argmax(1), rev.argmax(1)
    rows = np.arange(len(codes))
    a, b = fwd[rows, i], rev[rows, j]
    either = (np.abs(a - b) <= 1e-8 + 1e-5 * np.abs(b)) | matrix.palindromic  # a tie or a palindrome: one site
    off = np.where(either, np.where(a >= b, i, j), np.where(a > b, i, j))
    strand = np.where(either, ".", np.where(a > b, "+", "-"))
    return off, strand


#: ASCII byte -> its upper case; and -> its complement (IUPAC, :func:`tfscope.sequence.reverse_complement`'s table)
_UPPER = np.frombuffer(bytes(range(256)).upper(), np.uint8)
_COMPLEMENT_BYTES = np.frombuffer(reverse_complement(bytes(range(256)).decode("latin-1"))[::-1].encode("latin-1"),
                                  np.uint8)


def oriented_sites(letters: np.ndarray, lens: np.ndarray, matrix: SiteMatrix) -> tuple[list[str], list[str]]:
    """Strand and matched site of calls from the stretches searched for them (:func:`site_window`).

    ``letters``: ``(calls, longest)`` ASCII codes of each call's stretch (padded beyond ``lens``; N outside the
    record). Returns ``(strands, sites)``: per call ``+``, ``-`` or ``.`` and the best window's sequence on that
    strand, upper case (reverse-complemented for ``-``). What :func:`orient_calls` gives, for many calls at once.
    """
    W = matrix.width
    letters = _UPPER[letters]
    off, strand = _best_windows(_CODES[letters], lens - W + 1, matrix)
    site = letters[np.arange(len(letters))[:, None], off[:, None] + np.arange(W)]
    minus = strand == "-"
    site[minus] = _COMPLEMENT_BYTES[site[minus, ::-1]]
    text = site.tobytes().decode("latin-1")
    return strand.tolist(), [text[k:k + W] for k in range(0, len(text), W)]


def best_site(seq: str, matrix: SiteMatrix) -> tuple[int, str]:
    """Return ``(offset, strand)`` of the best window of ``matrix`` in ``seq`` (:func:`best_sites` of one sequence)."""
    return best_sites([seq], matrix)[0]


def site_window(start: int, end: int, width: int) -> tuple[int, int]:
    """Return the stretch searched for a call ``[start, end)``: every window of ``width`` bp whose centre lies in it.

    Window ``[j, j + width)`` has its centre at ``j + width // 2``; the first starts at ``start - width // 2``, the
    last at ``end - 1 - width // 2``.
    """
    return start - width // 2, end - 1 - width // 2 + width


def orient_call(rec: BedRecord, fetch: Callable[[str, int, int], str], matrix: SiteMatrix | None) -> BedRecord:
    """Set a call's strand and append its ``site`` column (in place; see the module docstring).

    Parameters
    ----------
    rec : BedRecord
        A call with the columns of :data:`tfscope.io.tracks.CALL_COLUMNS` before ``site``.
    fetch : callable
        ``fetch(chrom, start, end)`` -> the sequence of ``[start, end)`` in the call's coordinates (``N`` outside the
        record).
    matrix : SiteMatrix or None
        The TF's matrix; None keeps the call's strand and gives its forward-strand sequence.

    Returns
    -------
    BedRecord
        ``rec``.
    """
    return orient_calls([rec], fetch, {rec.name: matrix})[0]


def orient_calls(recs: list[BedRecord], fetch: Callable[[str, int, int], str], matrices: dict) -> list[BedRecord]:
    """:func:`orient_call` on many calls at once: the same strands and sites, one vectorized pass per matrix.

    ``fetch`` is called once per call, in the order of ``recs`` (so a streamed fetcher works); ``matrices`` maps each
    call's name to its :class:`SiteMatrix` or None. The windows of all calls of one matrix are scored together
    (:func:`best_sites`): per-call numpy work cost 40 us a call, the second pass of a scan with 36 calls per kbp.
    """
    groups: dict[str, list] = {}
    for k, rec in enumerate(recs):
        matrix = matrices[rec.name]
        if matrix is None:
            rec.extra.append(fetch(rec.chrom, rec.start, rec.end).upper())
            continue
        lo, hi = site_window(rec.start, rec.end, matrix.width)
        groups.setdefault(rec.name, []).append((k, fetch(rec.chrom, lo, hi)))  # (upper-cased by oriented_sites)
    for name, items in groups.items():
        strands, sites = oriented_sites(*_packed([q for _, q in items]), matrices[name])
        for (k, _), strand, site in zip(items, strands, sites):
            recs[k].strand = strand
            recs[k].extra.append(site)
    return recs


def sequence_fetcher(sequences: dict[str, str]) -> Callable[[str, int, int], str]:
    """Return ``fetch(chrom, start, end)`` over sequences held in memory (``N`` outside a record)."""

    def fetch(chrom: str, start: int, end: int) -> str:
        s = sequences[chrom]
        left, right = max(0, -start), max(0, end - len(s))
        return "N" * left + s[max(0, start):min(len(s), end)] + "N" * right

    return fetch


class StreamedSequences:
    """Sequence windows of calls over a FASTA read once (the second pass of :func:`tfscope.scan.stream.scan_fasta`).

    Calls must come in file order and, within a record, by increasing start. At most ``2 * keep`` bases before the
    latest requested start are held (and the blocks read past it), so memory stays bounded by ``keep`` and the FASTA
    block size, not by record length.

    Parameters
    ----------
    records : iterator of ``(id, blocks)``
        :func:`tfscope.io.fasta.iter_fasta` output.
    keep : int
        Bases kept before the last requested start (calls' windows reach back at most this far).
    """

    def __init__(self, records, keep: int = 1000):
        self._records, self._keep = records, keep
        self._id, self._blocks, self._buf, self._buf_start, self._done = None, iter(()), "", 0, False

    def _next_record(self) -> None:
        for _ in self._blocks:  # iter_fasta: a record's blocks are consumed before the next record
            pass
        self._id, blocks = next(self._records)
        self._blocks, self._buf, self._buf_start, self._done = iter(blocks), "", 0, False

    def __call__(self, chrom: str, start: int, end: int) -> str:
        """Return the sequence of ``[start, end)`` of record ``chrom`` (``N`` outside the record)."""
        while self._id != chrom:
            self._next_record()
        while not self._done and self._buf_start + len(self._buf) < end:
            block = next(self._blocks, None)
            if block is None:
                self._done = True
            else:
                self._buf += block
        if start - self._keep - self._buf_start > self._keep:  # drop what no later call can reach, in large steps
            cut = start - self._keep - self._buf_start  # (cutting at every call copied the buffer per call)
            self._buf, self._buf_start = self._buf[cut:], self._buf_start + cut
        a, b = start - self._buf_start, end - self._buf_start
        if a < 0 and start >= 0:
            raise ValueError(f"call at {chrom}:{start} precedes the streamed window (calls must come by start)")
        left, right = max(0, -start), max(0, b - len(self._buf))
        return "N" * left + self._buf[max(0, a):min(len(self._buf), b)] + "N" * right
