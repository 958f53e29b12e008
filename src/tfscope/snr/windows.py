"""Build nucleotide-resolution TFBS windows from a BED of binding sites and a genome FASTA (pyfaidx)."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..io.bed import read_bed
from ..io.tables import SNR_COLUMNS
from ..sequence import invalid_letter, reverse_complement
from ..shuffle import dinucleotide_shuffle

NEGATIVES = ("shuffled", "genomic", "both")


def build_windows(bed_path, genome_path, *, window: int = 100, seed: int = 0, name: str | None = None,
                  test_fraction: float = 0.2, max_n_fraction: float = 0.0,
                  negatives: str = "shuffled") -> dict[str, list]:
    """Turn binding sites into fixed windows with per-nucleotide labels and negatives (1:1 per kind).

    Each site ``[start, end)`` of the BED is placed at a seeded random offset inside a ``window`` bp window
    (the site must fit: longer sites raise). On ``-`` strand sites the window is reverse-complemented, so the
    sequence reads on the site's strand (as in the BertSNR benchmark). Each bound window is followed by its
    negatives (``bound == 0``): its dinucleotide shuffle (``negatives="shuffled"``, the BertSNR protocol), a
    GC-matched genome window without any of the sites (``"genomic"``, drawn by tangermeme's
    ``match.extract_matching_loci`` from 100 bp bins of the same chromosomes that overlap no site window; ``+``
    strand, with its location), or both. The first ``test_fraction`` of sites are ``test``, the rest ``train``
    (the benchmark's convention); negatives share their positive's split.

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
    negatives : {"shuffled", "genomic", "both"}
        Kind of negatives (see above). When the genome has fewer GC-matched bins than sites, the last sites get
        no genomic negative.

    Returns
    -------
    dict of lists
        Columns of :data:`tfscope.io.tables.SNR_COLUMNS`, ready for :func:`tfscope.io.write_snr_table`.

    Raises
    ------
    InputError
        Unknown chromosome, a site longer than the window, a site too close to a chromosome end, or an unknown
        ``negatives`` kind.
    """
    import pyfaidx

    if negatives not in NEGATIVES:
        raise InputError(f"negatives must be one of {', '.join(NEGATIVES)}, not {negatives!r}")

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
    negs: list[list[tuple]] = [[] for _ in pos_rows]
    if negatives in ("shuffled", "both"):
        for i, neg in enumerate(dinucleotide_shuffle([r[-1] for r in pos_rows], seed=seed)):
            negs[i].append((0, -1, -1, "", -1, "", neg))
    if negatives in ("genomic", "both"):
        for i, (chrom, start) in enumerate(_gc_matched(pos_rows, genome_path, window, seed, max_n_fraction)):
            negs[i].append((0, -1, -1, chrom, start, "+", str(genome[chrom][start:start + window])))
    out = {c: [] for c in SNR_COLUMNS}
    line = 0
    for (k, a, b, chrom, wstart, strand, seq), neg_rows in zip(pos_rows, negs):
        split = "test" if k < n_test else "train"
        for vals in ((1, a, b, chrom, wstart, strand, seq), *neg_rows):
            for c, v in zip(SNR_COLUMNS, (f"{prefix}_{line:06d}", split, *vals)):
                out[c].append(v)
            line += 1
    return out


def _gc_matched(pos_rows, genome_path, window: int, seed: int, max_n_fraction: float) -> list[tuple[str, int]]:
    """GC-matched genome windows ``(chrom, start)`` for the bound windows (tangermeme ``extract_matching_loci``),
    in a seeded random order so that the i-th goes with the i-th site."""
    import pandas as pd
    from tangermeme.match import extract_matching_loci

    loci = pd.DataFrame({"chrom": [r[3] for r in pos_rows], "start": [r[4] for r in pos_rows],
                         "end": [r[4] + window for r in pos_rows]})
    m = extract_matching_loci(loci, str(genome_path), in_window=window, out_window=window,
                              max_n_perc=max(max_n_fraction, 1e-9), random_state=seed)
    order = np.random.default_rng(seed).permutation(len(m))
    return [(str(m["chrom"].iloc[i]), int(m["start"].iloc[i])) for i in order]
