"""The bundled genomic zoo: 45 TFs at nucleotide resolution on real genome background, and how it is built.

=============== ===================================================================================================
module          what
=============== ===================================================================================================
``registry``    the bundled zoos: list, load (:func:`load_zoo`), their call meaning
``gated``       the default zoo's network: a multi-TF detector gated by per-TF nucleotide localizers
``build``       the zoo build recipe: assemble, choose the gate on chr7, swap localizers, unpack
``multitask``   the multi-TF detector: one network with a nucleotide track per TF, trained on genome windows
``genomic``     real-genome background windows and their per-TF labels (tfbs-multilabel), held-out chromosomes
``sites``       per-site evaluation and call calibration on genome windows (site F1, precision maps)
``groups``      paralog groups: TFs whose sites sequence alone cannot tell apart
=============== ===================================================================================================

Scanning with a zoo is :mod:`tfscope.scan`; the per-TF localizers are trained by :mod:`tfscope.snr` (the BertSNR task).
"""

from .registry import DEFAULT_ZOO, ZOOS, list_zoo, load_zoo, zoo_tfs

__all__ = ["DEFAULT_ZOO", "ZOOS", "list_zoo", "load_zoo", "zoo_tfs"]
