"""Nucleotide-resolution TFBS prediction (the BertSNR task), tfscope's flagship task.

=============== ===================================================================================================
module          what
=============== ===================================================================================================
``data``        BertSNR window tables -> one-hot windows, nucleotide/sequence labels, paper splits
``windows``     BED of sites + genome FASTA -> labelled windows with shuffled / GC-matched genomic negatives
``genomic``     real-genome background windows and labels (tfbs-multilabel), held-out chromosomes
``train``       train / evaluate one model per TF (:func:`train_snr`, :func:`evaluate_snr`), PWM baseline
``bertsnr``     BertSNR (k-mer DNA BERT) and its loss; ``kmer``: k-mer tokens; ``pretrain``: MLM pretraining
``multitask``   one multi-TF network with a nucleotide track per TF (the genomic zoo's detector)
``gated``       the default genomic zoo: that detector gated with per-TF nucleotide localizers
``scan``        predict: scan sequences of any length with many models -> sites (BED), tracks
``zoo``         the bundled zoos of scanning models
``demo``        the README's main job; ``cli``, ``cli_scan``: the commands
=============== ===================================================================================================

Architectures shared with other tasks (dilated CNN, DeepSNR, D-AEDNet, PWM scanner) live in :mod:`tfscope.models`.
"""

from .train import TASK, evaluate_snr, train_snr

__all__ = ["TASK", "train_snr", "evaluate_snr"]
