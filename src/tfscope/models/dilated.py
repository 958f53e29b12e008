"""Dilated residual CNN for nucleotide-resolution TFBS prediction (tfscope's fast model).

A stem convolution, ``n_blocks`` residual blocks of two dilated convolutions (dilation 1, 2, 4, ...; BN, ReLU)
and a 1x1 head giving one logit per nucleotide. The receptive field grows exponentially, so every nucleotide sees
the whole 100 bp window with few parameters; it is the "plain 5-block dilated residual CNN" floor of
``../shared/README.md``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResBlock(nn.Module):
    """Residual block of two dilated convolutions (BN, ReLU): ``(N, C, L)`` -> ``(N, C, L)``."""

    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        pad = dilation * (kernel - 1) // 2
        self.conv1 = nn.Conv1d(channels, channels, kernel, padding=pad, dilation=dilation)
        self.bn1 = nn.BatchNorm1d(channels)
        self.conv2 = nn.Conv1d(channels, channels, kernel, padding=pad, dilation=dilation)
        self.bn2 = nn.BatchNorm1d(channels)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(self.drop(h)))
        return F.relu(x + h)


class DilatedResNet(nn.Module):
    """Residual dilated CNN.

    Parameters
    ----------
    channels : int
        Width of all hidden layers.
    n_blocks : int
        Residual blocks; block ``i`` uses dilation ``2**i``.
    kernel : int
        Odd kernel width of the dilated convolutions.
    dropout : float
        Dropout inside each block.
    n_outputs : int, optional
        None (default): one logit track, a per-TF model. An int T: T tracks of one multi-TF model whose trunk all
        TFs share (:mod:`tfscope.zoo.multitask`, the genomic zoo).

    Shapes
    ------
    input ``(N, 4, L)`` one-hot; output ``(N, L)`` logits, or ``(N, n_outputs, L)`` when ``n_outputs`` is set.
    """

    def __init__(self, channels: int = 64, n_blocks: int = 5, kernel: int = 3, dropout: float = 0.1,
                 n_outputs: int | None = None):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(4, channels, 7, padding=3), nn.BatchNorm1d(channels), nn.ReLU())
        self.blocks = nn.Sequential(*[ResBlock(channels, kernel, 2 ** i, dropout) for i in range(n_blocks)])
        self.n_outputs = n_outputs
        self.head = nn.Conv1d(channels, n_outputs or 1, 1)
        #: nucleotides that influence one output (stem 7 + two dilated convolutions per block); declares the model
        #: fully convolutional, so :mod:`tfscope.scan` can run it on long chunks instead of 100 bp windows
        self.receptive_field = 7 + sum(2 * (kernel - 1) * 2 ** i for i in range(n_blocks))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden representation ``(N, channels, L)``."""
        return self.blocks(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.embed(x))
        return out.squeeze(1) if self.n_outputs is None else out
