"""Build nucleotide-resolution TFBS windows from a BED of binding sites and a genome FASTA (pyfaidx)."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..io.bed import read_bed
from ..io.tables import SNR_COLUMNS
from ..sequence import invalid_letter, reverse_complement
from .shuffle import dinucleotide_shuffle


def build_windows(bed_path, genome_path, *, window: int = 100, seed: int = 0, name: str | None = None,
                  test_fraction: float = 0.2, max_n_fraction: float = 0.0) -> dict[str, list]:
    """Turn binding sites into fixed windows with per-nucleotide labels and shuffled negatives (1:1).

    Each site ``[start, end)`` of the BED is placed at a seeded random offset inside a ``window`` bp window
    (the site must fit: longer sites raise). On ``-`` strand sites the window is reverse-complemented, so the
    sequence reads on the site's strand (as in the BertSNR benchmark). Each bound window is followed by its
    dinucleotide shuffle (``bound == 0``). The first ``test_fraction`` of sites are ``test``, the rest ``train``
    (the benchmark's convention).

    Parameters
    ----------
    bed_path, genome_path : path
        BED (chrom, start, end[, name, score, strand]) and an indexed or indexable FASTA genome.
    window : int
        Window length in bp.
    seed : int
        Seed for offsets and shuffles.
    name : str, optional
        Id prefix (default: the BED's first name column or ``site``).
    max_n_fraction : float
        Windows with more N than this fraction are skipped.

    Returns
    -------
    dict of lists
        Columns of :data:`tfscope.io.tables.SNR_COLUMNS`, ready for :func:`tfscope.io.write_snr_table`.

    Raises
    ------
    InputError
        Unknown chromosome, a site longer than the window, or a site too close to a chromosome end.
    """
    import pyfaidx

    sites = read_bed(bed_path)
    try:
        genome = pyfaidx.Fasta(str(genome_path), as_raw=True, sequence_always_upper=True, rebuild=True)
    except (pyfaidx.FastaIndexingError, ValueError, OSError) as e:
        raise InputError(f"cannot index genome FASTA: {e}", str(genome_path)) from e
    rng = np.random.default_rng(seed)
    prefix = name or (sites[0].name if sites[0].name not in (".", "") else "site")
    n_test = int(round(test_fraction * len(sites)))
    pos_rows = []
    for k, s in enumerate(sites):
        if s.chrom not in genome:
            raise InputError(f"chromosome {s.chrom!r} is not in the genome FASTA", str(bed_path))
        site_len = s.end - s.start
        if site_len > window:
            raise InputError(f"site {s.chrom}:{s.start}-{s.end} ({site_len} bp) is longer than the {window} bp window",
                             str(bed_path))
        chrom_len = len(genome[s.chrom])
        offset = int(rng.integers(0, window - site_len + 1))
        wstart = s.start - offset
        if wstart < 0 or wstart + window > chrom_len:
            raise InputError(f"site {s.chrom}:{s.start}-{s.end} is too close to the chromosome end for a "
                             f"{window} bp window", str(bed_path))
        seq = str(genome[s.chrom][wstart:wstart + window])
        if invalid_letter(seq) >= 0:
            raise InputError(f"genome sequence at {s.chrom}:{wstart} has non-DNA letters", str(genome_path))
        if seq.count("N") > max_n_fraction * window:
            continue
        a, b = offset, offset + site_len
        if s.strand == "-":
            seq = reverse_complement(seq)
            a, b = window - b, window - a
        pos_rows.append((k, a, b, s.chrom, wstart, s.strand if s.strand != "." else "+", seq))
    shuffled = dinucleotide_shuffle([r[-1] for r in pos_rows], seed=seed)
    out = {c: [] for c in SNR_COLUMNS}
    line = 0
    for (k, a, b, chrom, wstart, strand, seq), neg in zip(pos_rows, shuffled):
        split = "test" if k < n_test else "train"
        for vals in ((f"{prefix}_{line:06d}", split, 1, a, b, chrom, wstart, strand, seq),
                     (f"{prefix}_{line + 1:06d}", split, 0, -1, -1, "", -1, "", neg)):
            for c, v in zip(SNR_COLUMNS, vals):
                out[c].append(v)
        line += 2
    return out
