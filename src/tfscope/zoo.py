"""The bundled model zoo: one nucleotide-resolution model per TF of the BertSNR benchmark (45 human TFs).

Each model is a standard tfscope checkpoint in ``resources/zoo/<TF>/`` (safetensors + config.json) whose ``meta``
holds the TF, its JASPAR 2022 matrix id, TF class and family, the validation-tuned probability threshold and the
test-split metrics of the benchmark. Built by ``scripts/build_zoo.py`` from ``benchmarks/snr.py`` checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import InputError


def zoo_dir() -> Path:
    """Directory of the bundled zoo."""
    return Path(__file__).parent / "resources" / "zoo"


def zoo_tfs(directory=None) -> list[str]:
    """TF names available in the zoo (sorted)."""
    d = Path(directory) if directory else zoo_dir()
    return sorted(p.name for p in d.iterdir() if (p / "config.json").exists()) if d.exists() else []


def list_zoo(directory=None) -> list[dict]:
    """One row per zoo model: TF, model, JASPAR id, TF class, family, threshold, test nt_auprc/nt_auroc/seq_auroc.

    Raises
    ------
    InputError
        If the zoo directory is empty or missing.
    """
    d = Path(directory) if directory else zoo_dir()
    tfs = zoo_tfs(d)
    if not tfs:
        raise InputError("no models in the zoo (run scripts/build_zoo.py)", str(d))
    rows = []
    for tf in tfs:
        cfg = json.loads((d / tf / "config.json").read_text())
        meta = cfg.get("meta", {})
        m = meta.get("test_metrics", {})
        rows.append({"TF": tf, "model": cfg.get("model"), "jaspar_id": meta.get("jaspar_id", ""),
                     "tf_class": meta.get("tf_class", ""), "tf_family": meta.get("tf_family", ""),
                     "threshold": meta.get("threshold", 0.5), "nt_auprc": m.get("nt_auprc", float("nan")),
                     "nt_auroc": m.get("nt_auroc", float("nan")), "seq_auroc": m.get("seq_auroc", float("nan"))})
    return rows


def zoo_checkpoints(tfs=None, directory=None) -> list[Path]:
    """Checkpoint directories for ``tfs`` (default: all).

    Raises
    ------
    InputError
        For a TF name that is not in the zoo (the message lists the available ones).
    """
    d = Path(directory) if directory else zoo_dir()
    avail = zoo_tfs(d)
    if not avail:
        raise InputError("no models in the zoo (run scripts/build_zoo.py)", str(d))
    if not tfs:
        return [d / t for t in avail]
    lookup = {t.upper(): t for t in avail}
    out = []
    for t in tfs:
        if t.upper() not in lookup:
            raise InputError(f"unknown TF {t!r}; the zoo has: {', '.join(avail)}")
        out.append(d / lookup[t.upper()])
    return out
