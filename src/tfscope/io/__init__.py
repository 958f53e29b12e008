"""Input/output: the one place where files are parsed, validated and written (atomically)."""

from .atomic import atomic_write
from .bed import BedRecord, read_bed, write_bed
from .fasta import read_fasta, write_fasta
from .tables import SNR_COLUMNS, read_snr_table, write_snr_table

__all__ = ["atomic_write", "BedRecord", "read_bed", "write_bed", "read_fasta", "write_fasta",
           "SNR_COLUMNS", "read_snr_table", "write_snr_table"]
