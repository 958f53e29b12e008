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

from .train import TASK, evaluate_snr, train_snr

__all__ = ["TASK", "train_snr", "evaluate_snr"]
