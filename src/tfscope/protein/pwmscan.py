"""Scan DNA with the JASPAR matrices inferred from a protein (``tfscope scan DNA.fa --protein P.fa``, issue 46).

The protein's DNA-binding domains are found with pyhmmer (:func:`tfscope.protein.domains.annotate`) and its JASPAR
matrices inferred from the bundled 752 JASPAR-linked TFs whose DBDs are highly similar
(:func:`tfscope.protein.infer.infer_profiles`, the JASPAR profile inference tool's rules). Each inferred matrix
becomes one PWM scan model (:class:`StrandPWM`, the PWM model of ``tfscope snr train --model pwm`` scanning one
strand, so that ``tfscope scan`` runs it on both and each call keeps its strand):

* log-odds from the counts (:func:`tfscope.io.jaspar.pfm_to_log_odds`: pseudocount 0.8, uniform background);
* call threshold: the log-odds score whose exact null p-value (uniform i.i.d. background, scores on a 0.01-bit
  grid, :func:`pwm_score_threshold`) is ``<= pvalue`` per position and strand, FIMO's default ``1e-4``; it is
  written as a relative score (``(s - min) / (max - min)``) into the model, so a nucleotide's probability is 0.5
  exactly where the best window covering it reaches the threshold;
* site width: the matrix width; paralog group: the protein (``--collapse group`` gives one call per protein and
  site whichever of its matrices called it).

The models are named ``PROTEIN:MATRIX_NAME:MATRIX_ID`` (characters outside ``A-Za-z0-9_.:+-`` become ``_``) and
carry their evidence (:func:`protein_scan_models`). There is no calibration of these calls on genome windows: the
BED's precision and p-value columns are ``-1``; the matrix p-value threshold is the only statistical control.
This is the PWM path of the issue's "any-TF path when it exists, PWM calls otherwise".
"""

from __future__ import annotations

import re

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..io.jaspar import pfm_to_log_odds
from ..models.pwm import PWMScanner
from ..scan.calls import CallSpec
from ..scan.orient import SiteMatrix
from ..scan.engine import ScanModel
from .dbdref import load_reference
from .domains import annotate, tf_hits
from .infer import infer_profiles

#: FIMO's default per-position p-value cut-off
DEFAULT_PVALUE = 1e-4
#: matrices scanned per protein by default (the first by homology E-value of the reference TF)
DEFAULT_MAX_MATRICES = 5
#: score grid of the exact p-value computation (bits)
GRID = 0.01


