"""Expert CNN and mixture of experts for sequence-level TFBS prediction (arXiv 2507.09754).

Models map one-hot DNA ``(N, 4, L)`` to one binding logit per sequence ``(N,)``. They are listed in
:data:`tfscope.models.BUILTIN` as ``"deepbind"`` and ``"moe"`` so :mod:`tfscope.checkpoint` can rebuild them.
"""

from __future__ import annotations

import torch
from torch import nn


class DeepBindExpert(nn.Module):
    """DeepBind-style CNN (Alipanahi et al. 2015): convolution motif detectors, rectification, global max (and
    average) pooling over positions, a fully connected hidden layer with dropout, one logit.

    Parameters
    ----------
    filters : int
        Number of convolution filters (motif detectors).
    width : int
        Filter width in nucleotides (DeepBind: 24).
    hidden : int
        Size of the fully connected layer; its activations are the expert's *embedding* used by the MoE.
    dropout : float
        Dropout rate before and after the hidden layer (also used for MC-dropout evaluation).
    conv2 : int
        Extra filters of an optional second (dilated) convolution layer before pooling; 0 = plain DeepBind.
    rc : bool
        If True, the logit is the mean over the sequence and its reverse complement (strand invariance).

    Input ``(N, 4, L)`` float one-hot; :meth:`forward` returns logits ``(N,)``, :meth:`embed` returns
    ``(N, hidden)``.
    """

    def __init__(self, filters: int = 64, width: int = 24, hidden: int = 32, dropout: float = 0.5, conv2: int = 0,
                 rc: bool = False):
        super().__init__()
        self.rc = rc
        layers = [nn.Conv1d(4, filters, width, padding=width // 2), nn.ReLU()]
        out = filters
        if conv2:
            layers += [nn.Conv1d(filters, conv2, 5, padding=4, dilation=2), nn.ReLU()]
            out = conv2
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * out, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.out = nn.Linear(hidden, 1)
        self.embedding_dim = hidden

    def _pool1(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        return torch.cat([h.amax(-1), h.mean(-1)], dim=1)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic pooled convolution features ``(N, S, 2 * channels)``, S = 2 strands if ``rc`` else 1."""
        p = [self._pool1(x)]
        if self.rc:
            p.append(self._pool1(torch.flip(x, dims=(1, 2))))
        return torch.stack(p, dim=1)

    def embed_from_pooled(self, p: torch.Tensor) -> torch.Tensor:
        """Embedding ``(N, hidden)`` from :meth:`pooled` features (dropout applies here)."""
        return self.fc(p).mean(dim=1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate embedding ``(N, hidden)`` (averaged over both strands when ``rc``)."""
        return self.embed_from_pooled(self.pooled(x))

    def from_pooled(self, p: torch.Tensor) -> torch.Tensor:
        """Logits ``(N,)`` from :meth:`pooled` features."""
        return self.out(self.embed_from_pooled(p)).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_pooled(self.pooled(x))


class MixtureOfExperts(nn.Module):
    """Mixture of pretrained experts (arXiv 2507.09754): frozen experts' penultimate embeddings are concatenated,
    a gating network maps the concatenation to softmax weights over experts, each expert's embedding is scaled by
    its weight and a prediction head maps the weighted concatenation to one logit.

    Parameters
    ----------
    expert_hparams : list of dict
        Hyper-parameters of each :class:`DeepBindExpert` (the experts are rebuilt from them; load their weights
        with :meth:`load_experts`).
    gate_hidden, head_hidden : int
        Hidden sizes of the gating network and of the prediction head.
    dropout : float
        Dropout in gate and head (MC-dropout evaluation samples it).
    expert_names : list of str, optional
        Names (e.g. TFs) of the experts, kept in checkpoints.
    freeze_experts : bool
        Stage 2 of the paper: experts are frozen (no gradients, kept in eval mode when the MoE trains).

    Input ``(N, 4, L)``; output logits ``(N,)``; :meth:`gate_weights` returns ``(N, n_experts)``.
    """

    def __init__(self, expert_hparams: list[dict], gate_hidden: int = 64, head_hidden: int = 64,
                 dropout: float = 0.3, expert_names: list[str] | None = None, freeze_experts: bool = True):
        super().__init__()
        self.expert_hparams = [dict(h) for h in expert_hparams]
        self.expert_names = list(expert_names or [f"expert{i}" for i in range(len(expert_hparams))])
        self.experts = nn.ModuleList([DeepBindExpert(**h) for h in expert_hparams])
        dims = [e.embedding_dim for e in self.experts]
        self.dims = dims
        total = sum(dims)
        self.gate = nn.Sequential(nn.Linear(total, gate_hidden), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(gate_hidden, len(dims)))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(total, head_hidden), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(head_hidden, 1))
        self.set_frozen(freeze_experts)

    def set_frozen(self, frozen: bool) -> None:
        """Freeze (stage 2) or unfreeze (optional fine-tuning) the experts."""
        self.frozen = frozen
        for p in self.experts.parameters():
            p.requires_grad_(not frozen)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.experts.eval()  # frozen experts stay deterministic
        return self

    def load_experts(self, experts: list[nn.Module]) -> None:
        """Copy trained :class:`DeepBindExpert` weights into the MoE's experts (same order as ``expert_hparams``)."""
        for mine, theirs in zip(self.experts, experts):
            mine.load_state_dict(theirs.state_dict())

    def embed_experts(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenated expert embeddings ``(N, sum(hidden))``."""
        return torch.cat([e.embed(x) for e in self.experts], dim=1)

    def _weights(self, z: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.gate(z), dim=-1)

    def from_embeddings(self, z: torch.Tensor) -> torch.Tensor:
        """Logits ``(N,)`` from precomputed concatenated embeddings ``z`` (``(N, sum(hidden))``)."""
        w = self._weights(z)
        scale = torch.repeat_interleave(w, torch.tensor(self.dims, device=z.device), dim=1)
        return self.head(z * scale * len(self.dims)).squeeze(-1)

    def gate_weights(self, x: torch.Tensor) -> torch.Tensor:
        """Gating weights ``(N, n_experts)`` (rows sum to 1)."""
        return self._weights(self.embed_experts(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_embeddings(self.embed_experts(x))


class EmbeddingMoE(nn.Module):
    """The gate + head of a :class:`MixtureOfExperts` applied to precomputed embeddings (stage-2 training on cached
    frozen-expert embeddings; shares parameters with ``moe``). Input ``(N, D)``, output ``(N,)``."""

    def __init__(self, moe: MixtureOfExperts):
        super().__init__()
        self.moe = moe

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.moe.from_embeddings(z)

