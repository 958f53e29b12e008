"""``tfscope variants`` as a library call: read, check REF, score in batches, q-values over the run, write.

:func:`score_variants` returns a pandas DataFrame (everything in memory); :func:`variants_to_files` streams a VCF
of any size in bounded memory: batches of records are scored and spilled to a private temporary TSV with their
p-values counted (p-values of a null take few distinct values, so Benjamini-Hochberg over the run needs only their
counts), then a second pass fills ``qValue``, keeps the requested rows and writes the TSV and, with ``vcf_out``, the
input VCF annotated with ``TFBS_EFFECT``. All outputs are staged and renamed into place together.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..executor import LocalExecutor, default_workers, executor_for
from ..io.atomic import Outputs, refuse_clobbering
from ..resources import resources_dir
from ..scan.engine import on_gpu
from ..scan.models import load_scan_models
from ..zoo.gated import effective_runtime
from ..zoo.registry import list_zoo, load_zoo, zoo_dir
from .null import load_null, null_path
from .read import Genome, Variant, is_vcf, read_records
from .score import BATCH_SIZE, COLUMNS, HAPLOTYPE_COLUMNS, VariantScorer
from .write import info_entries, write_tsv_part, write_vcf

#: records per scored batch: one job of a worker (ref/alt windows of the batch go through the models together)
BATCH_RECORDS = 1000

#: variants named in a REF-mismatch error
MISMATCH_SHOWN = 3


def load_models(*, zoo: str = "genomic", checkpoint=None, tfs=None, device: str = "auto"):
    """``(models, null, jaspar_ids)``: the zoo's models with its variant null (:mod:`tfscope.variants.null`) and
    JASPAR ids, or ``checkpoint`` models (no null: pValue/qValue -1).

    Raises
    ------
    InputError
        An unknown zoo or TF (see :func:`tfscope.zoo.registry.load_zoo`).

    """

    if checkpoint:
        return load_scan_models(checkpoint, device=device, tfs=tfs), None, {}
    models = load_zoo(tfs, kind=zoo, device=device)
    ids = {r["TF"]: r["jaspar_id"] for r in list_zoo(kind=zoo) if r.get("jaspar_id")}
    d = zoo_dir(None, zoo)
    sha = None
    cfg = d / "config.json"
    if cfg.exists():
        import json

        sha = json.loads(cfg.read_text()).get("weights_sha256", {}).get("model.safetensors")
    return models, load_null(null_path(d), weights_sha256=sha, runtime=effective_runtime(models[0].model)), ids


def check_ref(genome: Genome, variants: list[Variant], *, mode: str, counts: dict, path=None) -> list[Variant]:
    """Variants whose chromosome is in the genome and whose REF equals the genome there (1-based ``pos``).

    ``mode = "error"``: the first mismatching variants raise; ``"skip"``: they are dropped and counted
    (``counts["ref_mismatch"]``). Unknown chromosomes are always skipped and counted (``unknown_chrom``).

    Raises
    ------
    InputError
        ``mode = "error"`` and a REF differs from the genome: one line naming up to :data:`MISMATCH_SHOWN`
        variants (``chrom:pos REF>ALT (genome has X)``).

    """
    keep, bad = [], []
    for v in variants:
        chrom = genome.resolve(v.chrom)
        if chrom is None:
            counts["unknown_chrom"] = counts.get("unknown_chrom", 0) + 1
            continue
        g = genome.fetch(chrom, v.pos - 1, v.pos - 1 + len(v.ref))
        if g != v.ref and not (set(v.ref) <= {"N"} or set(g) <= {"N"}):
            bad.append((v, g))
            continue
        keep.append(v)
    if bad and mode == "error":
        shown = ", ".join(f"{v.chrom}:{v.pos} {v.ref}>{v.alt} (genome has {g or 'nothing'})"
                          for v, g in bad[:MISMATCH_SHOWN])
        raise InputError(f"REF differs from the genome (1-based positions) at {shown}"
                         + (f" and {len(bad) - MISMATCH_SHOWN} more in this batch" if len(bad) > MISMATCH_SHOWN
                            else "") + "; check the genome build or use --ref-mismatch skip", path)
    counts["ref_mismatch"] = counts.get("ref_mismatch", 0) + len(bad)
    return keep


def haplotype_edits(batch: list[Variant], flank: int) -> tuple[list[Variant], list, list[int]]:
    """Per (variant, haplotype carrying its ALT) of a phased sample: the variant, the other ALT alleles of that
    haplotype within ``flank`` bp (edits ``(s0, ref, alt)``) and the haplotype (1 or 2). Unphased or missing
    genotypes give no haplotype rows.
    """
    out_v, out_e, out_h = [], [], []
    for v in batch:
        g = v.genotypes
        if not g or not g.get("phased"):
            continue
        for h, a in enumerate(g["gt"][:2], start=1):
            if a != v.allele:
                continue
            others = [(u.pos - 1, u.ref, u.alt) for u in batch if u is not v and u.chrom == v.chrom
                      and abs(u.pos - v.pos) <= flank and u.genotypes.get("phased")
                      and len(u.genotypes["gt"]) >= h and u.genotypes["gt"][h - 1] == u.allele]
            out_v.append(v)
            out_e.append(others)
            out_h.append(h)
    return out_v, out_e, out_h


def score_batch(scorer: VariantScorer, genome: Genome, batch: list[Variant], *, haplotypes: bool = False
                ) -> pd.DataFrame:
    """Rows of one batch; with ``haplotypes`` the joint columns (:data:`HAPLOTYPE_COLUMNS`) are added: each row of
    a variant that a phased haplotype carries gets the haplotype's joint ALT probability (every ALT allele of that
    haplotype within the receptive field applied together), ``jointDelta = jointAltP - refP`` and its effect.
    """
    df = scorer.score(genome, batch)
    if not haplotypes:
        return df
    hv, he, hh = haplotype_edits(batch, scorer.flank)
    for c in HAPLOTYPE_COLUMNS:
        df[c] = "." if c in ("haplotype", "hapVariants", "jointEffect") else np.nan
    if not hv:
        return df
    joint = scorer.score(genome, hv, edits=he)
    T = len(scorer.models)
    key = {(v.record, v.allele): i for i, v in enumerate(batch)}
    for k, (v, e, h) in enumerate(zip(hv, he, hh)):
        i = key[(v.record, v.allele)]
        rows = df.index[i * T:(i + 1) * T]
        j = joint.iloc[k * T:(k + 1) * T]
        ref_p = df.loc[rows, "refP"].to_numpy()
        alt_p = j["altP"].to_numpy()
        thr = np.array([m.threshold for m in scorer.models])
        prev = df.loc[rows, "haplotype"].to_numpy()
        take = prev == "."  # first haplotype carrying the ALT; a homozygous ALT keeps haplotype 1 and says so
        hap = f"{h}" if all(take) else "1,2"
        df.loc[rows, "haplotype"] = hap
        df.loc[rows[take], "hapVariants"] = ";".join(f"{s + 1}:{r}>{a}" for s, r, a in e) or "."
        df.loc[rows[take], "jointAltP"] = alt_p[take]
        df.loc[rows[take], "jointDelta"] = (alt_p - ref_p)[take]
        eff = np.where((alt_p >= thr) & (ref_p < thr), "gain", np.where((ref_p >= thr) & (alt_p < thr), "loss",
                                                                        "none"))
        df.loc[rows[take], "jointEffect"] = eff[take]
    return df


def qvalue_table(p_counts: dict) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini-Hochberg q-values of the distinct p-values of a run from their counts: ``(p, q)`` sorted by p."""
    if not p_counts:
        return np.zeros(0), np.zeros(0)
    p = np.array(sorted(p_counts))
    k = np.cumsum([p_counts[x] for x in p])
    m = k[-1]
    q = np.minimum.accumulate((p * m / k)[::-1])[::-1]
    return p, np.minimum(q, 1.0)


