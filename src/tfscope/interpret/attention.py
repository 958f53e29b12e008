"""Attention maps of k-mer BERT models (BertSNR, Luo et al. 2024, Fig. 4a/4c).

``attention_maps`` returns every layer's and head's token-to-token attention for one sequence;
``mean_attention_per_position`` averages, over a dataset, the attention each token position receives (mean over
layers, heads and query tokens), the quantity BertSNR plots against the binding-site position.
"""

from __future__ import annotations

import base64

import numpy as np
import torch

from ..errors import InputError
from ..io.atomic import atomic_write
from ..plot import png_uri


def _check(model):
    if not hasattr(model, "forward_all"):
        raise InputError(f"attention maps need a BERT model (bertsnr), not {model.__class__.__name__}")


@torch.no_grad()
def attention_maps(model, x) -> np.ndarray:
    """Attention of one sequence: ``(layers, heads, T, T)`` with T = L - k + 3 tokens ([CLS] k-mers [SEP]).

    ``x``: one-hot ``(4, L)`` or ``(1, 4, L)``.
    """
    _check(model)
    model.eval()
    xt = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    if xt.dim() == 2:
        xt = xt.unsqueeze(0)
    att = model.forward_all(xt, output_attentions=True)["attentions"]
    return torch.stack([a[0] for a in att]).numpy()


@torch.no_grad()
def mean_attention_per_position(model, x, *, batch_size: int = 128) -> np.ndarray:
    """Mean attention received by each k-mer token position over windows ``x (N, 4, L)``: ``(L - k + 1,)``."""
    _check(model)
    model.eval()
    total, n = None, 0
    for i in range(0, len(x), batch_size):
        xb = torch.as_tensor(np.asarray(x[i:i + batch_size]), dtype=torch.float32)
        att = model.forward_all(xb, output_attentions=True)["attentions"]
        a = torch.stack(att).mean(dim=(0, 2))          # (B, T, T): mean over layers and heads
        recv = a.mean(1)[:, 1:-1].sum(0)               # attention received per key token, k-mers only
        total = recv if total is None else total + recv
        n += len(xb)
    return (total / max(n, 1)).numpy()


def plot_attention(maps: np.ndarray, path=None, *, title: str = ""):
    """Heatmap grid (layers x heads) of :func:`attention_maps`; returns a PNG data URI, also written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    L, H = maps.shape[:2]
    fig, axes = plt.subplots(L, H, figsize=(1.8 * H, 1.8 * L), squeeze=False)
    for i in range(L):
        for j in range(H):
            axes[i, j].imshow(maps[i, j], cmap="viridis", aspect="auto")
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            if i == 0:
                axes[i, j].set_title(f"head {j + 1}", fontsize=8)
            if j == 0:
                axes[i, j].set_ylabel(f"layer {i + 1}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    uri = png_uri(fig)
    if path is not None:

        with atomic_write(path, "wb") as fh:
            fh.write(base64.b64decode(uri.split(",", 1)[1]))
    return uri
