"""Temporal convolutional network (TCN) for multi-label TF binding (one logit per TF per window).

Follows Bai, Kolter & Koltun 2018, "An Empirical Evaluation of Generic Convolutional and Recurrent Networks for
Sequence Modeling" (arXiv 1803.01271): a stack of residual blocks, each two dilated 1-D convolutions with weight
normalisation, ReLU and (spatial) dropout, dilation doubling per block, a 1x1 convolution on the skip path when the
width changes. Used as the multi-label TF-binding model of "A Multi-Label Temporal Convolutional Framework for
Transcription Factor Binding Characterization" (arXiv 2603.12073).

Padding: **non-causal** (symmetric, "same") by default. Causal padding exists in Bai et al. because an audio/text
model must not see the future; DNA has no time direction (a binding site is read from both sides and from both
strands), so every position may use context on both sides. ``causal=True`` gives the original left-padded variant;
either way the read-out is a global max + mean pool over positions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class TemporalBlock(nn.Module):
    """Residual block of Bai et al. 2018: (weight-normed dilated conv -> ReLU -> dropout) x 2, plus skip.

    Shapes: ``(N, c_in, L) -> (N, c_out, L)``.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int, dropout: float, causal: bool):
        super().__init__()
        total = dilation * (kernel - 1)
        self.pad = (total, 0) if causal else (total // 2, total - total // 2)
        self.conv1 = weight_norm(nn.Conv1d(c_in, c_out, kernel, dilation=dilation))
        self.conv2 = weight_norm(nn.Conv1d(c_out, c_out, kernel, dilation=dilation))
        self.drop = nn.Dropout(dropout)
        self.down = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(F.relu(self.conv1(F.pad(x, self.pad))))
        h = self.drop(F.relu(self.conv2(F.pad(h, self.pad))))
        return F.relu(h + self.down(x))


class TCN(nn.Module):
    """Multi-label TCN: TCN blocks over the one-hot window, global max + mean pooling, linear head.

    Parameters
    ----------
    n_labels : int
        Number of TFs (one sigmoid output each).
    channels : int
        Width of every temporal block.
    n_blocks : int
        Blocks with dilation ``1, 2, 4, ...``; with kernel 3 and 6 blocks the receptive field is
        ``1 + 2 * 2 * (2**6 - 1) = 253`` bp, i.e. the whole 100 bp window.
    kernel : int
        Convolution width.
    dropout : float
        Dropout after each convolution.
    causal : bool
        Left-only padding as in Bai et al. (default False: symmetric padding, see module docstring).
    stem_kernel : int
        0 (default, plain Bai et al. TCN): the first temporal block reads the one-hot input directly. ``k > 0``: a
        weight-normed convolution of width ``k`` (motif-scanner stem, as in DNA CNNs) maps the input to
        ``channels`` before the blocks.

    Shapes
    ------
    input ``(N, 4, L)`` one-hot; output ``(N, n_labels)`` logits.
    """

    def __init__(self, n_labels: int = 45, channels: int = 64, n_blocks: int = 6, kernel: int = 3,
                 dropout: float = 0.1, causal: bool = False, stem_kernel: int = 0):
        super().__init__()
        blocks, c = [], 4
        if stem_kernel > 0:
            total = stem_kernel - 1
            pad = (total, 0) if causal else (total // 2, total - total // 2)
            blocks += [nn.ConstantPad1d(pad, 0.0), weight_norm(nn.Conv1d(4, channels, stem_kernel)), nn.ReLU()]
            c = channels
        for i in range(n_blocks):
            blocks.append(TemporalBlock(c, channels, kernel, 2 ** i, dropout, causal))
            c = channels
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(2 * channels, n_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(x)
        return self.head(torch.cat([h.amax(-1), h.mean(-1)], 1))