def fill_qvalues(df: pd.DataFrame, table) -> None:
    """Set ``qValue`` from a :func:`qvalue_table` (``-1`` where ``pValue`` is -1)."""
    p, q = table
    pv = df["pValue"].to_numpy(float)
    if len(p):
        i = np.clip(np.searchsorted(p, pv), 0, len(p) - 1)
        df["qValue"] = np.where(pv >= 0, q[i], -1.0)


def count_p(df: pd.DataFrame, p_counts: dict) -> None:
    """Add the run's p-values of ``df`` (>= 0) to ``p_counts`` (value -> count)."""
    v, c = np.unique(df["pValue"].to_numpy(float), return_counts=True)
    for a, b in zip(v, c):
        if a >= 0:
            p_counts[float(a)] = p_counts.get(float(a), 0) + int(b)


#: this process's genome handles (pyfaidx file handles must not be shared by forked workers), by (pid, path)
_GENOMES: dict = {}


def process_genome(path) -> Genome:
    """This process's :class:`Genome` of ``path``, opened on first use (each forked worker or Ray actor opens its
    own handle; the parent registers its open one, :func:`iter_scored`)."""
    key = (os.getpid(), str(path))
    if key not in _GENOMES:
        _GENOMES[key] = Genome(path)
    return _GENOMES[key]


