"""Baselines of the multi-label TF-binding benchmark (arXiv 2603.12073): BiLSTM, DanQ-style CNN+BiLSTM, plain CNN.

All map one-hot ``(N, 4, L)`` to ``(N, n_labels)`` logits (one per TF) and train in :func:`tfscope.train.fit`.

- :class:`BiLSTM`: the paper's RNN baseline, a bidirectional LSTM read directly over the nucleotides (Hochreiter &
  Schmidhuber 1997; Graves & Schmidhuber 2005), max+mean pooled over positions.
- :class:`DanQ`: Quang & Xie 2016 (DanQ, NAR 44:e107): convolution (motif scanners) -> max-pool -> dropout ->
  BiLSTM -> dense; scaled down from 320 filters/LSTM 320 to fit the CPU budget (widths are hparams).
- :class:`PlainCNN`: DeepSEA/Basset-like stack of conv -> ReLU -> max-pool layers and a dense head.
"""

from __future__ import annotations

import torch
from torch import nn


class BiLSTM(nn.Module):
    """Bidirectional LSTM over one-hot nucleotides; pooled (max and mean over positions) into a linear head.

    Shapes: input ``(N, 4, L)``, output ``(N, n_labels)`` logits.
    """

    def __init__(self, n_labels: int = 45, hidden: int = 64, layers: int = 1, dropout: float = 0.1):
        super().__init__()
        self.lstm = nn.LSTM(4, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(4 * hidden, n_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(x.transpose(1, 2))              # (N, L, 2H)
        h = self.drop(torch.cat([h.amax(1), h.mean(1)], 1))
        return self.head(h)


class DanQ(nn.Module):
    """DanQ (Quang & Xie 2016): conv(filters, width) -> ReLU -> max-pool(pool) -> dropout -> BiLSTM -> dense.

    Shapes: input ``(N, 4, L)``, output ``(N, n_labels)`` logits.
    """

    def __init__(self, n_labels: int = 45, filters: int = 128, width: int = 19, pool: int = 4, hidden: int = 64,
                 dense: int = 128, dropout: float = 0.2):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(4, filters, width, padding=width // 2), nn.ReLU(),
                                  nn.MaxPool1d(pool), nn.Dropout(dropout))
        self.lstm = nn.LSTM(filters, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * hidden, dense), nn.ReLU(),
                                  nn.Linear(dense, n_labels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.conv(x).transpose(1, 2))   # (N, L/pool, 2H)
        return self.head(torch.cat([h.amax(1), h.mean(1)], 1))


class PlainCNN(nn.Module):
    """Three conv(width) -> BN -> ReLU -> max-pool layers, global max-pool, dense head.

    Shapes: input ``(N, 4, L)``, output ``(N, n_labels)`` logits.
    """

    def __init__(self, n_labels: int = 45, channels: int = 128, width: int = 11, dense: int = 128,
                 dropout: float = 0.2):
        super().__init__()
        layers, c = [], 4
        for i in range(3):
            layers += [nn.Conv1d(c, channels, width if i == 0 else 5, padding=(width if i == 0 else 5) // 2),
                       nn.BatchNorm1d(channels), nn.ReLU(), nn.MaxPool1d(2)]
            c = channels
        self.conv = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, dense), nn.ReLU(),
                                  nn.Linear(dense, n_labels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).amax(-1))
