"""Model registry: torch ``nn.Module`` classes by short name (pure functions of tensors, no I/O).

Nucleotide-resolution models map one-hot ``(N, 4, L)`` to per-nucleotide logits ``(N, L)``.
"""

from __future__ import annotations

from torch import nn

from .bertsnr import BertSNR
from .daednet import DAEDNet
from .deepsnr import DeepSNR
from .dilated import DilatedResNet
from .pwm import PWMScanner
from .rnn import BiLSTM, DanQ, PlainCNN
from .tcn import TCN

MODELS: dict[str, type[nn.Module]] = {
    "deepsnr": DeepSNR,
    "daednet": DAEDNet,
    "dilated": DilatedResNet,
    "pwm": PWMScanner,
    "bertsnr": BertSNR,
    "tcn": TCN,
    "bilstm": BiLSTM,
    "danq": DanQ,
    "cnn": PlainCNN,
}


def build_model(name: str, **hparams) -> nn.Module:
    """Instantiate a registered model.

    Raises
    ------
    KeyError
        For an unknown model name (the message lists the registered ones).
    """
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}")
    return MODELS[name](**hparams)


def register_model(name: str, cls: type[nn.Module]) -> None:
    """Add a model class to the registry (used by task modules that define their own models)."""
    MODELS[name] = cls