def _score_job(state, batch: list[Variant]):
    """One worker's job: ``(rows, seconds)`` of a batch of REF-checked variants (:func:`score_batch`)."""
    scorer, genome_path, haplotypes = state
    before = dict(scorer.seconds)
    df = score_batch(scorer, process_genome(genome_path), batch, haplotypes=haplotypes)
    return df, {k: scorer.seconds[k] - before[k] for k in before}


def iter_batches(path, genome: Genome, *, ref_mismatch: str = "error", sample=None, counts: dict | None = None,
                 batch_records: int | None = None):
    """Batches of REF-checked variants (:func:`check_ref`) of ``batch_records`` input records each (default
    :data:`BATCH_RECORDS`), streamed from ``path``; ``counts`` gets the skips by reason, ``scored`` and
    ``records``."""
    counts = {} if counts is None else counts
    batch_records = batch_records or BATCH_RECORDS
    batch, n_rec = [], 0

    def checked():
        ok = check_ref(genome, batch, mode=ref_mismatch, counts=counts, path=str(path))
        counts["scored"] = counts.get("scored", 0) + len(ok)
        return ok

    for _, vs in read_records(path, sample=sample, counts=counts):
        batch.extend(vs)
        n_rec += 1
        if n_rec % batch_records == 0 and batch:
            yield checked()
            batch = []
    if batch:
        yield checked()
    counts["records"] = n_rec


def iter_scored(batches, genome: Genome, scorer: VariantScorer, *, haplotypes: bool = False, executor=None,
                seconds: dict | None = None):
    """Scored batches (DataFrames without q-values, in input order) of an iterable of variant batches.

    Parameters
    ----------
    batches : iterable of lists of REF-checked :class:`Variant` (:func:`iter_batches`), consumed lazily
    genome : the parent's open genome (workers open their own from its path)
    scorer : the models; made resident in each worker once (forked copy-on-write, or put in Ray's object store)
    executor : :class:`tfscope.executor.LocalExecutor` or :class:`tfscope.executor.RayExecutor` (default: this
        process); models on a GPU always run in this process
    seconds : accumulates the workers' model and PWM seconds (``{"model": s, "pwm": s}``)
    """
    executor = executor or LocalExecutor(1)
    seconds = {} if seconds is None else seconds
    key = (os.getpid(), str(genome.path))
    registered = key not in _GENOMES
    if registered:
        _GENOMES[key] = genome  # jobs run in this process reuse the open handle
    try:
        for df, secs in executor.imap(_score_job, batches, state=(scorer, str(genome.path), haplotypes),
                                      in_process=on_gpu(scorer.models)):
            for k, v in secs.items():
                seconds[k] = seconds.get(k, 0.0) + v
            yield df
    finally:
        if registered:
            _GENOMES.pop(key, None)


def keep_rows(df: pd.DataFrame, *, all_rows: bool, max_q: float) -> pd.DataFrame:
    """Rows written: every row with ``all_rows``, else ``effect != none`` or ``0 <= qValue <= max_q``."""
    if all_rows:
        return df
    q = df["qValue"].to_numpy(float)
    return df[(df["effect"] != "none") | ((q >= 0) & (q <= max_q))]


