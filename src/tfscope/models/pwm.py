"""PWM matching baseline (the "Matching" baseline of BertSNR) as a model with the nucleotide-model contract.

The JASPAR log-odds matrix is scanned on both strands; each window's score is rescaled to a relative score
``(s - min) / (max - min)`` in [0, 1] (as in MOODS/Biopython "relative score"), and each nucleotide gets the best
relative score of any window covering it. Output logits are ``scale * (relative - threshold)``, so the usual 0.5
probability cut equals ``relative >= threshold``. Scanning is a one-line conv1d, written here because FIMO-style
tools (memelite) return thresholded hits, not the per-nucleotide continuous scores needed for AUROC/AUPRC.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PWMScanner(nn.Module):
    """Log-odds PWM scanner.

    Parameters
    ----------
    width : int
        Motif width W (the ``log_odds`` buffer is ``(4, W)``, loaded from the checkpoint or set by
        :meth:`set_pwm`).
    threshold : float
        Relative score in [0, 1] that counts as a hit (probability 0.5 after the sigmoid).
    scale : float
        Slope of the logit transform.

    Shapes
    ------
    input ``(N, 4, L)`` one-hot with ``L >= W``; output ``(N, L)`` logits.
    """

    def __init__(self, width: int = 10, threshold: float = 0.8, scale: float = 20.0):
        super().__init__()
        self.threshold = threshold
        self.scale = scale
        self.register_buffer("log_odds", torch.zeros(4, width))
        self.register_buffer("threshold_t", torch.tensor(float(threshold)))

    def set_pwm(self, log_odds) -> "PWMScanner":
        """Install a ``(4, W)`` log-odds matrix (W must equal ``width``)."""
        lo = torch.as_tensor(log_odds, dtype=torch.float32)
        if lo.shape != self.log_odds.shape:
            raise ValueError(f"PWM shape {tuple(lo.shape)} != {tuple(self.log_odds.shape)}")
        self.log_odds.copy_(lo)
        return self

    def set_threshold(self, threshold: float) -> None:
        """Set the relative-score threshold (stored in the weights, so checkpoints keep it)."""
        self.threshold = float(threshold)
        self.threshold_t.fill_(float(threshold))

    def relative_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Per-nucleotide best relative score ``(N, L)`` in [0, 1] over both strands."""
        lo = self.log_odds
        w = lo.shape[1]
        kernels = torch.stack([lo, lo.flip(0).flip(1)])                # forward, reverse complement
        s = F.conv1d(x.float(), kernels)                                # (N, 2, L-W+1)
        smin, smax = lo.min(0).values.sum(), lo.max(0).values.sum()
        rel = ((s - smin) / (smax - smin)).amax(1, keepdim=True)        # (N, 1, L-W+1)
        rel = F.pad(rel, (w - 1, w - 1), value=0.0)
        return F.max_pool1d(rel, kernel_size=w, stride=1).squeeze(1)    # (N, L)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * (self.relative_scores(x) - self.threshold_t)
