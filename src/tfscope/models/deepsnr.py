"""DeepSNR (Salekin et al., 2018): convolution + deconvolution for single-nucleotide TFBS resolution.

Follows the architecture used as a baseline by BertSNR (Luo et al. 2024): one motif-length convolution over the
one-hot matrix (16 filters), global max pooling that remembers the argmax positions, a 16-1-16 fully connected
bottleneck, max-unpooling to the remembered positions, a transposed convolution back to ``(4, L)``, batch norm
and a max over the 4 rows. Difference: the reference applies ReLU before the final sigmoid, which makes every
probability >= 0.5; we return the pre-ReLU logits so probabilities span (0, 1) and a 0.5 threshold is meaningful.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DeepSNR(nn.Module):
    """Conv/deconv nucleotide-resolution TFBS model.

    Parameters
    ----------
    motif_length : int
        Width of the convolution kernel (bp).
    n_filters : int
        Number of convolution filters (16 in the paper).

    Shapes
    ------
    input ``(N, 4, L)`` one-hot, ``L >= motif_length``; output ``(N, L)`` logits.
    """

    def __init__(self, motif_length: int = 20, n_filters: int = 16):
        super().__init__()
        self.motif_length = motif_length
        self.conv = nn.Conv2d(1, n_filters, kernel_size=(4, motif_length))
        self.bn = nn.BatchNorm2d(n_filters)
        self.fc = nn.Sequential(nn.Linear(n_filters, 1), nn.ReLU(), nn.Linear(1, n_filters))
        self.deconv = nn.ConvTranspose2d(n_filters, 1, kernel_size=(4, motif_length))
        self.bn_out = nn.BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn(self.conv(x.unsqueeze(1))))          # (N, F, 1, L-M+1)
        pooled, idx = F.adaptive_max_pool2d(h, (1, 1), return_indices=True)
        z = self.fc(pooled.flatten(1)).view_as(pooled)          # (N, F, 1, 1)
        up = F.max_unpool2d(z, idx, kernel_size=(1, h.shape[-1]), output_size=h.shape[-2:])
        out = self.bn_out(self.deconv(up))                      # (N, 1, 4, L)
        return out.amax(dim=2).squeeze(1)                       # (N, L)
