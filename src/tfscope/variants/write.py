r"""Outputs of ``tfscope variants``: the effects TSV and the input VCF annotated with ``TFBS_EFFECT``.

The VCF is written with pysam from the input's own header plus one INFO line::

    ##INFO=<ID=TFBS_EFFECT,Number=.,Type=String,Description="TF|effect|delta|qValue ...">

Each record gets ``TFBS_EFFECT=TF|effect|delta|qValue,...`` for its (ALT allele, TF) pairs that the TSV keeps (an
effect, or ``qValue <= --max-q``); ``|`` and ``,`` never occur in TF names or numbers, so ``bcftools query -f
'%INFO/TFBS_EFFECT\\n'`` reads it. A multi-allelic record lists the pairs of all its ALT alleles, each TF prefixed by
its allele when there are several (``2:TF|...``). Plain ``.vcf`` or bgzip ``.vcf.gz`` (by the name), or BCF
``.bcf``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from .read import open_variant_file

INFO_ID = "TFBS_EFFECT"
INFO_DESCRIPTION = ("Variant effects on TF binding from tfscope variants: TF|effect|delta|qValue per (ALT allele, "
                    "TF) pair with an effect (gain or loss: a call at the TF's threshold on one allele only) or "
                    "qValue <= --max-q; delta = altP - refP (probability); multi-allelic records prefix the TF "
                    "with the ALT allele index")

#: number format of the TSV (probabilities and p-values keep 4 significant digits)
FLOAT_FORMAT = "%.4g"


def write_tsv_part(fh, df: pd.DataFrame, columns, *, header: bool) -> None:
    """Append ``df[columns]`` to an open text file as TSV (``header`` on the first part)."""
    df[columns].to_csv(fh, sep="\t", index=False, header=header, float_format=FLOAT_FORMAT, lineterminator="\n")


def info_entries(df: pd.DataFrame) -> dict:
    """``record -> [(ALT, 'TF|effect|delta|qValue'), ...]`` of the rows of ``df`` (:func:`write_vcf` prefixes the
    allele index on multi-allelic records).
    """
    out: dict = {}
    for rec, allele_alt, tf, eff, d, q in zip(df["record"], df["alt"], df["TF"], df["effect"], df["delta"],
                                              df["qValue"]):
        out.setdefault(int(rec), []).append((allele_alt, f"{tf}|{eff}|{d:.4g}|{q:.4g}"))
    return out


def write_vcf(src, dst: Path, entries: dict) -> None:
    """Copy VCF/BCF ``src`` to ``dst`` with ``TFBS_EFFECT`` set from ``entries`` (record index -> [(ALT, text)]).

    Raises
    ------
    InputError
        ``src`` cannot be re-read as VCF.

    """
    import pysam

    name = str(dst)
    mode = "wb" if name.endswith(".bcf") else ("wz" if name.endswith(".gz") else "w")
    vin = open_variant_file(src, "--vcf-out needs a VCF/BCF input")
    with vin:
        header = vin.header
        if INFO_ID not in header.info:
            header.add_meta("INFO", items=[("ID", INFO_ID), ("Number", "."), ("Type", "String"),
                                           ("Description", INFO_DESCRIPTION)])
        with pysam.VariantFile(name, mode, header=header) as vout:
            for i, rec in enumerate(vin):
                got = entries.get(i)
                if got:
                    alts = list(rec.alts or ())
                    vals = [(f"{alts.index(a) + 1}:" if len(alts) > 1 and a in alts else "") + t for a, t in got]
                    rec.info[INFO_ID] = vals
                vout.write(rec)
