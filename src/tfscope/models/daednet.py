"""D-AEDNet (Zhang et al., 2021): attention-gated encoder-decoder for nucleotide-resolution TFBS prediction.

The one-hot matrix is treated as a 1-channel ``4 x L`` image (as in the paper and the BertSNR baseline code):
two encoder blocks (3x3 conv-ReLU-BN twice, stride-2 downsampling), a 1x3 bridge, two decoder blocks with
bilinear upsampling, attention gates on the skip connections (Oktay et al. 2018) and concatenation, and an output
convolution that collapses the 4 rows to one logit per nucleotide. Upsampling sizes are taken from the skip
tensors, so any even-by-4 length works (e.g. 100 bp windows).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(cout),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(cout))


class AttentionGate(nn.Module):
    """Additive attention gate: ``skip * sigmoid(psi(relu(Wg g + Wx skip)))``; shapes kept."""

    def __init__(self, gate_channels: int, skip_channels: int, inter_channels: int):
        super().__init__()
        self.wg = nn.Sequential(nn.Conv2d(gate_channels, inter_channels, 1), nn.BatchNorm2d(inter_channels))
        self.wx = nn.Sequential(nn.Conv2d(skip_channels, inter_channels, 1), nn.BatchNorm2d(inter_channels))
        self.psi = nn.Sequential(nn.Conv2d(inter_channels, 1, 1), nn.BatchNorm2d(1), nn.Sigmoid())

    def forward(self, gate: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return skip * self.psi(F.relu(self.wg(gate) + self.wx(skip)))


class DAEDNet(nn.Module):
    """Attention encoder-decoder network.

    Parameters
    ----------
    channels : int
        Channels of the first encoder block (16 in the paper); doubled in the second, quadrupled in the bridge.

    Shapes
    ------
    input ``(N, 4, L)`` one-hot; output ``(N, L)`` logits.
    """

    def __init__(self, channels: int = 16):
        super().__init__()
        c1, c2, c3 = channels, 2 * channels, 4 * channels
        self.enc1 = _block(1, c1)
        self.down1 = nn.Conv2d(c1, c1, 3, stride=2, padding=1)
        self.enc2 = _block(c1, c2)
        self.down2 = nn.Conv2d(c2, c2, 3, stride=2, padding=1)
        self.bridge = nn.Sequential(nn.Conv2d(c2, c3, (1, 3), padding=(0, 1)), nn.ReLU(), nn.BatchNorm2d(c3))
        self.up2 = nn.Conv2d(c3, c2, 1)
        self.gate2 = AttentionGate(c2, c2, c1)
        self.dec2 = _block(2 * c2, c2)
        self.up1 = nn.Conv2d(c2, c1, 1)
        self.gate1 = AttentionGate(c1, c1, c1)
        self.dec1 = _block(2 * c1, c1)
        self.out = nn.Sequential(nn.Conv2d(c1, 1, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(1),
                                 nn.Conv2d(1, 1, (4, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x.unsqueeze(1))                          # (N, c1, 4, L)
        e2 = self.enc2(self.down1(e1))                          # (N, c2, 2, L/2)
        b = self.bridge(self.down2(e2))                         # (N, c3, 1, L/4)
        u2 = F.interpolate(self.up2(b), size=e2.shape[-2:], mode="bilinear", align_corners=True)
        d2 = self.dec2(torch.cat([self.gate2(u2, e2), u2], dim=1))
        u1 = F.interpolate(self.up1(d2), size=e1.shape[-2:], mode="bilinear", align_corners=True)
        d1 = self.dec1(torch.cat([self.gate1(u1, e1), u1], dim=1))
        return self.out(d1).squeeze(2).squeeze(1)               # (N, L)
