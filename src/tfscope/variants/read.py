"""Variant input: VCF/BCF (plain or bgzip, read with pysam) or a TSV ``chrom pos ref alt [id]``, and the genome
(pyfaidx) that REF alleles are checked against.

Coordinates: ``pos`` is **1-based** (VCF convention) everywhere in this package; genome slices are 0-based
half-open (``pos - 1`` is the 0-based index of the first REF base). Multi-allelic records are split into one
:class:`Variant` per ALT allele; SNVs and indels whose REF and ALT are at most :data:`MAX_ALLELE` bp are scored;
symbolic and structural alleles (``<DEL>``, breakends, ``*``), monomorphic records (ALT ``.``), alleles with other
letters than ACGTN and longer alleles are skipped and counted by reason (:data:`SKIP_REASONS`).
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

#: the longest REF or ALT allele scored (bp): SNVs and indels up to 50 bp (an anchored 50 bp indel has 51 bases)
MAX_ALLELE = 51

#: why a variant (one ALT allele) is not scored
SKIP_REASONS = ("symbolic", "no_alt", "too_long", "not_acgt", "unknown_chrom", "ref_mismatch")

_SYMBOLIC = re.compile(r"[<>\[\]*.]")
_ACGTN = re.compile(r"^[ACGTN]+$")


@dataclass
class Variant:
    """One ALT allele of one input record.

    Attributes
    ----------
    chrom : str
        Chromosome as named in the input.
    pos : int
        1-based position of the first REF base (VCF ``POS``).
    ref, alt : str
        Alleles (upper case), on the genome's + strand.
    id : str
        The record's ID (``.`` when none).
    record : int
        0-based index of the input record (a multi-allelic record gives several variants with the same index).
    allele : int
        1-based index of ``alt`` among the record's ALT alleles.
    genotypes : dict
        Haplotypes of the requested sample (:func:`read_variants` ``sample``): ``(allele_on_hap1, allele_on_hap2)``
        as ints (0 = REF, None = missing) and ``phased``; empty without a sample.

    """

    chrom: str
    pos: int
    ref: str
    alt: str
    id: str = "."
    record: int = 0
    allele: int = 1
    genotypes: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """``SNV``, ``MNV``, ``insertion``, ``deletion`` or ``indel`` (complex)."""
        if len(self.ref) == len(self.alt):
            return "SNV" if len(self.ref) == 1 else "MNV"
        if self.ref[0] == self.alt[0] and (len(self.ref) == 1 or len(self.alt) == 1):
            return "insertion" if len(self.alt) > len(self.ref) else "deletion"
        return "indel"


def skip_reason(ref: str, alt: str | None) -> str | None:
    """Why an allele is not scored (one of :data:`SKIP_REASONS`), or None when it is scored."""
    if alt is None or alt in (".", ""):
        return "no_alt"
    if _SYMBOLIC.search(alt) or _SYMBOLIC.search(ref):
        return "symbolic"
    if not _ACGTN.match(ref) or not _ACGTN.match(alt):
        return "not_acgt"
    if len(ref) > MAX_ALLELE or len(alt) > MAX_ALLELE:
        return "too_long"
    return None


def is_vcf(path) -> bool:
    """Whether ``path`` is a VCF/BCF (by its first bytes: ``##fileformat=VCF``, or BCF magic), else a TSV."""
    p = Path(path)
    with open(p, "rb") as fh:
        head = fh.read(16)
    if head[:2] == b"\x1f\x8b":
        with gzip.open(p, "rb") as fh:
            head = fh.read(16)
    return head.startswith(b"##fileformat=VCF") or head.startswith(b"BCF")


def read_records(path, *, sample: str | None = None, counts: dict | None = None):
    """Input records, streamed: yields ``(record_index, [Variant, ...])`` per input record (multi-allelic records
    split; skipped alleles counted in ``counts`` by reason and not yielded).

    Parameters
    ----------
    path : VCF/BCF (plain, gzip or bgzip; read with pysam) or TSV ``chrom pos ref alt [id]`` (tab-separated,
        1-based ``pos``, an optional header line starting with ``chrom`` or ``#``)
    sample : with a VCF, attach this sample's genotypes to each variant (:attr:`Variant.genotypes`)
    counts : dict to count skipped alleles in (reason -> n)

    Raises
    ------
    InputError
        A file that cannot be read as VCF/TSV, a TSV line without 4 columns or with a non-integer ``pos``, or an
        unknown ``sample``.

    """
    counts = {} if counts is None else counts
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", str(path))
    if is_vcf(path):
        yield from _vcf_records(path, sample, counts)
    else:
        if sample:
            raise InputError("--sample needs a VCF input (a TSV has no genotypes)", str(path))
        yield from _tsv_records(path, counts)


def _split(chrom, pos, ref, alts, vid, index, counts, genotypes=None):
    out = []
    for a_i, alt in enumerate(alts or [None], start=1):
        ref_u, alt_u = ref.upper(), None if alt is None else alt.upper()
        why = skip_reason(ref_u, alt_u)
        if why:
            counts[why] = counts.get(why, 0) + 1
            continue
        out.append(Variant(chrom, pos, ref_u, alt_u, vid or ".", index, a_i, genotypes or {}))
    return out


def open_variant_file(path, problem: str = "not a readable VCF/BCF"):
    """Open a VCF/BCF (plain or bgzip) for reading with pysam, without htslib's notes on standard error.

    Raises
    ------
    InputError
        ``problem`` and pysam's reason, naming ``path``.
    """
    import pysam

    pysam.set_verbosity(0)  # no htslib notes about the (unneeded) index on standard error
    try:
        return pysam.VariantFile(str(path))
    except (OSError, ValueError) as e:
        raise InputError(f"{problem} ({e})", str(path)) from None


def _vcf_records(path: Path, sample, counts):
    vf = open_variant_file(path)
    with vf:
        if sample and sample not in vf.header.samples:
            raise InputError(f"sample {sample!r} is not in the VCF (it has: {', '.join(vf.header.samples) or 'none'})",
                             str(path))
        try:
            for i, rec in enumerate(vf):
                gts = {}
                if sample:
                    s = rec.samples[sample]
                    gt = s.get("GT") or (None, None)
                    gts = {"gt": tuple(gt) + (None,) * (2 - len(gt)), "phased": bool(s.phased)}
                yield i, _split(rec.chrom, rec.pos, rec.ref, rec.alts, rec.id, i, counts, gts)
        except (OSError, ValueError) as e:
            raise InputError(f"unreadable VCF record ({e})", str(path)) from None


def _tsv_records(path: Path, counts):
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rt") as fh:
        index = 0
        for line_no, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            f = line.split("\t")
            if line.startswith("#") or (line_no == 1 and f[0].lower() == "chrom"):
                continue
            if len(f) < 4:
                raise InputError(f"expected tab-separated 'chrom pos ref alt [id]', got {len(f)} column(s)",
                                 str(path), line_no)
            try:
                pos = int(f[1])
            except ValueError:
                raise InputError(f"pos {f[1]!r} is not an integer (1-based position)", str(path), line_no) from None
            if pos < 1:
                raise InputError(f"pos {pos} < 1 (positions are 1-based)", str(path), line_no)
            yield index, _split(f[0], pos, f[2], f[3].split(","), f[4] if len(f) > 4 else ".", index, counts)
            index += 1


class Genome:
    """A genome FASTA (plain or bgzip) through pyfaidx; the ``.fai`` index is built when missing (bgzip also needs
    its ``.gzi``, which pyfaidx builds too). Chromosome names are resolved between the ``chr1`` and ``1`` styles.

    Raises
    ------
    InputError
        A missing or unreadable FASTA (a plain-gzip FASTA: recompress it with ``bgzip``).

    """

    def __init__(self, path):
        import pyfaidx

        self.path = Path(path)
        if not self.path.exists():
            raise InputError("no such genome FASTA", str(self.path))
        try:
            self.fasta = pyfaidx.Fasta(str(self.path), as_raw=True, sequence_always_upper=True, rebuild=False)
        except (pyfaidx.UnsupportedCompressionFormat, pyfaidx.FastaIndexingError, OSError, ValueError) as e:
            raise InputError(f"cannot index the genome FASTA ({e}); a gzip FASTA must be bgzip-compressed",
                             str(self.path)) from None
        self.sizes = {k: len(v) for k, v in self.fasta.items()}
        self.renamed: dict[str, str] = {}  # input name -> genome name, where they differ

    def resolve(self, chrom: str) -> str | None:
        """The genome's name of ``chrom`` (``chr1`` <-> ``1``, ``chrM`` <-> ``MT``), or None when absent."""
        if chrom in self.sizes:
            return chrom
        if chrom in self.renamed:
            return self.renamed[chrom]
        alts = [chrom[3:]] if chrom.startswith("chr") else ["chr" + chrom]
        alts += {"chrM": ["MT"], "MT": ["chrM"], "M": ["chrM"]}.get(chrom, [])
        for a in alts:
            if a in self.sizes:
                self.renamed[chrom] = a
                return a
        return None

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """``chrom[start, end)`` (0-based half-open, genome name), N-padded outside the chromosome."""
        size = self.sizes[chrom]
        lo, hi = max(0, start), min(size, end)
        seq = self.fasta[chrom][lo:hi] if hi > lo else ""
        left = min(end, lo) - start
        return "N" * left + seq + "N" * (end - start - left - len(seq))

    def close(self) -> None:
        self.fasta.close()
