"""Nucleotide-resolution TFBS prediction (the BertSNR task), tfscope's flagship task.

=============== ===================================================================================================
module          what
=============== ===================================================================================================
``data``        BertSNR window tables -> one-hot windows, nucleotide/sequence labels, paper splits
``windows``     BED of sites + genome FASTA -> labelled windows with shuffled / GC-matched genomic negatives
``train``       train / evaluate one model per TF (:func:`train_snr`, :func:`evaluate_snr`), PWM baseline
``bertsnr``     BertSNR (k-mer DNA BERT) and its loss; ``kmer``: k-mer tokens; ``pretrain``: MLM pretraining
``motifs``      motifs from a model's predicted sites, Tomtom against JASPAR (``tfscope snr motifs``)
``cli``         ``tfscope snr ...``, ``tfscope data windows``, ``tfscope pretrain``
=============== ===================================================================================================

Scanning with these models is :mod:`tfscope.scan`; the genomic zoo built from them is :mod:`tfscope.zoo`.
Architectures shared with other tasks (dilated CNN, DeepSNR, D-AEDNet, PWM scanner) live in :mod:`tfscope.models`.
"""

__all__ = ["TASK", "train_snr", "evaluate_snr"]


def __getattr__(name: str):
    """The names of :mod:`tfscope.snr.train`, imported on first use.

    Lazy (PEP 562) so that importing a submodule such as :mod:`tfscope.snr.data` does not import the training code,
    which imports :mod:`tfscope.zoo.genomic`, which imports :mod:`tfscope.snr.data`: ``import tfscope.zoo.genomic``
    on its own failed on that loop.
    """
    if name in __all__:
        from . import train

        return getattr(train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
