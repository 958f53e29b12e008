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

from .engine import ScanModel, scan
from .files import scan_to_files
from .frame import sites_frame
from .models import load_scan_models
from .stream import scan_fasta

__all__ = ["ScanModel", "scan", "scan_fasta", "scan_to_files", "load_scan_models", "sites_frame"]
