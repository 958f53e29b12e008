"""Where tensors run: the ``--device`` rule and mixed precision, shared by training, prediction and scanning.

Kept out of :mod:`tfscope.train` so that code that only predicts (the scanner, attributions) does not import the
training loop.
"""

from __future__ import annotations

import contextlib

import torch

from .errors import InputError


def resolve_device(device: str | None = "auto") -> str:
    """Torch device string for a ``--device`` value: ``auto`` (or None) = ``cuda`` when available, else ``cpu``;
    ``cpu``; ``cuda`` / ``cuda:N``.

    Raises
    ------
    InputError
        For an unknown device, or ``cuda`` when torch sees no CUDA device (CPU-only build or no GPU).
    """
    device = device or "auto"
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InputError(f"--device {device}: torch {torch.__version__} sees no CUDA device (use cpu or auto)")
        return device
    raise InputError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")


def autocast(device: str, amp: str | None):
    """Autocast context for ``amp`` in (None, ``"bf16"``, ``"fp16"``).

    ``"bf16"``: bfloat16 mixed precision on CUDA and on CPU (on a CPU with AMX or AVX512-BF16, oneDNN runs the
    convolutions and matrix products in bf16: BertSNR fine-tuning steps ran 2.3-2.7x faster on the project's Xeon,
    see ``docs/bertsnr.md``; elsewhere it is emulated and slower). ``"fp16"``: CUDA only (a no-op on CPU).
    None: full precision. Raises ValueError for any other value."""
    if amp is None:
        return contextlib.nullcontext()
    if amp not in ("bf16", "fp16"):
        raise ValueError(f"amp must be None, 'bf16' or 'fp16', not {amp!r}")
    if str(device).startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)
    if amp == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()
