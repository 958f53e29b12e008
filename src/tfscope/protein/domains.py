"""DNA-binding domain (DBD) annotation of proteins with pyhmmer over the 88 bundled Pfam DBD HMMs.

``annotate(records)`` runs HMMER's search (``pyhmmer.hmmer.hmmsearch``, the 88 HMMs against the proteins) with
E-values computed as ``hmmscan`` would (``Z`` = number of HMMs), so a protein's E-values do not depend on how many
other proteins are in the input. Per protein it returns its DBD hits (:class:`DomainHit`: Pfam family, 1-based
envelope start/end, independent E-value, bit score, and the domain aligned to its HMM as ``hmmalign`` writes it).

Cut-offs (:data:`DEFAULT_EVALUE`, :data:`DOMAIN_EVALUE`, :data:`FAMILY_EVALUE`):

* a family is reported for a protein when its **per-sequence E-value <= 1e-4** (AnimalTFDB 4's cut-off for its Pfam
  DBD families) and each reported domain of it has a **conditional E-value <= 0.01** (CIS-BP's per-domain rule;
  conditional E-value = domain P-value x number of families with per-sequence E <= 0.01 in that protein, as
  ``hmmscan`` computes it);
* overlapping domains of different families are resolved greedily by E-value (the best one keeps the residues), as
  the JASPAR profile inference tool does;
* per-family overrides go in :data:`FAMILY_EVALUE` (none is needed on the benchmark sets: the measured errors are
  listed in ``docs/protein.md``); :data:`NON_TF_FAMILIES` lists families of the 88 that are *not* counted as
  sequence-specific DBDs for the ``any DBD`` call (``RRM_1``: RNA-recognition motif; ``Sigma70_r2``: bacterial
  sigma factor region 2).
"""

from __future__ import annotations

import gzip
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_write
from ..io.fasta import read_fasta
from .dbdref import hmm_path

#: per-sequence E-value cut-off of a family (AnimalTFDB 4 uses E <= 1e-4 for its Pfam DBD HMMs)
DEFAULT_EVALUE = 1e-4
#: conditional (per-domain) E-value cut-off of a domain of a reported family (CIS-BP)
DOMAIN_EVALUE = 0.01
#: per-sequence E-value under which a family counts as significant for a protein when conditional E-values are
#: computed (HMMER's default inclusion threshold; ``hmmscan`` uses the number of such families as ``domZ``)
INCLUSION_EVALUE = 0.01
#: per-family overrides of :data:`DEFAULT_EVALUE` (family -> per-sequence E-value cut-off)
FAMILY_EVALUE: dict[str, float] = {}
#: families of the 88 HMMs not counted as sequence-specific DBDs by :func:`any_dbd`
NON_TF_FAMILIES = frozenset({"RRM_1", "Sigma70_r2"})

TSV_COLUMNS = ("protein", "family", "accession", "start", "end", "evalue", "score", "seq_evalue", "hmm_from",
               "hmm_to", "aligned")


@dataclass(frozen=True)
class DomainHit:
    """One DBD found in a protein.

    Attributes
    ----------
    protein : str
        Record id.
    family : str
        Pfam family name (HMM ``NAME``), e.g. ``Homeodomain``.
    accession : str
        Pfam accession with version, e.g. ``PF00046.30``.
    start, end : int
        Aligned region of the domain in the protein (HMMER ``ali from``/``ali to``), 1-based, inclusive (residues).
    evalue : float
        Independent E-value of the domain (HMMER ``i-Evalue``, ``Z`` = number of HMMs).
    score : float
        Bit score of the domain.
    seq_evalue : float
        Per-sequence E-value of the family in this protein.
    hmm_from, hmm_to : int
        HMM match states covered by the local alignment (1-based).
    aligned : str
        ``start..end`` aligned to the whole HMM (``hmmalign``-style: upper case = match state, ``-`` = deleted match
        state, lower case = insertion); removing lower-case letters leaves one character per HMM match state.
    """

    protein: str
    family: str
    accession: str
    start: int
    end: int
    evalue: float
    score: float
    seq_evalue: float
    hmm_from: int
    hmm_to: int
    aligned: str

    @property
    def match_states(self) -> str:
        """:attr:`aligned` without insertions: one character per HMM match state."""
        return "".join(c for c in self.aligned if not c.islower())


@lru_cache(maxsize=2)
def load_hmms(path=None) -> tuple:
    """The Pfam DBD HMMs as ``pyhmmer.plan7.HMM`` objects (bundled ``pfam_dbd.hmm.gz`` by default).

    Raises
    ------
    InputError
        The file is missing or not HMMER3 text.
    """
    import pyhmmer

    p = hmm_path() if path is None else path
    try:
        opener = gzip.open if str(p).endswith(".gz") else open
        with opener(p, "rb") as fh, pyhmmer.plan7.HMMFile(fh) as hf:
            hmms = tuple(hf)
    except (OSError, ValueError, EOFError) as e:
        raise InputError(f"{p}: cannot read the DBD HMMs ({e})") from None
    if not hmms:
        raise InputError(f"{p}: no HMM in the file")
    return hmms


