"""Scores of variants for every TF model: REF and ALT alleles in their genome context through the zoo (or any
checkpoint), both strands as in ``tfscope scan``, with calibrated precision, an empirical p-value and the PWM
baseline.

**Windows.** For a variant whose REF starts at 0-based ``s`` (``pos - 1``), the REF sequence is
``genome[s - F, s + len(REF) + F)`` and the ALT sequence is ``genome[s - F, s) + ALT + genome[s + len(REF), s +
len(REF) + F)`` (N beyond the chromosome ends), with ``F = receptive_field // 2 + 1 + max(max site width,
AREA_FLANK)``: every nucleotide whose probability is read sees the model's whole receptive field of genome context,
so each value equals what ``tfscope scan`` computes on the genome at that nucleotide. Windows are batched
(``batch_size`` alleles per forward pass, right-padded with N, which no read nucleotide can see).

**The indel rule.** The common prefix and suffix of REF and ALT are trimmed; the remaining bases are the *changed
bases* (none on one allele for a pure insertion or deletion: then the junction). ``refP`` (``altP``) is the highest
probability over the nucleotides of the REF (ALT) sequence closer than the TF's site width ``w`` to the changed bases
of that allele: ``[c0 - w + 1, c1 + w - 1)`` with ``[c0, c1)`` the changed bases (``c1 = c0 + 1`` at a junction).
Positions are aligned on the reference: both windows start at the same genome base, and the ALT window's right end
moves with the allele's length.

**The area rule.** ``areaDelta`` is the sum of the TF's probability over ``[c0 - A, c1 + A)`` of the ALT sequence
minus the same sum on the REF sequence (``A`` = :data:`AREA_FLANK` = 50 bp; probability x bp): the change of the
local binding profile's total, as ChromBPNet's count log-fold change summarises a profile, where ``delta`` reads one
peak.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from ..scan.engine import both_strands, combine_strands
from ..sequence import one_hot, reverse_complement_one_hot
from .pwm import PWMBaseline, jaspar_log_odds
from .read import Variant
from ..errors import InputError

#: output columns, in order (docs/variants.md documents each)
COLUMNS = ["chrom", "pos", "id", "ref", "alt", "kind", "TF", "group", "refP", "altP", "delta", "log2FC",
           "refPrecision", "altPrecision", "effect", "pValue", "qValue", "siteOffset", "areaDelta", "pwmRef", "pwmAlt",
           "pwmRefPvalue", "pwmAltPvalue"]

#: extra columns of ``--haplotypes``
HAPLOTYPE_COLUMNS = ["haplotype", "hapVariants", "jointAltP", "jointDelta", "jointEffect"]

EFFECTS = ("gain", "loss", "none")

#: probabilities are clipped to [EPS, 1 - EPS] for log2FC
EPS = 1e-6

#: bp on each side of the changed bases summed by ``areaDelta`` (chosen on the ASB dev set by held-out-chromosome
#: CV among 10, 20, 50 and 100 bp: detection AUROC 0.635 on held-out chromosomes; docs/variants.md)
AREA_FLANK = 50

#: alleles per forward pass: small batches of 333-bp windows stay in the cache (measured on 2,000 chr8 SNVs x 45 TFs,
#: 2 workers, the same TSV: model time 60 s at 32 or 24, 68-70 s at 64; with 273-bp windows 55 s at 64, 73 s at 256)
BATCH_SIZE = 32


def changed_bases(ref: str, alt: str) -> tuple[int, int, int]:
    """``(prefix, ref_end, alt_end)``: REF[prefix:ref_end] became ALT[prefix:alt_end] after trimming the common
    prefix and suffix (0-based offsets inside the alleles).
    """
    p = 0
    while p < min(len(ref), len(alt)) and ref[p] == alt[p]:
        p += 1
    q = 0
    while q < min(len(ref), len(alt)) - p and ref[-1 - q] == alt[-1 - q]:
        q += 1
    return p, len(ref) - q, len(alt) - q


def apply_edits(window: str, start: int, edits) -> tuple[str, dict]:
    """``window`` (genome bases from 0-based ``start``) with ``edits`` (``[(s, ref, alt), ...]``, 0-based genome
    starts, sorted, non-overlapping) applied; returns the new sequence and a map genome offset -> new offset for
    each edit start (the alignment on the reference).
    """
    out, pos, where = [], 0, {}
    for s, ref, alt in edits:
        o = s - start
        if o < pos or o + len(ref) > len(window):
            continue  # overlaps a previous edit or leaves the window: skipped
        out.append(window[pos:o])
        where[s] = sum(map(len, out))
        out.append(alt)
        pos = o + len(ref)
    out.append(window[pos:])
    return "".join(out), where


class VariantScorer:
    """Scores variants with a list of :class:`tfscope.scan.engine.ScanModel` (the zoo, or ``--checkpoint`` models).

    Parameters
    ----------
    models : ScanModels (all must be fully convolutional: a ``receptive_field``; the zoo's are)
    null : :class:`tfscope.variants.null.VariantNull` or None (pValue/qValue -1 without one)
    jaspar_ids : TF -> JASPAR matrix id of the PWM baseline (default: the TF's latest JASPAR CORE matrix)
    pwm : compute the PWM baseline columns (NaN without)
    batch_size : alleles per forward pass

    Raises
    ------
    InputError
        A model without a receptive field (window-mode models: BertSNR, DeepSNR) or no models.

    """

    def __init__(self, models, *, null=None, jaspar_ids: dict | None = None, pwm: bool = True,
                 batch_size: int = BATCH_SIZE):
        if not models:
            raise InputError("no models to score variants with")
        bad = [m.name for m in models if m.receptive_field is None]
        if bad:
            raise InputError(f"variant scoring needs fully convolutional models (a receptive field); "
                             f"{', '.join(bad[:3])} scan in windows")
        self.models, self.null, self.batch_size = models, null, batch_size
        self.widths = np.array([max(1, int(m.call.site_width)) for m in models])
        # every nucleotide read (refP/altP within the site width, areaDelta within AREA_FLANK) sees its whole field
        self.flank = max(m.receptive_field for m in models) // 2 + 1 + max(int(self.widths.max()), AREA_FLANK)
        self.pwms = {}
        if pwm:
            for m in models:
                lo = jaspar_log_odds(m.name, (jaspar_ids or {}).get(m.name))
                self.pwms[m.name] = PWMBaseline(lo) if lo is not None else None
        self.seconds = {"model": 0.0, "pwm": 0.0}

    # ---- network -------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def probabilities(self, seqs: list[str]) -> np.ndarray:
        """Combined-strand probabilities ``(len(seqs), n_models, L)`` (L = the longest sequence; N-padded), each
        model's strands combined by its rule (:func:`tfscope.scan.engine.combine_strands`).
        """
        x = torch.from_numpy(one_hot(seqs))
        xr = reverse_complement_one_hot(x)
        out = np.zeros((len(seqs), len(self.models), x.shape[-1]), np.float32)
        nets = {}
        for i, m in enumerate(self.models):
            nets.setdefault(id(m.inference_model), (m.inference_model, []))[1].append(i)
        for net, idx in nets.values():  # the scan's own batched both-strand pass (one per network)
            pf, pr = both_strands(net, x, None if self.models[idx[0]].strand_symmetric else xr, self.batch_size)
            for i in idx:
                m = self.models[i]
                f = pf if m.output is None else pf[:, m.output]
                r = pr if m.output is None else pr[:, m.output]
                out[:, i] = combine_strands(f, r, m.strands)
        out *= (x.sum(1) > 0).numpy()[:, None, :]  # N positions get probability 0, as in scan
        return out

    # ---- scoring -------------------------------------------------------------------------------------------------
    def windows(self, genome, v: Variant, *, edits=()) -> tuple[str, str, tuple, tuple]:
        """REF and ALT sequences of ``v`` (genome names resolved) and the changed bases ``(c0, c1)`` on each.
        ``edits``: other variants of the same haplotype applied to both alleles (see ``--haplotypes``).
        """
        F = self.flank
        chrom = genome.resolve(v.chrom)
        s = v.pos - 1
        left, right = genome.fetch(chrom, s - F, s), genome.fetch(chrom, s + len(v.ref), s + len(v.ref) + F)
        p, re_, ae = changed_bases(v.ref, v.alt)
        ref = left + v.ref + right
        alt = left + v.alt + right
        shift_ref = shift_alt = F
        if edits:
            others = [e for e in edits if e[0] != s]
            ref, w_ref = apply_edits(ref, s - F, sorted(others + [(s, v.ref, v.ref)]))
            alt, w_alt = apply_edits(left + v.ref + right, s - F, sorted(others + [(s, v.ref, v.alt)]))
            shift_ref, shift_alt = w_ref.get(s, F), w_alt.get(s, F)
        rc = (shift_ref + p, max(shift_ref + re_, shift_ref + p + 1))
        ac = (shift_alt + p, max(shift_alt + ae, shift_alt + p + 1))
        return ref, alt, rc, ac

    def score(self, genome, variants: list[Variant], *, edits: list | None = None) -> pd.DataFrame:
        """One row per (variant, TF) with :data:`COLUMNS` (qValue -1: fill it over the run,
        :func:`tfscope.variants.run.fill_qvalues`).

        Parameters
        ----------
        genome : :class:`tfscope.variants.read.Genome` (REF already checked)
        variants : variants to score
        edits : per variant, other variants of its haplotype to apply to both alleles (``[(s0, ref, alt), ...]``,
            0-based genome starts), or None

        """
        if not variants:
            return pd.DataFrame(columns=COLUMNS)
        wins = [self.windows(genome, v, edits=(edits[i] if edits else ())) for i, v in enumerate(variants)]
        t0 = time.perf_counter()
        ref_seqs = [w[0] for w in wins]
        alt_seqs = [w[1] for w in wins]
        n = len(variants)
        P = self.probabilities(ref_seqs + alt_seqs)  # (2n, T, L)
        self.seconds["model"] += time.perf_counter() - t0
        T = len(self.models)
        L = P.shape[-1]
        pos = np.arange(L)
        rc = np.array([w[2] for w in wins])
        ac = np.array([w[3] for w in wins])
        W = self.widths[None, :, None]
        ref_mask = (pos[None, None, :] > rc[:, 0, None, None] - W) & (pos[None, None, :] < rc[:, 1, None, None] + W - 1)
        alt_mask = (pos[None, None, :] > ac[:, 0, None, None] - W) & (pos[None, None, :] < ac[:, 1, None, None] + W - 1)
        Pr = np.where(ref_mask, P[:n], -1.0)
        Pa = np.where(alt_mask, P[n:], -1.0)
        ref_p, alt_p = Pr.max(-1), Pa.max(-1)  # (n, T)
        ref_peak, alt_peak = Pr.argmax(-1), Pa.argmax(-1)
        stronger_peak = np.where(alt_p > ref_p, alt_peak - ac[:, :1] + rc[:, :1], ref_peak)  # on the REF axis
        site_offset = rc[:, :1] - (stronger_peak - self.widths[None, :] // 2)
        delta = alt_p - ref_p
        A = AREA_FLANK
        ref_area = np.where((pos >= rc[:, :1] - A) & (pos < rc[:, 1:] + A), 1.0, 0.0)[:, None, :]  # (n, 1, L)
        alt_area = np.where((pos >= ac[:, :1] - A) & (pos < ac[:, 1:] + A), 1.0, 0.0)[:, None, :]
        area_delta = (P[n:] * alt_area).sum(-1) - (P[:n] * ref_area).sum(-1)  # (n, T), probability x bp
        lr = np.clip(ref_p, EPS, 1 - EPS)
        la = np.clip(alt_p, EPS, 1 - EPS)
        log2fc = np.log2(la / (1 - la)) - np.log2(lr / (1 - lr))
        thr = np.array([m.threshold for m in self.models])[None, :]
        effect = np.where((alt_p >= thr) & (ref_p < thr), "gain", np.where((ref_p >= thr) & (alt_p < thr), "loss",
                                                                           "none"))
        t1 = time.perf_counter()
        pwm_cols = self.pwm_scores(wins, ref_seqs, alt_seqs)
        self.seconds["pwm"] += time.perf_counter() - t1
        cols = {c: [] for c in COLUMNS}
        for j, m in enumerate(self.models):
            conf = m.call.confidence
            if conf is not None and conf.precision is not None:
                rp, ap = conf.score(ref_p[:, j])[0], conf.score(alt_p[:, j])[0]
            else:
                rp = ap = np.full(n, -1.0)
            pv = self.null.p_values(m.name, delta[:, j]) if self.null is not None else np.full(n, -1.0)
            cols["chrom"] += [v.chrom for v in variants]
            cols["pos"] += [v.pos for v in variants]
            cols["id"] += [v.id for v in variants]
            cols["ref"] += [v.ref for v in variants]
            cols["alt"] += [v.alt for v in variants]
            cols["kind"] += [v.kind for v in variants]
            cols["TF"] += [m.name] * n
            cols["group"] += [m.call.group or m.name] * n
            cols["refP"].append(ref_p[:, j])
            cols["altP"].append(alt_p[:, j])
            cols["delta"].append(delta[:, j])
            cols["log2FC"].append(log2fc[:, j])
            cols["refPrecision"].append(rp)
            cols["altPrecision"].append(ap)
            cols["effect"].append(effect[:, j])
            cols["pValue"].append(pv)
            cols["qValue"].append(np.full(n, -1.0))
            cols["siteOffset"].append(site_offset[:, j])
            cols["areaDelta"].append(area_delta[:, j])
            for k in ("pwmRef", "pwmAlt", "pwmRefPvalue", "pwmAltPvalue"):
                cols[k].append(pwm_cols[m.name][k])
        df = pd.DataFrame({c: (np.concatenate(v) if v and isinstance(v[0], np.ndarray) else v)
                           for c, v in cols.items()})
        df["record"] = np.tile([v.record for v in variants], T)
        order = np.lexsort((np.repeat(np.arange(T), n), np.tile(np.arange(n), T)))
        return df.iloc[order].reset_index(drop=True)

    def pwm_scores(self, wins, ref_seqs, alt_seqs) -> dict:
        """PWM baseline columns per TF (:mod:`tfscope.variants.pwm`), NaN for TFs without a matrix."""
        n = len(wins)
        out = {}
        xr = xa = None
        for m in self.models:
            b = self.pwms.get(m.name)
            if b is None:
                out[m.name] = {k: np.full(n, np.nan) for k in ("pwmRef", "pwmAlt", "pwmRefPvalue", "pwmAltPvalue")}
                continue
            if xr is None:
                xr, xa = one_hot(ref_seqs).astype(np.float64), one_hot(alt_seqs).astype(np.float64)
                rc = np.array([w[2] for w in wins])
                ac = np.array([w[3] for w in wins])
                # only the part of each window a matrix overlapping the changed bases can reach
                lo = self.flank - 60
                xr, xa = xr[:, :, lo:], xa[:, :, lo:]
                rc, ac = rc - lo, ac - lo
            sr, sa = b.best(xr, rc[:, 0], rc[:, 1]), b.best(xa, ac[:, 0], ac[:, 1])
            out[m.name] = {"pwmRef": sr, "pwmAlt": sa, "pwmRefPvalue": b.p_value(sr), "pwmAltPvalue": b.p_value(sa)}
        return out
