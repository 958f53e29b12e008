"""Models of the TF-class-from-motif task: the reverse-complement-invariant CNN of the Wilk (2025) thesis, and the
fitted linear heads of our ``knn-kmer`` model (:class:`StandardLinear`, :class:`KnnKmerHeads`), kept as torch
modules so that every family model saves in the one checkpoint format.

CNN input: position probability matrices ``(N, 4, L)`` (zero-padded columns allowed). The forward matrix and its

Input: position probability matrices ``(N, 4, L)`` (zero-padded columns allowed). The forward matrix and its
reverse complement (both axes flipped) go through the *same* convolutional stack; per-channel global max pooling
gives one score per class for each strand, and the two are averaged -> logits ``(N, n_classes)`` (apply softmax for
probabilities). Because the two strands share weights and are averaged, the output is exactly invariant to reverse
complementing the input.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn


class FamilyCNN(nn.Module):
    """Thesis CNN: conv layers ``channels`` with ``kernels`` (default 16/16/20/20 with 3/5/7/1, ReLU between,
    'same' padding); the last layer has ``n_classes`` channels; global max pool; mean of the two strands.

    Parameters
    ----------
    n_classes : int
        Number of TF classes (the last conv layer's channels).
    channels : tuple of int
        Channels of the hidden conv layers (thesis: 16, 16, 20).
    kernels : tuple of int
        Kernel width of each conv layer including the last (thesis: 3, 5, 7, 1).
    dropout : float
        Dropout before the last conv layer (0 in the thesis).
    """

    def __init__(self, n_classes: int = 20, channels=(16, 16, 20), kernels=(3, 5, 7, 1), dropout: float = 0.0):
        super().__init__()
        if len(kernels) != len(channels) + 1:
            raise ValueError("need one kernel per conv layer (len(channels) + 1)")
        layers, c_in = [], 4
        for c, k in zip(channels, kernels[:-1]):
            layers += [nn.Conv1d(c_in, c, k, padding=k // 2), nn.ReLU()]
            c_in = c
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Conv1d(c_in, n_classes, kernels[-1], padding=kernels[-1] // 2))
        self.body = nn.Sequential(*layers)
        self.n_classes = n_classes

    def strand_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Max-pooled class scores ``(N, n_classes)`` of one strand ``x`` ``(N, 4, L)``."""
        return self.body(x).amax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, n_classes)`` averaged over the forward and reverse-complement strands."""
        return 0.5 * (self.strand_logits(x) + self.strand_logits(torch.flip(x, dims=(1, 2))))




class StandardLinear(nn.Module):
    """Standardisation + linear layer: logits ``(N, n_classes)`` = ``((x - mean) / scale) @ W.T + b`` for features
    ``x`` ``(N, n_features)``. Holds a fitted multinomial logistic regression (sklearn) so that it saves in the one
    checkpoint format; :meth:`predict_proba` is the softmax (equal to sklearn's ``predict_proba``).
    """

    def __init__(self, n_features: int, n_classes: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(n_features, dtype=torch.float64))
        self.linear = nn.Linear(n_features, n_classes, dtype=torch.float64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear((x.to(torch.float64) - self.mean) / self.scale)

    @classmethod
    def fit_logistic(cls, X, y, n_classes: int, *, C: float = 1.0, max_iter: int = 3000, class_weight=None,
                     sample_weight=None) -> "StandardLinear":
        """Fit ``sklearn.linear_model.LogisticRegression(C)`` (multinomial, lbfgs) on standardised ``X``
        ``(N, F)`` with integer labels ``y`` ``(N,)`` (optional sklearn ``class_weight`` and ``sample_weight``
        ``(N,)``). Classes absent from ``y`` get logit bias -1e4 (probability ~0). Raises ValueError with fewer
        than 2 classes present."""
        return cls.fit_logistic_cv(X, y, n_classes, Cs=(C,), max_iter=max_iter, class_weight=class_weight,
                                   sample_weight=sample_weight)

    @classmethod
    def fit_logistic_cv(cls, X, y, n_classes: int, *, Cs=(1.0,), cv=None, max_iter: int = 3000,
                        class_weight=None, sample_weight=None) -> "StandardLinear":
        """As :meth:`fit_logistic`, with ``C`` chosen from ``Cs`` by ``sklearn.linear_model.LogisticRegressionCV``
        over ``cv`` (a splitter or a list of (train, test) index pairs) when more than one is given; the chosen
        value is ``self.C``. ``class_weight`` is sklearn's (e.g. ``"balanced"``)."""

        import numpy as np
        from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        present = np.unique(y)
        if len(present) < 2:
            raise ValueError("need training motifs of at least 2 classes")
        mean, scale = X.mean(0), X.std(0)
        scale = np.where(scale > 1e-12, scale, 1.0)
        Z = (X - mean) / scale
        with warnings.catch_warnings():  # sklearn 1.8 FutureWarnings about future defaults; behaviour unchanged
            warnings.simplefilter("ignore", FutureWarning)
            if len(Cs) > 1:
                clf = LogisticRegressionCV(Cs=list(Cs), cv=cv, max_iter=max_iter, class_weight=class_weight
                                           ).fit(Z, y, sample_weight=sample_weight)
                C = float(np.ravel(clf.C_)[0])
            else:
                clf = LogisticRegression(C=Cs[0], max_iter=max_iter, class_weight=class_weight
                                         ).fit(Z, y, sample_weight=sample_weight)
                C = float(Cs[0])
        W = np.zeros((n_classes, X.shape[1]))
        b = np.full(n_classes, -1e4)
        if len(present) == 2:  # sklearn's binary form: one coefficient row for classes_[1]
            W[present[1]], b[present[1]], b[present[0]] = clf.coef_[0], clf.intercept_[0], 0.0
        else:
            W[present], b[present] = clf.coef_, clf.intercept_
        head = cls(X.shape[1], n_classes)
        with torch.no_grad():
            head.mean.copy_(torch.from_numpy(mean))
            head.scale.copy_(torch.from_numpy(scale))
            head.linear.weight.copy_(torch.from_numpy(W))
            head.linear.bias.copy_(torch.from_numpy(b))
        head.C = C
        return head

    def log_proba(self, X):
        """Log class probabilities ``(N, n_classes)`` float64 (numpy) for features ``X`` ``(N, n_features)``."""
        import numpy as np

        with torch.no_grad():
            return torch.log_softmax(self(torch.as_tensor(np.asarray(X))), dim=1).numpy()

    def predict_proba(self, X):
        """Class probabilities ``(N, n_classes)`` float64 (numpy)."""
        import numpy as np

        return np.exp(self.log_proba(X))


EXPERT_LOG_FLOOR = math.log(1e-12)  # experts' log probabilities are clipped here in the conditional logit


class KnnKmerHeads(nn.Module):
    """The fitted heads of the ``knn-kmer`` family models (:class:`tfscope.tfclass.knn_kmer.KnnKmer`): ``stack`` on the
    stacked nearest-neighbour features (``n_stack_features``), ``kmer`` on the k-mer profile (``4**k`` features) and
    the pooling weight ``w`` (buffer ``weight``). ``forward(stack_x, kmer_x)`` -> pooled log probabilities
    ``(N, n_classes)`` = log_softmax((1 - w) log p_stack + w log p_kmer) (log-linear opinion pool).

    With ``clogit_top`` > 0 (``knn-kmer-clogit``) the combiner is instead the class-shared conditional logit
    (:func:`tfscope.tfclass.combine.fit_conditional_logit`): buffers ``cl_beta`` ``(n_metrics, clogit_top)``,
    ``cl_gamma`` ``(2,)`` (weights of log p_kmer and log p_stack) and ``cl_alpha`` ``(n_classes,)``; ``forward``
    then returns ``log_softmax(sum beta * stack_x + gamma . (log p_kmer, log p_stack) + alpha)``, with ``stack_x``
    read as ``(N, n_metrics, n_classes, clogit_top)`` (the kmer-row standardisation, if any, is applied by the
    caller). The temperature is kept outside (checkpoint meta). The default ``knn-kmer-vote`` holds the same heads
    (5 stack metrics); its soft vote of the temperature-scaled conditional logit and the pool (weight ``weight``,
    ``pool_temperature`` in the checkpoint meta) is computed by :meth:`tfscope.tfclass.knn_kmer.KnnKmer.predict_log_proba`,
    not by ``forward``."""

    def __init__(self, n_classes: int = 20, n_stack_features: int = 120, k: int = 6, clogit_top: int = 0):
        super().__init__()
        self.stack = StandardLinear(n_stack_features, n_classes)
        self.kmer = StandardLinear(4 ** k, n_classes)
        self.register_buffer("weight", torch.zeros((), dtype=torch.float64))
        self.n_classes, self.k, self.clogit_top = n_classes, k, clogit_top
        if clogit_top:
            n_metrics = n_stack_features // (n_classes * clogit_top)
            self.register_buffer("cl_beta", torch.zeros(n_metrics, clogit_top, dtype=torch.float64))
            self.register_buffer("cl_gamma", torch.zeros(2, dtype=torch.float64))
            self.register_buffer("cl_alpha", torch.zeros(n_classes, dtype=torch.float64))

    def forward(self, stack_x: torch.Tensor, kmer_x: torch.Tensor) -> torch.Tensor:
        lps, lpk = torch.log_softmax(self.stack(stack_x), 1), torch.log_softmax(self.kmer(kmer_x), 1)
        if self.clogit_top:
            F = stack_x.to(torch.float64).reshape(len(stack_x), -1, self.n_classes, self.clogit_top)
            u = (torch.einsum("nmct,mt->nc", F, self.cl_beta) + self.cl_alpha
                 + self.cl_gamma[0] * lpk.clamp_min(EXPERT_LOG_FLOOR)
                 + self.cl_gamma[1] * lps.clamp_min(EXPERT_LOG_FLOOR))
            return torch.log_softmax(u, 1)
        w = self.weight
        return torch.log_softmax((1 - w) * lps + w * lpk, 1)