def score_variants(variants, genome, *, zoo: str = "genomic", checkpoint=None, tfs=None, device: str = "auto",
                   ref_mismatch: str = "error", sample: str | None = None, haplotypes: bool = False,
                   all_rows: bool = True, max_q: float = 0.05, pwm: bool = True, batch_size: int = BATCH_SIZE,
                   models=None, workers: int = 1, executor="local") -> pd.DataFrame:
    """Effects of variants on TF binding, one row per (variant ALT allele, TF), in memory.

    Parameters
    ----------
    variants : path of a VCF/BCF (plain or bgzip) or TSV ``chrom pos ref alt [id]`` (1-based), or a list of
        :class:`tfscope.variants.read.Variant`
    genome : path of the genome FASTA (plain or bgzip; ``.fai`` built when missing) or a
        :class:`tfscope.variants.read.Genome`
    zoo, checkpoint, tfs, device : the models (default: the bundled genomic zoo on ``auto`` device)
    ref_mismatch : ``error`` (raise on a REF that differs from the genome) or ``skip``
    sample, haplotypes : score each phased haplotype of ``sample`` jointly (:func:`score_batch`)
    all_rows, max_q : keep every row (default), else rows with an effect or ``qValue <= max_q``
    pwm : compute the PWM baseline columns
    models : already loaded ``(models, null, jaspar_ids)`` (:func:`load_models`) instead of zoo/checkpoint
    workers, executor : where batches of :data:`BATCH_RECORDS` records are scored: ``local`` (``workers`` forked
        processes, one torch thread each; 1: this process) or ``ray`` (``workers`` Ray actors), or an executor
        object (:mod:`tfscope.executor`), used as given and not closed

    Returns
    -------
    pandas.DataFrame with :data:`tfscope.variants.score.COLUMNS` (plus ``record``, the 0-based input record, and
    :data:`HAPLOTYPE_COLUMNS` with ``haplotypes``); ``attrs["counts"]`` holds the skips by reason.

    Raises
    ------
    InputError
        Unreadable input, REF mismatch with ``ref_mismatch="error"``, unknown TF or zoo.

    """
    if ref_mismatch not in ("error", "skip"):
        raise InputError(f"ref_mismatch must be 'error' or 'skip', not {ref_mismatch!r}")
    if haplotypes and not sample:
        raise InputError("--haplotypes needs --sample NAME (the sample whose phased genotypes are joined)")
    models, null, ids = models or load_models(zoo=zoo, checkpoint=checkpoint, tfs=tfs, device=device)
    scorer = VariantScorer(models, null=null, jaspar_ids=ids, pwm=pwm, batch_size=batch_size)
    g = genome if isinstance(genome, Genome) else Genome(genome)
    counts: dict = {}
    seconds = {"model": 0.0, "pwm": 0.0}
    if isinstance(variants, (str, Path)):
        batches = iter_batches(variants, g, ref_mismatch=ref_mismatch, sample=sample, counts=counts)
    else:
        ok = check_ref(g, list(variants), mode=ref_mismatch, counts=counts)
        counts["scored"] = len(ok)
        batches = [ok[i:i + BATCH_RECORDS] for i in range(0, len(ok), BATCH_RECORDS)]
    with executor_for(executor, workers or default_workers()) as ex:
        parts = list(iter_scored(batches, g, scorer, haplotypes=haplotypes, executor=ex, seconds=seconds))
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    p_counts: dict = {}
    count_p(df, p_counts)
    fill_qvalues(df, qvalue_table(p_counts))
    df = keep_rows(df, all_rows=all_rows, max_q=max_q).reset_index(drop=True)
    df.attrs["counts"] = counts
    df.attrs["seconds"] = seconds
    return df


#: rows of the report's table (the strongest effects; the TSV has every written row)
REPORT_ROWS = 2_000
#: variant views (REF/ALT tracks and attribution logos) in the report by default
N_VIEWS = 6