class StrandPWM(PWMScanner):
    """:class:`tfscope.models.pwm.PWMScanner` on the forward strand only: ``tfscope scan`` scans the reverse
    complement itself, so the strand of each call is known. Fully convolutional (``receptive_field = 2W - 1``),
    so scans stream in chunks; ``pfm`` keeps the counts for the report's logos."""

    def __init__(self, pfm, *, pvalue: float = DEFAULT_PVALUE):
        pfm = np.asarray(pfm, dtype=float)
        lo = pfm_to_log_odds(pfm)
        super().__init__(width=lo.shape[1])
        self.set_pwm(lo)
        self.pfm = pfm
        self.pvalue = float(pvalue)
        self.score_threshold = pwm_score_threshold(lo, pvalue)
        smin, smax = float(lo.min(0).sum()), float(lo.max(0).sum())
        self.set_threshold((self.score_threshold - smin) / (smax - smin))
        self.receptive_field = 2 * lo.shape[1] - 1

    def relative_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Per-nucleotide best relative score ``(N, L)`` of the forward-strand windows covering it."""
        lo = self.log_odds
        w = lo.shape[1]
        s = F.conv1d(x.float(), lo.unsqueeze(0))                         # (N, 1, L-W+1)
        smin, smax = lo.min(0).values.sum(), lo.max(0).values.sum()
        rel = F.pad((s - smin) / (smax - smin), (w - 1, w - 1), value=0.0)
        return F.max_pool1d(rel, kernel_size=w, stride=1).squeeze(1)    # (N, L)


def pwm_score_threshold(log_odds, pvalue: float = DEFAULT_PVALUE, *, background=(0.25, 0.25, 0.25, 0.25)) -> float:
    """Smallest log-odds score ``s`` with ``P(score >= s) <= pvalue`` for one window under an i.i.d. background.

    The score distribution is computed exactly on a :data:`GRID`-bit grid (each column's scores rounded to it, the
    column distributions convolved), as FIMO and MOODS do.

    Parameters
    ----------
    log_odds : array-like, shape (4, W)
    pvalue : float in (0, 1)
    background : base probabilities A, C, G, T

    Returns
    -------
    float
        The score threshold (bits); the matrix maximum when even it is more frequent than ``pvalue``.

    Raises
    ------
    InputError
        ``pvalue`` outside (0, 1).
    """
    if not 0 < pvalue < 1:
        raise InputError(f"the PWM p-value cut-off must lie in (0, 1), not {pvalue}")
    lo = np.asarray(log_odds, dtype=float)
    q = np.rint(lo / GRID).astype(np.int64)
    bg = np.asarray(background, dtype=float)
    lo_min = int(q.min(0).sum())
    dist = np.ones(1)
    for j in range(q.shape[1]):
        col = q[:, j] - q[:, j].min()
        step = np.zeros(int(col.max()) + 1)
        np.add.at(step, col, bg)
        dist = np.convolve(dist, step)
    sf = np.cumsum(dist[::-1])[::-1]                       # P(score >= lo_min + k)
    ok = np.flatnonzero(sf <= pvalue * (1 + 1e-9))
    k = int(ok[0]) if len(ok) else len(sf) - 1
    return (lo_min + k) * GRID


def _safe(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.:+-]", "_", str(name)).lstrip("_.:+-")
    return s or "protein"


def model_name(protein: str, matrix_name: str, matrix_id: str) -> str:
    """``PROTEIN:MATRIX_NAME:MATRIX_ID`` as a valid TF name (at most 64 characters; the protein id shortened first)."""
    tail = f":{_safe(matrix_name)}:{matrix_id}"[:40]
    return f"{_safe(protein)[:64 - len(tail)]}{tail}"


def protein_scan_models(records: dict[str, str], *, max_matrices: int = DEFAULT_MAX_MATRICES,
                        pvalue: float = DEFAULT_PVALUE, source: str = "the protein FASTA"):
    """PWM scan models of the matrices inferred from each protein, with their evidence.

    Parameters
    ----------
    records : dict
        ``{protein id: sequence}``.
    max_matrices : int
        Matrices per protein (the first by the homology E-value of the reference TF, then name and ID).
    pvalue : float
        Per-position, per-strand p-value of a window at the call threshold (:func:`pwm_score_threshold`).
    source : str
        How the proteins are named in messages (the FASTA path).

    Returns
    -------
    models : list of :class:`tfscope.scan.engine.ScanModel`
    rows : list of dict
        One per model, for the run summary and the report's model table: ``TF`` (the model name), ``model``
        (``pwm``), ``jaspar_id``, ``tf_class``, ``threshold`` (relative score), ``evidence`` (one line) and
        ``evidence_detail`` (``kind``: ``pwm``, ``protein``, ``matrix_id``, ``matrix_name``, ``reference``,
        ``reference_name``, ``dbd_family``, ``dbd_identity``, ``rule``, ``score``, ``rule_threshold``,
        ``phmmer_evalue``, ``pwm_pvalue``, ``score_threshold_bits``).
    notes : list of str
        Proteins that gave no matrix, and why.

    Raises
    ------
    InputError
        No protein gives a matrix (not a TF by its DNA-binding domains, or no highly similar reference DBD), or
        ``max_matrices < 1``.
    """

    if max_matrices < 1:
        raise InputError(f"--max-matrices must be at least 1, not {max_matrices}")
    hits = annotate(records)
    inf = infer_profiles(records, hits=hits)
    ref = load_reference()
    models, rows, notes, names = [], [], [], set()
    for pid in records:
        fams = sorted({h.family for h in tf_hits(hits.get(pid, []))})
        got = inf.get(pid, [])
        if not fams:
            notes.append(f"{pid}: no DNA-binding domain (none of the 88 Pfam DBD HMMs hits at E <= 1e-4): not a TF by "
                         "its DBDs")
            continue
        if not got:
            notes.append(f"{pid}: DBD {'+'.join(fams)}, but no reference TF with a highly similar DBD (CIS-BP "
                         "thresholds): no JASPAR matrix can be inferred")
            continue
        group = _safe(pid)[:64]
        for x in got[:max_matrices]:
            name = model_name(pid, x.matrix_name, x.matrix_id)
            if name in names:
                continue
            names.add(name)
            net = StrandPWM(np.asarray(ref.matrices[x.matrix_id]["counts"], dtype=float), pvalue=pvalue)
            width = int(net.log_odds.shape[1])
            models.append(ScanModel(name, net, 0.5, max(100, 2 * width), strands="max",
                                    call=CallSpec(width, group, None,
                                                  SiteMatrix.from_pfm(ref.matrices[x.matrix_id]["counts"], x.matrix_id))))
            detail = {"kind": "pwm", "protein": pid, "matrix_id": x.matrix_id, "matrix_name": x.matrix_name,
                      "reference": x.reference, "reference_name": x.reference_name, "dbd_family": x.family,
                      "dbd_identity": x.pctid, "rule": x.rule, "score": x.score, "rule_threshold": x.threshold,
                      "phmmer_evalue": x.evalue, "pwm_pvalue": pvalue,
                      "score_threshold_bits": round(net.score_threshold, 3)}
            rows.append({"TF": name, "model": "pwm", "jaspar_id": x.matrix_id, "tf_class": "; ".join(x.tf_class),
                         "threshold": round(float(net.threshold), 4),
                         "evidence": (f"pwm, inferred from protein {pid}: {x.matrix_id} {x.matrix_name} of "
                                      f"{x.evidence()}; calls at PWM p <= {pvalue:g}"),
                         "evidence_detail": detail})
    if not models:
        raise InputError(f"{source}: no JASPAR matrix can be inferred from " + "; ".join(notes))
    return models, rows, notes