def _name(x) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def _aligned(hmm, seq: str, env_from: int, env_to: int) -> str:
    """``hmmalign`` of the envelope ``seq[env_from-1:env_to]`` to ``hmm`` (pyhmmer TraceAligner)."""
    import pyhmmer

    alphabet = hmm.alphabet
    sub = pyhmmer.easel.DigitalSequenceBlock(alphabet, [pyhmmer.easel.TextSequence(
        name=b"d", sequence=seq[env_from - 1:env_to]).digitize(alphabet)])
    aligner = pyhmmer.plan7.TraceAligner()
    traces = aligner.compute_traces(hmm, sub)
    msa = aligner.align_traces(hmm, sub, traces, trim=False, all_consensus_cols=True)
    return msa.alignment[0].replace(".", "")


def clean_hmm_sequence(seq: str) -> str:
    """Sequence letters HMMER's amino alphabet accepts (a trailing ``*`` dropped; J and O read as X)."""
    return seq.rstrip("*").upper().replace("J", "X").replace("O", "X")


def annotate(records: dict[str, str], *, evalue: float = DEFAULT_EVALUE, domain_evalue: float = DOMAIN_EVALUE,
             family_evalue: dict | None = None, hmms=None, non_overlapping: bool = True,
             align: bool = True) -> dict[str, list[DomainHit]]:
    """DBD hits of each protein.

    Parameters
    ----------
    records : dict
        ``{id: protein sequence}`` (upper-case amino acids; ``X`` allowed).
    evalue : float
        Per-sequence E-value cut-off of a family (default 1e-4); ``family_evalue`` overrides it per family
        (default :data:`FAMILY_EVALUE`).
    domain_evalue : float
        Conditional E-value cut-off of each domain of a reported family (default 0.01).
    hmms : sequence of pyhmmer HMMs, optional
        Default: the 88 bundled Pfam DBD HMMs (:func:`load_hmms`).
    non_overlapping : bool
        Resolve overlaps between domains greedily by independent E-value (best kept).
    align : bool
        Fill :attr:`DomainHit.aligned` with the ``hmmalign``-style alignment (needed by motif inference); else
        the local alignment padded with ``-`` (faster).

    Returns
    -------
    dict
        ``{id: [DomainHit, ...]}`` for every input id (empty list: no DBD), hits sorted by start.

    Raises
    ------
    InputError
        No records, or a cut-off that is not positive.
    """
    import pyhmmer

    if not records:
        raise InputError("no protein sequences to annotate")
    for name, v in (("evalue", evalue), ("domain_evalue", domain_evalue)):
        if not (isinstance(v, (int, float)) and v > 0):
            raise InputError(f"{name} must be a positive number, not {v!r}")
    fam_e = dict(FAMILY_EVALUE if family_evalue is None else family_evalue)
    hmms = load_hmms() if hmms is None else tuple(hmms)
    alphabet = pyhmmer.easel.Alphabet.amino()
    ids = list(records)
    block = pyhmmer.easel.DigitalSequenceBlock(alphabet, [
        pyhmmer.easel.TextSequence(name=str(i).encode(), sequence=clean_hmm_sequence(records[rid]) or "X").digitize(alphabet)
        for i, rid in enumerate(ids)])
    z = float(len(hmms))
    loose = max([evalue, *fam_e.values(), INCLUSION_EVALUE])
    raw: dict[int, list] = {i: [] for i in range(len(ids))}
    n_sig = np.zeros(len(ids), dtype=int)  # families included per protein: hmmscan's domZ for that protein
    by_name = {_name(h.name): h for h in hmms}
    for top in pyhmmer.hmmer.hmmsearch(hmms, block, cpus=1, E=loose, domE=1000.0, Z=z, domZ=z):
        fam = _name(top.query.name)
        acc = _name(top.query.accession or b"")
        for hit in top:
            k = int(_name(hit.name))
            if hit.evalue <= INCLUSION_EVALUE:
                n_sig[k] += 1
            if hit.evalue > fam_e.get(fam, evalue):
                continue
            for d in hit.domains:
                a = d.alignment
                raw[k].append((fam, acc, a.target_from, a.target_to, d.i_evalue, d.score, hit.evalue, a.hmm_from,
                               a.hmm_to, a, d.pvalue))
    found: dict[int, list] = {k: [d[:10] for d in v if d[10] * max(n_sig[k], 1) <= domain_evalue]
                              for k, v in raw.items()}
    out = {}
    for k, rid in enumerate(ids):
        doms = sorted(found[k], key=lambda x: x[4])
        kept = []
        for d in doms:
            if non_overlapping and any(d[2] <= o[3] and d[3] >= o[2] for o in kept):
                continue
            kept.append(d)
        hits = []
        seq = clean_hmm_sequence(records[rid])
        for fam, acc, s, e, ev, sc, sev, hf, ht, a in sorted(kept, key=lambda x: x[2]):
            if align:
                al = _aligned(by_name[fam], seq, s, e)
            else:
                core = "".join(c.lower() if h == "." else c for h, c in zip(a.hmm_sequence, a.target_sequence))
                al = "-" * (hf - 1) + core + "-" * (a.hmm_length - ht)
            hits.append(DomainHit(rid, fam, acc, int(s), int(e), float(ev), float(sc), float(sev), int(hf), int(ht),
                                  al))
        out[rid] = hits
    return out


