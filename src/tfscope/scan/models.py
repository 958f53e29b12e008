"""Loading trained nucleotide-resolution checkpoints as scan models (:class:`tfscope.scan.engine.ScanModel`).

One per per-TF checkpoint, one per TF of a multi-TF checkpoint, each with its call threshold and call specification.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from ..checkpoint import load_checkpoint
from ..device import resolve_device
from ..errors import CheckpointError, InputError
from ..io.jaspar import jaspar_motif
from .calls import DEFAULT_SITE_WIDTH, CallConfidence, CallSpec
from .engine import ScanModel
from .orient import SiteMatrix


def load_scan_models(checkpoints, *, device: str = "auto", tfs=None, threshold: float | None = None
                     ) -> list[ScanModel]:
    """Load ``snr`` checkpoints as :class:`ScanModel` on ``device``.

    ``device`` is ``auto``, ``cpu`` or ``cuda`` (:func:`tfscope.device.resolve_device`).

    A per-TF checkpoint gives one ScanModel (label = its TF, else its directory's name; threshold from
    validation); a multi-TF checkpoint (``meta.tfs``, :mod:`tfscope.zoo.multitask`) gives one ScanModel per TF,
    sharing the network, with each TF's calibrated threshold (``meta.per_tf``).

    Parameters
    ----------
    tfs : list of str, optional
        Keep only these TFs of multi-TF checkpoints (case-insensitive; default all).
    threshold : float, optional
        One call threshold for every model instead of the checkpoints' own (``meta.threshold`` /
        ``meta.per_tf[TF].threshold``, required otherwise).

    Raises
    ------
    InputError
        For a TF in ``tfs`` that a multi-TF checkpoint lacks, and any checkpoint error
        (:func:`tfscope.checkpoint.load_checkpoint`).
    CheckpointError
        A checkpoint without its call threshold (and no ``threshold``).
    """
    def own(thr, field, c):  # the call threshold: the override, else the checkpoint's own (required)
        if threshold is not None:
            return float(threshold)
        if thr is None:
            raise CheckpointError(f"{c}/config.json: {field}: missing (the validation-tuned call threshold); give "
                                  "--threshold to scan with it anyway")
        return float(thr)

    device = resolve_device(device)
    out = []
    for c in checkpoints:
        net, cfg = load_checkpoint(c, task="snr")
        net.to(device)
        meta = cfg.get("meta", {})
        window = int(meta.get("window", 100))
        strands = meta.get("strands", "max")
        if "tfs" not in meta:
            name = meta.get("tf") or checkpoint_name(c)
            out.append(ScanModel(name, net, own(meta.get("threshold"), "meta.threshold", c), window,
                                 strands=strands, call=call_spec(meta, meta.get("group") or name)))
            continue
        names = list(meta["tfs"])
        lookup = {t.upper(): i for i, t in enumerate(names)}
        want = [t.upper() for t in tfs] if tfs else [t.upper() for t in names]
        groups = meta.get("groups", {})
        for t in want:
            if t not in lookup:
                raise InputError(f"unknown TF {t!r}; the model has: {', '.join(names)}", str(c))
            i = lookup[t]
            rec = meta.get("per_tf", {}).get(names[i], {})
            thr = own(rec.get("threshold"), f"meta.per_tf.{names[i]}.threshold", c)
            out.append(ScanModel(names[i], net, thr, window, output=i, strands=strands,
                                 call=call_spec(rec, groups.get(names[i], names[i]))))
    return out


def checkpoint_name(path) -> str:
    """Return the name of a checkpoint without ``meta.tf``.

    Its directory name, made a valid TF name (:data:`tfscope.checkpoint_schema.NAME_PATTERN`: it names track files and
    report lanes).
    """
    name = re.sub(r"[^A-Za-z0-9_.:+-]", "_", Path(path).resolve().name)[:64]
    return name if re.match(r"[A-Za-z0-9]", name) else "model"


def call_spec(rec: dict, group: str) -> CallSpec:
    """Return the call specification of one TF from its checkpoint record.

    The :class:`tfscope.scan.calls.CallSpec` of one TF from its checkpoint record (``meta`` of a per-TF checkpoint,
    ``meta.per_tf[TF]`` of a multi-TF one): ``site_width`` (default :data:`tfscope.scan.calls.DEFAULT_SITE_WIDTH`) and
    ``call_confidence`` (:meth:`tfscope.scan.calls.CallConfidence.from_meta`), and the JASPAR matrix that orients its
    calls (:mod:`tfscope.scan.orient`): ``jaspar_id``, else the newest JASPAR matrix of the record's ``tf``, else none.
    """
    jaspar_id = rec.get("jaspar_id") or (jaspar_id_of(rec["tf"]) if rec.get("tf") else None)
    return CallSpec(int(rec.get("site_width", DEFAULT_SITE_WIDTH)), group,
                    CallConfidence.from_meta(rec.get("call_confidence")),
                    site_matrix(jaspar_id) if jaspar_id else None)


def jaspar_id_of(tf: str) -> str | None:
    """Return the JASPAR CORE vertebrate matrix ID of TF name ``tf`` (newest version), or None.

    None when JASPAR has no matrix of that name: a user's own TF, whose calls keep their track's strand.
    """
    try:
        return jaspar_motif(tf).matrix_id
    except InputError:
        return None


@functools.lru_cache(maxsize=None)
def site_matrix(jaspar_id: str) -> SiteMatrix:
    """Return the JASPAR matrix ``jaspar_id`` as a :class:`tfscope.scan.orient.SiteMatrix` (loaded once)."""
    return SiteMatrix.from_jaspar(jaspar_id)
