"""Mixture of experts for TFBS prediction with out-of-distribution evaluation (arXiv 2507.09754).

- :mod:`.data`: training sets from DeepBind-format files (:mod:`tfscope.io.deepbind`), dinucleotide-shuffled negatives.
- :mod:`.models`: :class:`DeepBindExpert`, :class:`MixtureOfExperts` (``deepbind`` / ``moe`` in :data:`tfscope.models.BUILTIN`).
- :mod:`.train`: two-stage training, MC-dropout evaluation.
- :mod:`.stats`: ANOVA + Tukey HSD.
"""

from .data import fit_length, load_training_set, tf_name, with_shuffled_negatives
from .models import DeepBindExpert, MixtureOfExperts
from .stats import anova_tukey
from .train import mc_dropout_metrics, mc_dropout_predict, train_expert, train_moe

__all__ = ["fit_length", "load_training_set", "tf_name", "with_shuffled_negatives",
           "DeepBindExpert", "MixtureOfExperts", "train_expert", "train_moe", "mc_dropout_predict",
           "mc_dropout_metrics", "anova_tukey"]
