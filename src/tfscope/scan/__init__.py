"""Scanning DNA with TF models: the product's main command (``tfscope scan``).

=============== ===================================================================================================
module          what
=============== ===================================================================================================
``engine``      scan sequences held in memory with many models, both strands -> tracks and calls (:func:`scan`)
``models``      trained checkpoints -> :class:`ScanModel` (:func:`load_scan_models`)
``stream``      stream a FASTA of any size (a genome) in bounded memory (:func:`scan_fasta`)
``calls``       tracks -> binding-site calls: peaks, paralog groups, precision, p- and q-values
``known``       known sites beside the calls: recall by TF and paralog group
``files``       one scan to files: BED, autoSql, tracks, bigBed, report, genome coordinates (:func:`scan_to_files`)
``frame``       calls as a pandas DataFrame (:func:`sites_frame`)
``demo``        the README's main job; ``cli``: ``tfscope scan``, ``tfscope demo``
=============== ===================================================================================================

The models it scans with come from :mod:`tfscope.zoo` (the bundled zoos) or from any ``snr`` checkpoint
(:mod:`tfscope.snr`, the BertSNR task); file writers live in :mod:`tfscope.io`.
"""

import importlib

#: the package's names and the submodules that define them, imported on first use (:func:`__getattr__`)
_EXPORTS = {"ScanModel": "engine", "scan": "engine", "scan_fasta": "stream", "scan_to_files": "files",
            "load_scan_models": "models", "sites_frame": "frame"}

__all__ = ["ScanModel", "scan", "scan_fasta", "scan_to_files", "load_scan_models", "sites_frame"]


def __getattr__(name: str):
    """Return the names of :data:`__all__`, imported from their submodule on first use.

    Lazy (PEP 562) so that importing a submodule such as :mod:`tfscope.scan.known` does not import
    :mod:`tfscope.scan.files`, which imports :mod:`tfscope.report.html`, which imports :mod:`tfscope.scan.known`:
    ``import tfscope.report.html`` on its own failed on that loop.
    """
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
