"""Any TF in one scan: :func:`scan_motifs`, the entry point behind ``tfscope scan FA --motifs jaspar|FILE``.

Every matrix gets calls, each stating its ``evidence``:

- ``trained``: the matrix's TF is in the zoo; the zoo's trained model calls it (its own calibration);
- ``motif-conditioned``: the motif-conditioned network (:mod:`tfscope.anytf.model`) rescores the matrix's loose PWM
  hits; the call's ``precision`` comes from leave-group-out calibration (:mod:`tfscope.anytf.calibrate`), so it is
  the precision expected for a TF the network was never trained on;
- ``pwm``: the PWM floor -- matrices whose information-content bin the network does not beat FIMO in (chr7,
  leave-group-out) are called as FIMO hits, with a precision map of their own.

Calls have the scanner's record type and columns (:class:`tfscope.io.bed.BedRecord`, BED6 +
:data:`tfscope.io.tracks.CALL_COLUMNS`) plus :data:`EXTRA_COLUMNS` (``evidence``, ``matrixId``); see
:data:`MOTIF_CALLS_AUTOSQL`. One call per binding event: the best hit of a matrix among those closer than its width.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..checkpoint import load_checkpoint, read_config
from ..errors import CheckpointError, InputError
from ..io.bed import BedRecord
from ..io.tracks import CALL_COLUMNS, CALLS_AUTOSQL, MOTIF_COLUMNS
from ..resources import resource
from ..scan.engine import scan
from ..sequence import invalid_letter, one_hot, reverse_complement
from ..zoo.registry import load_zoo, zoo_tfs
from .calibrate import apply_precision, bh_qvalues_over, ic_bins
from .candidates import CONTEXT, Candidates, candidate_features, find_candidates, local_best, score_range
from .motifs import MAX_WIDTH, Motif, load_motifs, motif_features, name_key, padded_matrices, select_motifs

#: the columns the any-TF scan adds after the scanner's (:data:`tfscope.io.tracks.MOTIF_COLUMNS`)
EXTRA_COLUMNS = MOTIF_COLUMNS

#: autoSql of the any-TF calls: the scanner's columns (:data:`tfscope.io.tracks.CALLS_AUTOSQL`) + evidence, matrixId
MOTIF_CALLS_AUTOSQL = (CALLS_AUTOSQL.replace("table tfscopeCalls", "table tfscopeMotifCalls", 1)
                       .rstrip().removesuffix(")").rstrip() + "\n"
                       '    string evidence;       "trained (zoo model) | motif-conditioned (network; FIMO p-value, '
                       'q over every test) | pwm (FIMO hit; FIMO p-value, q over every test)"\n'
                       '    string matrixId;       "JASPAR matrix ID (or the motif file\'s ID)"\n)\n')

#: bp of each scanned row (records are laid end to end with spacers, then cut into rows with margins)
ROW = 50_000
#: margin of a row on each side (context + widest matrix + slack): hits are kept in the row's core only
MARGIN = CONTEXT + MAX_WIDTH + 15
#: zeros between records (beyond every context)
SPACER = 2 * CONTEXT + 1


def default_model_dir() -> Path:
    """The bundled motif-conditioned checkpoint (``tfscope/resources/anytf``)."""

    return resource("anytf")


@functools.lru_cache(maxsize=2)
def load_motif_model(path: str | None = None):
    """The motif-conditioned network and its calibration (``meta``) from a checkpoint (default: bundled).

    Raises
    ------
    CheckpointError
        Not an ``anytf`` checkpoint, checksum mismatch, corrupt weights.
    """

    model, cfg = load_checkpoint(Path(path) if path else default_model_dir(), task="anytf")
    model.eval()
    return model, cfg["meta"]


def _pack(sequences: dict[str, str]):
    """Records laid end to end (SPACER zeros between) and cut into rows of at most ROW bp with MARGIN bp each side.

    Returns (rows (R, 4, row + 2 MARGIN) float32, record offsets in the stream, record lengths, ids, row)."""

    ids = list(sequences)
    lens = np.array([len(sequences[i]) for i in ids], np.int64)
    offs = np.zeros(len(ids), np.int64)
    pos = SPACER
    for k, n in enumerate(lens):
        offs[k] = pos
        pos += n + SPACER
    total = pos
    row = min(ROW, total)
    n_rows = max(1, -(-total // row))
    stream = np.zeros((4, n_rows * row + 2 * MARGIN), np.float32)  # stream coordinate p is column p + MARGIN
    for k, i in enumerate(ids):
        stream[:, MARGIN + offs[k]:MARGIN + offs[k] + lens[k]] = one_hot([sequences[i]], length=int(lens[k]))[0]
    rows = np.lib.stride_tricks.sliding_window_view(stream, row + 2 * MARGIN, axis=1)[:, ::row][:, :n_rows]
    return np.ascontiguousarray(np.transpose(rows, (1, 0, 2))), offs, lens, ids, row


def _context_embeddings(model, rows: np.ndarray, c: Candidates) -> np.ndarray:
    """Trunk output at each candidate's centre, read on its strand: ``(n, channels)``. One trunk pass per row and
    strand, shared by every matrix."""
    import torch

    out = None
    ctr = c.center
    L = rows.shape[-1]
    with torch.no_grad():
        for r in np.unique(c.seq):
            sel = np.flatnonzero(c.seq == r)
            x = torch.from_numpy(np.pad(rows[r], ((0, 0), (CONTEXT, CONTEXT))))[None]
            fwd = model.trunk(x)[0]
            rev = model.trunk(torch.flip(x, (1, 2)))[0]  # reverse complement: flip bases and positions
            plus = c.strand[sel] > 0
            emb = torch.empty((len(sel), fwd.shape[0]))
            i = torch.from_numpy(ctr[sel])
            emb[torch.from_numpy(plus)] = fwd[:, i[torch.from_numpy(plus)]].T
            emb[torch.from_numpy(~plus)] = rev[:, (L - 1 - i)[torch.from_numpy(~plus)]].T
            if out is None:
                out = np.zeros((len(c), fwd.shape[0]), np.float32)
            out[sel] = emb.numpy()
    return out if out is not None else np.zeros((0, 1), np.float32)


def score_motif_candidates(model, rows: np.ndarray, c: Candidates, motifs: list[Motif], feats: np.ndarray,
                           *, batch_size: int = 65536) -> np.ndarray:
    """Network probabilities ``(n,)`` of candidates on packed rows (shared trunk, per-matrix embedding, head)."""
    import torch

    if not len(c):
        return np.zeros(0, np.float32)
    ctx = _context_embeddings(model, rows, c)
    with torch.no_grad():
        emb = model.encode_motifs(torch.from_numpy(padded_matrices(motifs)), torch.from_numpy(motif_features(motifs)))
        out = np.zeros(len(c), np.float32)
        for i in range(0, len(c), batch_size):
            j = slice(i, i + batch_size)
            out[j] = torch.sigmoid(model.head(torch.from_numpy(ctx[j]), emb[torch.from_numpy(c.motif[j])],
                                              torch.from_numpy(feats[j]))).numpy()
    return out


def _zoo_calls(sequences, names: list[str], matrix_of: dict, workers, zoo: str = "genomic") -> list[BedRecord]:
    models = load_zoo(names, device="cpu", kind=zoo)
    recs, _ = scan(models, sequences, workers=workers)
    for r in recs:
        r.extra = list(r.extra) + ["trained", matrix_of.get(name_key(r.name), ".")]
    return recs


def scan_motifs(sequences: dict[str, str], motifs="jaspar", *, tfs=None, model=None, use_zoo: bool = True,
                min_precision: float | None = None, pwm_floor: bool = True,
                workers: int | None = None, zoo: str = "genomic") -> list[BedRecord]:
    """Calls of every matrix on every sequence.

    Parameters
    ----------
    sequences : dict id -> DNA string (any length; IUPAC letters, N = unknown)
    motifs : ``"jaspar"`` (JASPAR 2024 CORE vertebrates, 879 matrices), a motif file path (MEME, JASPAR, PFM,
        TRANSFAC) or a list of :class:`tfscope.anytf.motifs.Motif`
    tfs : optional TF names or matrix IDs to keep (:func:`tfscope.anytf.motifs.select_motifs`)
    model : motif-conditioned checkpoint directory (default: the bundled one)
    use_zoo : matrices of zoo TFs are called by the zoo's trained models (evidence ``trained``); False sends them
        through the motif-conditioned model too
    min_precision : keep calls whose estimated precision reaches this (default: the chr7-chosen thresholds)
    pwm_floor : apply the PWM floor (default); False sends every non-zoo matrix through the network (evidence
        ``motif-conditioned``, its leave-group-out precision) even where it does not beat FIMO
    workers : processes of the zoo scan (:func:`tfscope.scan.engine.scan`)
    zoo : which zoo calls the matrices of its TFs (:data:`tfscope.zoo.registry.ZOOS`: ``genomic``, the default, or
        ``fast``, its distilled copy; ``shuffled``)

    Returns
    -------
    list of :class:`tfscope.io.bed.BedRecord`, sorted by sequence (input order), start, name; ``extra`` holds
    :data:`tfscope.io.tracks.CALL_COLUMNS` then :data:`EXTRA_COLUMNS`.

    Raises
    ------
    InputError
        A bad motif file, an unknown ``tfs`` name, a sequence with a non-IUPAC letter or an empty sequence.
    CheckpointError
        A bad ``model`` checkpoint.
    """

    for sid, s in sequences.items():
        if not s:
            raise InputError(f"sequence {sid!r} is empty")
        bad = invalid_letter(s)
        if bad >= 0:
            raise InputError(f"sequence {sid!r}: letter {s[bad]!r} at {bad + 1} is not DNA")
    mlist = list(motifs) if isinstance(motifs, (list, tuple)) else load_motifs(motifs)
    mlist = select_motifs(mlist, tfs)
    net, meta = load_motif_model(str(model) if model else None)
    zoo_keys: dict[str, str] = {}
    if use_zoo:

        zoo_keys = {name_key(t): t for t in zoo_tfs()}
    trained = [m for m in mlist if name_key(m.name) in zoo_keys]
    rest = [m for m in mlist if name_key(m.name) not in zoo_keys]
    records: list[BedRecord] = []
    if trained:
        names = sorted({zoo_keys[name_key(m.name)] for m in trained})
        records += _zoo_calls(sequences, names, {name_key(m.name): m.matrix_id for m in trained}, workers, zoo)
    if rest:
        records += _matrix_calls(sequences, rest, net, meta, min_precision=min_precision, pwm_floor=pwm_floor)
    order = {sid: k for k, sid in enumerate(sequences)}
    records.sort(key=lambda r: (order.get(r.chrom, 0), r.start, r.name, r.extra[-1]))
    return records


def _untrained_evidence(motifs: list[Motif], cal: dict, pwm_floor: bool) -> list[str]:
    """Evidence of matrices whose TF has no trained model: the PWM floor of their information-content bin (chosen on
    chr7, ``cal["floor"]``), ``motif-conditioned`` for all without the floor, ``pwm`` for matrices wider than the
    network takes."""
    bins = ic_bins(np.array([m.ic for m in motifs]), cal["ic_edges"])
    return [(cal["floor"][b] if pwm_floor else "motif-conditioned") if m.width <= MAX_WIDTH else "pwm"
            for m, b in zip(motifs, bins)]


def matrix_evidence(motifs="jaspar", *, tfs=None, model=None, use_zoo: bool = True,
                    pwm_floor: bool = True) -> list[dict]:
    """Who calls each matrix in :func:`scan_motifs`, without scanning: one row per matrix.

    Rows ``{"matrixId", "name", "evidence", "ic", "width"}`` (``ic``: information content in bits, ``width`` in bp),
    sorted by evidence (``trained``, ``motif-conditioned``, ``pwm``) then name. Arguments as :func:`scan_motifs`.

    Raises
    ------
    InputError
        A bad motif file or an unknown ``tfs`` name.
    CheckpointError
        A bad ``model`` checkpoint.
    """
    mlist = list(motifs) if isinstance(motifs, (list, tuple)) else load_motifs(motifs)
    mlist = select_motifs(mlist, tfs)
    path = Path(model) if model else default_model_dir()
    cfg = read_config(path)  # the calibration only: the network is not loaded
    if cfg.get("task") != "anytf":
        raise CheckpointError(f"{path}: a {cfg.get('task')!r} checkpoint, not a motif-conditioned (anytf) one")
    meta = cfg["meta"]
    zoo_keys = {name_key(t) for t in zoo_tfs()} if use_zoo else set()
    rest = [m for m in mlist if name_key(m.name) not in zoo_keys]
    evid = dict(zip(map(id, rest), _untrained_evidence(rest, meta["calibration"], pwm_floor))) if rest else {}
    order = {"trained": 0, "motif-conditioned": 1, "pwm": 2}
    rows = [{"matrixId": m.matrix_id, "name": m.name, "evidence": evid.get(id(m), "trained"),
             "ic": round(float(m.ic), 2), "width": int(m.width)} for m in mlist]
    return sorted(rows, key=lambda r: (order[r["evidence"]], r["name"], r["matrixId"]))


def _matrix_calls(sequences, motifs, net, meta, *, min_precision, pwm_floor) -> list[BedRecord]:
    """Calls of non-zoo matrices: candidates, network or PWM scores, precision, one call per event, records."""

    cal = meta["calibration"]
    edges = cal["ic_edges"]
    ic = np.array([m.ic for m in motifs])
    evid = np.array(_untrained_evidence(motifs, cal, pwm_floor))
    rows, offs, lens, ids, row = _pack(sequences)
    probs = [m.probs for m in motifs]
    c = find_candidates(probs, rows)
    lo, hi = score_range(probs)
    feats = candidate_features(c, lo, hi)
    core = (c.start >= MARGIN) & (c.start < MARGIN + row)
    c, feats = c.subset(core), feats[core]
    # q-values over every test of the run: positions x strands x matrices
    n_tests = 2 * sum(int(np.maximum(lens - m.width + 1, 0).sum()) for m in motifs)
    q_all = bh_qvalues_over(c.pvalue, n_tests)
    mc = evid[c.motif] == "motif-conditioned"
    prob = np.zeros(len(c), np.float32)
    if mc.any():
        prob[mc] = score_motif_candidates(net, rows, c.subset(mc), motifs, feats[mc])
    nlp = -np.log10(np.maximum(c.pvalue, 1e-300))
    score = np.where(mc, prob, nlp)
    prec = np.where(mc, apply_precision(prob, ic[c.motif], cal["motif_conditioned"]["maps"], edges),
                    apply_precision(nlp, ic[c.motif], cal["pwm"]["maps"], edges))
    # record coordinates
    spos = c.seq * row - MARGIN + c.start  # stream coordinate of the hit start
    rec = np.searchsorted(offs, spos, side="right") - 1
    start = spos - offs[rec]
    w = c.end - c.start
    rc = Candidates(c.motif, rec, start, start + w, c.strand, c.score, c.pvalue)
    keep = local_best(rc, score)
    if min_precision is not None:
        keep &= prec >= min_precision
    else:
        keep &= prec >= np.where(mc, cal["motif_conditioned"]["min_precision"], cal["pwm"]["min_precision"])
    centres = rc.center
    out = []
    for i in np.flatnonzero(keep):
        m = motifs[c.motif[i]]
        sid = ids[rec[i]]
        sc = int(min(1000, max(0, round(1000 * prec[i]))))
        site = sequences[sid][int(start[i]):int(start[i] + w[i])].upper()
        col = {"peakP": f"{prob[i] if mc[i] else prec[i]:.4f}", "peak": str(int(centres[i])),
               "precision": f"{prec[i]:.4f}", "groupPrecision": "-1", "pValue": f"{c.pvalue[i]:.3g}",
               "qValue": f"{q_all[i]:.3g}", "group": m.name, "members": f"{m.name}:{sc / 1000:.3f}",
               "site": site if c.strand[i] > 0 else reverse_complement(site)}
        out.append(BedRecord(sid, int(start[i]), int(start[i] + w[i]), m.name, sc, "+" if c.strand[i] > 0 else "-",
                             [col.get(k, "-1") for k in CALL_COLUMNS] + [str(evid[c.motif[i]]), m.matrix_id]))
    return out


#: every column of a call record after BED6
COLUMNS = CALL_COLUMNS + EXTRA_COLUMNS
