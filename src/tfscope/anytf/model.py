"""The motif-conditioned network: one model for every matrix, which sees a matrix, never a TF's identity.

For a candidate hit (:mod:`tfscope.anytf.candidates`) the network combines

- a **sequence trunk** shared across matrices: four valid dilated convolutions (kernel 5, dilations 1, 3, 9, 12:
  receptive field exactly ``2 * CONTEXT + 1 = 101`` bp) over the one-hot context read on the hit's strand. At scan
  time it runs once over each record (and once over its reverse complement) and each candidate takes the output at
  its centre, so scanning 879 matrices costs one trunk pass, not 879;
- a **matrix encoder**: two convolutions over the probability matrix (zero-padded to ``MAX_WIDTH`` columns), max-
  and mean-pooled over the matrix's real columns, plus the matrix scalars (IC, width, GC);
- the candidate's **score features** (relative score, -log10 p, the matrix's other hits nearby);

and a small MLP maps them to the logit of "this hit overlaps a true ChIP-seq site of the matrix's TF".
Pure function of tensors (no I/O).
"""

from __future__ import annotations

import torch
from torch import nn

from .candidates import CONTEXT, N_SCORE_FEATURES
from .motifs import MAX_WIDTH

#: per-matrix scalars (:func:`tfscope.anytf.motifs.motif_features`)
N_MOTIF_FEATURES = 4
#: the shipped network's hyper-parameters (recorded in its checkpoint)
DEFAULT_HPARAMS = {"channels": 32, "motif_channels": 16, "hidden": 64, "dropout": 0.1}


class MotifConditionedNet(nn.Module):
    """Rescores PWM candidates from (context, matrix, score features).

    Parameters
    ----------
    channels : trunk width
    motif_channels : matrix-encoder width (the matrix embedding has ``2 * motif_channels`` values)
    hidden : MLP width
    dropout : dropout of the MLP

    Notes
    -----
    :meth:`forward` takes the packed training input ``(N, F)`` (:meth:`pack`): the one-hot context ``(4, 2 *
    CONTEXT + 1)``, the padded matrix ``(4, MAX_WIDTH)``, the matrix scalars and the score features, flattened in that
    order; it returns logits ``(N,)``. Scanning uses :meth:`trunk`, :meth:`encode_motifs` and :meth:`head`.
    """

    dilations = (1, 3, 9, 12)

    def __init__(self, channels: int = 32, motif_channels: int = 16, hidden: int = 64, dropout: float = 0.1):
        super().__init__()
        layers, c_in = [], 4
        for d in self.dilations:
            layers += [nn.Conv1d(c_in, channels, 5, dilation=d), nn.ReLU()]
            c_in = channels
        self.trunk_net = nn.Sequential(*layers)
        self.motif_net = nn.Sequential(nn.Conv1d(4, motif_channels, 3, padding=1), nn.ReLU(),
                                       nn.Conv1d(motif_channels, motif_channels, 3, padding=1), nn.ReLU())
        n_in = channels + 2 * motif_channels + N_MOTIF_FEATURES + N_SCORE_FEATURES
        self.mlp = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.receptive_field = 1 + 4 * sum(self.dilations)
        assert self.receptive_field == 2 * CONTEXT + 1

    @staticmethod
    def pack_sizes() -> tuple[int, int, int, int]:
        return 4 * (2 * CONTEXT + 1), 4 * MAX_WIDTH, N_MOTIF_FEATURES, N_SCORE_FEATURES

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Context embedding of every position: one-hot ``(B, 4, L + 2 * CONTEXT)`` (``CONTEXT`` zero columns each
        side) -> ``(B, channels, L)``."""
        return self.trunk_net(x)

    def encode_motifs(self, mats: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """Matrix embeddings: probabilities ``(M, 4, MAX_WIDTH)`` (zero columns after the matrix) and scalars
        ``(M, N_MOTIF_FEATURES)`` -> ``(M, 2 * motif_channels + N_MOTIF_FEATURES)``."""
        h = self.motif_net(mats)
        real = (mats.sum(1, keepdim=True) > 0).to(h.dtype)  # (M, 1, W)
        hmax = (h * real - (1 - real) * 1e4).amax(-1).clamp_min(0.0)
        hmean = (h * real).sum(-1) / real.sum(-1).clamp_min(1.0)
        return torch.cat([hmax, hmean, feats], 1)

    def head(self, ctx: torch.Tensor, motif_emb: torch.Tensor, score_feats: torch.Tensor) -> torch.Tensor:
        """Logits ``(N,)`` from context embeddings ``(N, channels)``, matrix embeddings ``(N, E)`` and score features
        ``(N, N_SCORE_FEATURES)``."""
        return self.mlp(torch.cat([ctx, motif_emb, score_feats], 1)).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        a, b, c, _ = self.pack_sizes()
        ctx = x[:, :a].reshape(len(x), 4, 2 * CONTEXT + 1)
        mats = x[:, a:a + b].reshape(len(x), 4, MAX_WIDTH)
        mf = x[:, a + b:a + b + c]
        sf = x[:, a + b + c:]
        return self.head(self.trunk(ctx)[:, :, 0], self.encode_motifs(mats, mf), sf)
