"""JSON outputs: run summaries and result tables, written atomically (:func:`write_json`)."""

from __future__ import annotations

import json
import os

import numpy as np

from .atomic import atomic_write


def json_default(o):
    """JSON form of what :mod:`json` cannot write: numpy integers, floats and arrays; anything else as ``str``."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def write_json(path: str | os.PathLike, obj, *, outputs=None) -> None:
    """Write ``obj`` as indented JSON.

    Parameters
    ----------
    path : str | os.PathLike
        The file (written atomically; with ``outputs``, a :class:`tfscope.io.atomic.Outputs`, renamed at its commit
        together with the command's other outputs), or ``-`` for standard output.
    obj : JSON-serialisable object (numpy scalars and arrays included, :func:`json_default`)

    Raises
    ------
    InputError
        The file cannot be written (:func:`tfscope.io.atomic.atomic_write`).
    """
    if str(path) == "-":
        print(json.dumps(obj, indent=2, default=json_default))
        return
    with atomic_write(path, outputs=outputs) as fh:
        json.dump(obj, fh, indent=2, default=json_default)