def read_proteins(path) -> dict[str, str]:
    """Protein FASTA records for options that take one (``scan --protein``, ``tfclass predict --protein``).

    Raises
    ------
    InputError
        As :func:`tfscope.io.fasta.read_fasta`; a DNA-like record is refused (those commands have no
        ``--force-protein``).
    """

    try:
        return read_fasta(path, alphabet="protein")
    except InputError as e:
        raise InputError(e.message.replace(" (or force it: --force-protein)", ""), e.path, e.line) from None


def tf_hits(hits: list[DomainHit]) -> list[DomainHit]:
    """The hits counted as sequence-specific DBDs (families not in :data:`NON_TF_FAMILIES`)."""
    return [h for h in hits if h.family not in NON_TF_FAMILIES]


def any_dbd(hits: list[DomainHit], evalue: float = DEFAULT_EVALUE) -> bool:
    """The bare rule: at least one sequence-specific DBD family hits with per-sequence E-value <= ``evalue``."""
    return any(h.seq_evalue <= evalue for h in tf_hits(hits))


def families() -> list[str]:
    """Names of the bundled DBD HMMs, in file order (the columns of :func:`dbd_features`)."""
    return [_name(h.name) for h in load_hmms()]


def dbd_features(hits_by_id: dict[str, list[DomainHit]], ids, lengths) -> tuple[np.ndarray, list[str]]:
    """DBD feature matrix for a linear model.

    Parameters
    ----------
    hits_by_id : dict
        Output of :func:`annotate`.
    ids : sequence of str
        Row order.
    lengths : sequence of int
        Protein lengths (residues), for the covered fraction.

    Returns
    -------
    x : ndarray, shape (n_proteins, n_families + 4)
        Per family ``min(-log10 best per-sequence E-value, 50) / 10`` (0 without a hit); then ``any_dbd`` (0/1),
        ``log1p(number of DBDs)``, covered fraction (residues inside DBD envelopes / length) and
        ``min(-log10 best E-value over TF families, 50) / 10``.
    names : list of str
        Column names.
    """
    fams = families()
    col = {f: i for i, f in enumerate(fams)}
    x = np.zeros((len(ids), len(fams) + 4))
    for r, (rid, n) in enumerate(zip(ids, lengths)):
        hits = hits_by_id.get(rid, [])
        for h in hits:
            v = min(-np.log10(max(h.seq_evalue, 1e-300)), 50.0) / 10
            x[r, col[h.family]] = max(x[r, col[h.family]], v)
        th = tf_hits(hits)
        x[r, -4] = float(any_dbd(hits))
        x[r, -3] = np.log1p(len(th))
        covered = set()
        for h in th:
            covered.update(range(h.start, h.end + 1))
        x[r, -2] = len(covered) / max(int(n), 1)
        x[r, -1] = max((min(-np.log10(max(h.seq_evalue, 1e-300)), 50.0) / 10 for h in th), default=0.0)
    return x, [f"dbd:{f}" for f in fams] + ["any_dbd", "log1p_n_dbd", "dbd_covered_fraction", "best_dbd_score"]


def hit_lines(hits_by_id: dict[str, list[DomainHit]]):
    """TSV lines (with newline) of :data:`TSV_COLUMNS`, one per hit; proteins without hits get no line."""
    yield "\t".join(TSV_COLUMNS) + "\n"
    for rid, hits in hits_by_id.items():
        for h in hits:
            d = asdict(h)
            yield "\t".join(f"{d[c]:.3g}" if c in ("evalue", "seq_evalue") else
                            f"{d[c]:.1f}" if c == "score" else str(d[c]) for c in TSV_COLUMNS) + "\n"


def write_hits(path, hits_by_id: dict[str, list[DomainHit]]) -> None:
    """Write :func:`hit_lines` atomically to ``path`` (``.gz``: compressed)."""

    with atomic_write(path) as fh:
        fh.writelines(hit_lines(hits_by_id))
