"""Reverse-complement-invariant CNN for TF class from a motif (Wilk 2025 thesis) and our wider variant.

Input: position probability matrices ``(N, 4, L)`` (zero-padded columns allowed). The forward matrix and its
reverse complement (both axes flipped) go through the *same* convolutional stack; per-channel global max pooling
gives one score per class for each strand, and the two are averaged -> logits ``(N, n_classes)`` (apply softmax for
probabilities). Because the two strands share weights and are averaged, the output is exactly invariant to reverse
complementing the input.
"""

from __future__ import annotations

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


def register() -> None:
    """Register ``family_cnn`` in :data:`tfscope.models.MODELS` (for checkpoints)."""
    from ..models import register_model

    register_model("family_cnn", FamilyCNN)


register()
