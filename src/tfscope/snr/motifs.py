"""Motifs from a nucleotide-resolution model's predicted sites (``tfscope snr motifs``), as BertSNR compares its
predicted sites to JASPAR: the sites on a table's bound windows are aligned into a PFM, compared to JASPAR with
Tomtom (:func:`tfscope.interpret.motifs.tomtom_jaspar`) and drawn as a logo."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from ..checkpoint import load_checkpoint
from ..device import resolve_device
from ..errors import InputError
from ..interpret.motifs import discover_motif, tomtom_jaspar
from ..io.atomic import atomic_write
from ..io.jaspar import jaspar_motif
from ..plot import logo_plot
from .data import load_snr


def predicted_site_motif(checkpoint, table, out, *, split: str = "test", tf: str | None = None,
                         width: int | None = None, device: str = "auto") -> dict:
    """Discover the motif of a checkpoint's predicted sites on a table's bound windows and write it.

    Parameters
    ----------
    checkpoint : str | os.PathLike
        An ``snr`` checkpoint.
    table : str | os.PathLike
        A tfbs-snr table; its bound rows of ``split`` are used.
    out : str | os.PathLike
        Directory for ``motif.json`` (Tomtom matches, the PFM) and ``logo.png``.
    tf : str, optional
        Default is the checkpoint's ``meta.tf``.
    width : int, optional
        Motif width (bp). Default is the width of the TF's JASPAR matrix.

    Returns
    -------
    dict
        Tomtom result (:func:`tfscope.interpret.motifs.tomtom_jaspar`) with ``tf``, ``sites``, ``width``, ``pfm``.

    Raises
    ------
    InputError
        No bound windows in ``split``; checkpoint and table errors.
    """
    net, cfg = load_checkpoint(checkpoint, task="snr")
    net.to(resolve_device(device))  # predict() runs where the model is
    tf = tf or cfg["meta"].get("tf")
    data = load_snr(table)
    data = data.subset((data.split == split) & (data.y_seq == 1))
    if not len(data):
        raise InputError(f"no bound windows with split == {split!r}")
    width = int(jaspar_motif(tf).length) if width is None else width
    pfm, n = discover_motif(net, data.x, width=width)
    res = tomtom_jaspar(pfm, tf=tf)
    res.update({"tf": tf, "sites": n, "width": width, "pfm": pfm.tolist()})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "motif.json") as fh:
        json.dump(res, fh, indent=2)
    uri = logo_plot(pfm, f"{tf}: {n} predicted sites")
    with atomic_write(out / "logo.png", "wb") as fh:
        fh.write(base64.b64decode(uri.split(",", 1)[1]))
    return res
