"""Multi-label TF binding (arXiv 2603.12073): data, TCN/RNN/CNN training, cooperative pairs, IG + TF-MoDISco.

See ``docs/multilabel.md``. Public API: :func:`load_windows`, :func:`train_multilabel`, :func:`load_multilabel`,
:func:`evaluate_multilabel`, :func:`cooccurrence`, :func:`explain_multilabel`.
"""

from ..io.windows import MultiLabelData, load_windows, read_label_set
from .coop import annotate_pair, cooccurrence, log2_or_matrix, plot_heatmaps, top_pairs
from .explain import explain_multilabel, ig_hypothetical, run_modisco
from .train import (MULTILABEL_MODELS, SCHEDULES, evaluate_multilabel, load_multilabel, phase_converged,
                    positive_weights, train_multilabel, tune_thresholds, valid_macro_ap)

__all__ = ["MultiLabelData", "load_windows", "read_label_set", "train_multilabel", "load_multilabel",
           "evaluate_multilabel", "positive_weights", "tune_thresholds", "MULTILABEL_MODELS", "SCHEDULES",
           "phase_converged", "valid_macro_ap", "cooccurrence",
           "top_pairs", "log2_or_matrix", "plot_heatmaps", "annotate_pair", "explain_multilabel",
           "ig_hypothetical", "run_modisco"]