def strongest_effects(df: pd.DataFrame, n: int = REPORT_ROWS) -> pd.DataFrame:
    """The ``n`` strongest rows: gains and losses first, then by decreasing ``|delta|`` (ties: input order)."""
    rank = (df["effect"].to_numpy() != "none") * 2.0 + np.abs(df["delta"].to_numpy(float))
    order = np.argsort(-rank, kind="stable")[:n]
    return df.iloc[order].reset_index(drop=True)


def variants_to_files(input_path, genome, out, *, vcf_out=None, json_path=None, report=None,
                      attributions: int = N_VIEWS, zoo: str = "genomic", checkpoint=None, tfs=None,
                      device: str = "auto", ref_mismatch: str = "error", sample: str | None = None,
                      haplotypes: bool = False, all_rows: bool = False, max_q: float = 0.05,
                      batch_size: int = BATCH_SIZE, workers: int | None = None, executor="local",
                      verbose: bool = False) -> dict:
    """The library call of ``tfscope variants``: stream ``input_path``, write the effects TSV ``out`` (and
    ``vcf_out``, ``report``, ``json_path``) atomically together; returns the run summary (counts by effect, skips
    by reason, seconds).

    Parameters
    ----------
    input_path, genome : see :func:`score_variants`
    out : TSV path (header line; :data:`tfscope.variants.score.COLUMNS`)
    vcf_out : the input VCF with ``TFBS_EFFECT`` (:mod:`tfscope.variants.write`), optional
    report : self-contained HTML page (:func:`tfscope.variants.report.write_variant_report`): the strongest
        effects with REF/ALT probability tracks and attribution logos, and a table of the written rows, optional
    attributions : variant views (tracks and logos) in ``report``
    json_path : the summary as JSON, optional
    workers, executor : as :func:`score_variants` (default: :func:`tfscope.executor.default_workers` local
        processes)
    verbose : progress over the scored variants

    Raises
    ------
    InputError
        As :func:`score_variants`; ``vcf_out`` with a TSV input.

    """
    from tqdm.auto import tqdm

    t0 = time.time()
    if ref_mismatch not in ("error", "skip"):
        raise InputError(f"--ref-mismatch must be 'error' or 'skip', not {ref_mismatch!r}")
    if haplotypes and not sample:
        raise InputError("--haplotypes needs --sample NAME (the sample whose phased genotypes are joined)")
    if not Path(input_path).exists():
        raise InputError("no such file", str(input_path))
    if vcf_out and not is_vcf(input_path):
        raise InputError("--vcf-out needs a VCF/BCF input", str(input_path))
    if attributions < 0:
        raise InputError(f"--attributions must be >= 0, not {attributions}")
    refuse_clobbering([("--out", out), ("--vcf-out", vcf_out), ("--report", report), ("--json", json_path)],
                      [("INPUT", input_path), ("--genome FASTA", genome), ("its index", f"{genome}.fai")])
    g = Genome(genome)  # genome errors before the models load
    models, null, ids = load_models(zoo=zoo, checkpoint=checkpoint, tfs=tfs, device=device)
    scorer = VariantScorer(models, null=null, jaspar_ids=ids, batch_size=batch_size)
    counts: dict = {}
    p_counts: dict = {}
    seconds = {"model": 0.0, "pwm": 0.0}
    cols = COLUMNS + (HAPLOTYPE_COLUMNS if haplotypes else [])
    by_effect = {"gain": 0, "loss": 0, "none": 0}
    with Outputs() as outputs, executor_for(executor, workers or default_workers()) as ex:
        spill = outputs.tempdir(Path(out)) / "scored.tsv"
        bar = tqdm(desc="variants", unit=" variants", disable=None if verbose else True)
        with open(spill, "w") as fh:  # pass 1: score, spill, count p-values
            first = True
            batches = iter_batches(input_path, g, ref_mismatch=ref_mismatch, sample=sample, counts=counts)
            for df in iter_scored(batches, g, scorer, haplotypes=haplotypes, executor=ex, seconds=seconds):
                count_p(df, p_counts)
                for e, n in df["effect"].value_counts().items():
                    by_effect[e] += int(n)
                write_tsv_part(fh, df, cols + ["record"], header=first)
                bar.update(len(df) // len(models))
                first = False
            if first:
                fh.write("\t".join(cols + ["record"]) + "\n")
        bar.close()
        table = qvalue_table(p_counts)
        entries, kept, strongest = {}, 0, None
        with outputs.open(out) as fh:  # pass 2: q-values, rows kept
            first = True
            for df in pd.read_csv(spill, sep="\t", chunksize=200_000, keep_default_na=False,
                                  dtype={"chrom": str, "id": str, "ref": str, "alt": str}):
                fill_qvalues(df, table)
                df = keep_rows(df, all_rows=all_rows, max_q=max_q)
                kept += len(df)
                write_tsv_part(fh, df, cols, header=first)
                first = False
                if vcf_out is not None:
                    for k, v in info_entries(keep_rows(df, all_rows=False, max_q=max_q)).items():
                        entries.setdefault(k, []).extend(v)
                if report is not None:
                    strongest = strongest_effects(df if strongest is None else pd.concat([strongest, df]))
            if first:
                fh.write("\t".join(cols) + "\n")
        if vcf_out is not None:
            tmp = outputs.tempdir(Path(vcf_out)) / Path(vcf_out).name
            write_vcf(input_path, tmp, entries)
            outputs.add(tmp, vcf_out)
        summary = {"records": counts.get("records", 0), "variants_scored": counts.get("scored", 0),
                   "tfs": [m.name for m in models], "rows_written": kept, "effects": by_effect,
                   "skipped": {k: v for k, v in counts.items() if k not in ("records", "scored") and v},
                   "chrom_renamed": dict(g.renamed), "seconds": round(time.time() - t0, 3),
                   "seconds_model": round(seconds["model"], 3), "seconds_pwm": round(seconds["pwm"], 3),
                   "null": bool(null), "workers": ex.workers, "executor": ex.name,
                   "outputs": {"tsv": str(out), **({"vcf": str(vcf_out)} if vcf_out else {}),
                               **({"report": str(report)} if report else {})}}
        if report is not None:
            from .report import write_variant_report

            write_variant_report(report, rows=strongest if strongest is not None else pd.DataFrame(columns=cols),
                                 scorer=scorer, genome=g, n_views=attributions, summary=summary,
                                 title=f"tfscope variants: {Path(input_path).name}", outputs=outputs)
        g.close()
        if json_path and json_path != "-":
            with outputs.open(json_path) as fh:
                json.dump(summary, fh, indent=2)
    return summary


#: the variant of the bundled example that breaks a known site (resources/variants/README.md)
EXAMPLE_BREAK = ("FOXK1_site_break", "FOXK1")


def example_paths() -> tuple[Path, Path]:
    """``(VCF, genome FASTA)`` of the bundled example: six real hg19 regions of the demo as contigs and a bgzipped
    VCF with an SNV that breaks a known FOXK1 site, a multi-allelic SNV, a deletion, an insertion, a symbolic
    allele and phased genotypes of one sample.
    """

    d = resources_dir() / "variants"
    return d / "example.vcf.gz", d / "example_genome.fa"


def example_note(tsv) -> str:
    """One line on the example variant that breaks a known site, read from the written TSV ``tsv``."""
    df = pd.read_csv(tsv, sep="\t", keep_default_na=False)
    vid, tf = EXAMPLE_BREAK
    r = df[(df["id"] == vid) & (df["TF"] == tf)]
    if not len(r):
        return f"example: {vid} has no {tf} row"
    r = r.iloc[0]
    return (f"example: {r['chrom']}:{r['pos']} {r['ref']}>{r['alt']} lies in a known ChIP-seq {tf} site: "
            f"refP {float(r['refP']):.3f} (precision {float(r['refPrecision']):.2f}) -> altP {float(r['altP']):.3f}, "
            f"effect {r['effect']}, pValue {float(r['pValue']):.2g}; PWM log-odds {float(r['pwmRef']):.1f} -> "
            f"{float(r['pwmAlt']):.1f}")
