"""Input attributions for any tfscope model: vanilla gradients, integrated gradients (captum) and ShiftSmooth.

The one entry point is :func:`attribute`. Models take one-hot DNA ``(N, 4, L)`` and return either one logit per
sequence ``(N,)`` (e.g. :class:`tfscope.moe.DeepBindExpert`, :class:`tfscope.moe.MixtureOfExperts`) or one logit
per position ``(N, L)`` (nucleotide-resolution models); ``(N, L)`` outputs are reduced to ``(N,)`` by summing over
positions or by picking one ``target`` position.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from ..errors import InputError

METHODS = ("gradient", "integrated_gradients", "shiftsmooth")


def _scalar_output(model: nn.Module, target: int | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """``f(x) -> (N,)``: the model output reduced to one scalar per sequence."""

    def f(x: torch.Tensor) -> torch.Tensor:
        out = model(x)
        if out.dim() == 1:
            return out
        if out.dim() == 2 and out.shape[1] == 1:
            return out[:, 0]
        if out.dim() == 2:
            return out.sum(1) if target is None else out[:, target]
        raise InputError(f"attribution needs a model output of shape (N,) or (N, L), got {tuple(out.shape)}")

    return f


def _grad(f, x: torch.Tensor) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x).sum(), x)
    return g.detach()


def _shift(x: torch.Tensor, k: int, mode: str) -> torch.Tensor:
    """Shift ``(B, 4, L)`` by ``k`` positions along L (positive = to the right); ``zero`` pads with zero columns."""
    if k == 0:
        return x
    if mode == "circular":
        return torch.roll(x, k, dims=-1)
    out = torch.zeros_like(x)
    if k > 0:
        out[..., k:] = x[..., :-k]
    else:
        out[..., :k] = x[..., -k:]
    return out


def shiftsmooth_gradients(f, x: torch.Tensor, *, shift: int = 3, mode: str = "circular") -> torch.Tensor:
    """ShiftSmooth input gradients of ``f`` at one-hot ``x`` ``(B, 4, L)``.

    For every shift ``k`` in ``[-shift, shift]`` the input is shifted by ``k`` positions (``circular`` roll or
    ``zero`` padding), the input gradient is computed and shifted back by ``-k``; the result is the mean over
    shifts (with ``zero`` padding, each position is averaged over the shifts in which it stayed inside the
    window). ``shift = 0`` gives the vanilla gradient. Returns ``(B, 4, L)``.
    """
    total = torch.zeros_like(x)
    count = torch.zeros(x.shape[-1], dtype=x.dtype, device=x.device)
    ones = torch.ones(1, 1, x.shape[-1], dtype=x.dtype, device=x.device)
    shifts = list(range(-shift, shift + 1))
    # all shifted copies in one batch: one forward/backward pass instead of one per shift (f is per-sequence)
    grads = _grad(f, torch.cat([_shift(x, k, mode) for k in shifts])).split(x.shape[0])
    for k, g in zip(shifts, grads):
        total += _shift(g, -k, mode)
        count += _shift(_shift(ones, k, mode), -k, mode)[0, 0]  # 1 where the position survived the round trip
    return total / count.clamp(min=1)


def attribute(model: nn.Module, x, *, method: str = "gradient", target: int | None = None, batch_size: int = 128,
              multiply_by_inputs: bool = True, shift: int = 3, shift_mode: str = "circular", n_steps: int = 50,
              baseline: str | np.ndarray = "zeros") -> np.ndarray:
    """Per-nucleotide attribution of a model's output to its one-hot input, batch-wise.

    Parameters
    ----------
    model : nn.Module
        Any tfscope model mapping ``(N, 4, L)`` to ``(N,)`` or ``(N, L)`` logits (evaluated in eval mode).
    x : array or tensor ``(N, 4, L)``
        One-hot DNA (:func:`tfscope.sequence.one_hot`).
    method : ``"gradient"`` | ``"integrated_gradients"`` | ``"shiftsmooth"``
        ``gradient``: input gradient (saliency, Simonyan et al. 2014). ``integrated_gradients``: captum
        ``IntegratedGradients`` (Sundararajan et al. 2017) from ``baseline`` with ``n_steps`` Riemann steps.
        ``shiftsmooth``: mean of input gradients over input shifts in ``[-shift, shift]`` (each shifted back),
        see :func:`shiftsmooth_gradients`.
    target : int, optional
        For ``(N, L)`` outputs: attribute the logit at this position; None sums the logits over positions.
    batch_size : int
        Sequences per forward/backward pass.
    multiply_by_inputs : bool
        True (default): gradient x input for ``gradient``/``shiftsmooth`` and captum's (input - baseline) scaling
        for ``integrated_gradients``, so only observed bases carry attribution. False: raw gradients / path
        integrals.
    shift, shift_mode : ShiftSmooth maximum shift in nucleotides and ``"circular"`` or ``"zero"`` padding.
    n_steps : integrated-gradients steps.
    baseline : ``"zeros"`` (all-zero one-hot), ``"uniform"`` (0.25 everywhere) or an array ``(4, L)``.

    Returns
    -------
    np.ndarray ``(N, 4, L)`` float32 attributions. Per-position scores: ``attr.sum(1)``.

    Raises
    ------
    InputError
        Unknown method/mode, input not ``(N, 4, L)``, or a model output of another shape.
    """
    if method not in METHODS:
        raise InputError(f"unknown attribution method {method!r}; choose from {', '.join(METHODS)}")
    if shift_mode not in ("circular", "zero"):
        raise InputError(f"shift_mode must be 'circular' or 'zero', got {shift_mode!r}")
    if shift < 0:
        raise InputError(f"shift must be >= 0, got {shift}")
    x = torch.as_tensor(np.asarray(x, dtype=np.float32) if not isinstance(x, torch.Tensor) else x).float()
    if x.dim() != 3 or x.shape[1] != 4:
        raise InputError(f"input must be one-hot of shape (N, 4, L), got {tuple(x.shape)}")
    p = next(model.parameters(), None)
    x = x.to(p.device if p is not None else "cpu")  # attributions run where the model is (CPU or GPU)
    was_training = model.training
    model.eval()
    f = _scalar_output(model, target)
    out = []
    try:
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            if method == "gradient":
                a = _grad(f, xb)
                if multiply_by_inputs:
                    a = a * xb
            elif method == "shiftsmooth":
                a = shiftsmooth_gradients(f, xb, shift=shift, mode=shift_mode)
                if multiply_by_inputs:
                    a = a * xb
            else:
                from captum.attr import IntegratedGradients

                if isinstance(baseline, str):
                    if baseline not in ("zeros", "uniform"):
                        raise InputError(f"baseline must be 'zeros', 'uniform' or an array, got {baseline!r}")
                    b = torch.zeros_like(xb) if baseline == "zeros" else torch.full_like(xb, 0.25)
                else:
                    b = torch.as_tensor(np.asarray(baseline, dtype=np.float32)).to(xb.device).expand_as(xb)
                ig = IntegratedGradients(f, multiply_by_inputs=multiply_by_inputs)
                a = ig.attribute(xb, baselines=b, n_steps=n_steps, internal_batch_size=max(batch_size, 1)).detach()
            out.append(a.float().cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 4, x.shape[-1]), np.float32)


__all__ = ["attribute", "shiftsmooth_gradients", "METHODS"]
