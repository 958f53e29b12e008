"""Model registry: torch ``nn.Module`` classes by short name (pure functions of tensors, no I/O), and the numpy
protein classifiers that save through the same checkpoint format.

Nucleotide-resolution models map one-hot ``(N, 4, L)`` to per-nucleotide logits ``(N, L)``.

The registry does not depend on import order: every model class tfscope ships is listed here by its import path
(``"module:Class"``) and imported on first use, and a checkpoint's ``config.json`` names its class too
(:mod:`tfscope.checkpoint`), so ``load_checkpoint`` works in a process that imported nothing else.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from torch import nn

# registry name -> "module:Class" of every model class tfscope ships (imported lazily, on first use)
BUILTIN: dict[str, str] = {
    "deepsnr": "tfscope.models.deepsnr:DeepSNR",
    "daednet": "tfscope.models.daednet:DAEDNet",
    "dilated": "tfscope.models.dilated:DilatedResNet",
    "pwm": "tfscope.models.pwm:PWMScanner",
    "bertsnr": "tfscope.snr.bertsnr:BertSNR",
    "gated": "tfscope.zoo.gated:GatedZoo",
    "tcn": "tfscope.models.tcn:TCN",
    "bilstm": "tfscope.models.rnn:BiLSTM",
    "danq": "tfscope.models.rnn:DanQ",
    "cnn": "tfscope.models.rnn:PlainCNN",
    "deepbind": "tfscope.moe.models:DeepBindExpert",
    "moe": "tfscope.moe.models:MixtureOfExperts",
    "family_cnn": "tfscope.tfclass.model:FamilyCNN",
    "family_knn_kmer": "tfscope.tfclass.model:KnnKmerHeads",
    "esm-classifier": "tfscope.protein.esm:EsmClassifier",
    "motif-conditioned": "tfscope.anytf.model:MotifConditionedNet",
    # numpy models (checkpoint_arrays / from_checkpoint instead of a state_dict)
    "protein-linear": "tfscope.protein.classic:LinearProteinModel",
    "protein-kmer-tfidf": "tfscope.protein.classic:KmerTfidfModel",
    "protein-ensemble": "tfscope.protein.classic:EnsembleModel",
    "protein-stack": "tfscope.protein.stack:StackModel",
    "protein-align-knn": "tfscope.protein.align:AlignmentKnnModel",
    "protein-dbd-graded": "tfscope.protein.dbdmodel:DbdGradedModel",
    "protein-dbd-tiered": "tfscope.protein.dbdmodel:DbdTieredModel",
    "protein-esm": "tfscope.protein.esm:EsmProteinModel",
}


def class_path(cls: type) -> str:
    """``"module:QualName"`` of a class (what a checkpoint's ``config.json`` stores as ``class``)."""
    return f"{cls.__module__}:{cls.__qualname__}"


def import_class(path: str) -> type[nn.Module]:
    """The registered model class ``"module:Class"``: one listed in :data:`BUILTIN` (imported) or added with
    :func:`register_model`. A checkpoint is untrusted input, so nothing else is imported or looked up (no
    attribute chains such as ``module:obj.attr``).

    Raises
    ------
    ImportError
        A path that names no registered class, or a registered module/class that does not import.
    """
    for cls in MODELS._classes.values():
        if class_path(cls) == path:
            return cls
    if path not in BUILTIN.values():
        raise ImportError(f"not a registered tfscope model class: {path!r}")
    module, _, qual = path.partition(":")
    try:
        return getattr(importlib.import_module(module), qual)
    except AttributeError as e:
        raise ImportError(f"{module} has no class {qual!r}") from e


class _Registry(Mapping):
    """Name -> class mapping whose built-in entries are imported on first access."""

    def __init__(self):
        self._classes: dict[str, type[nn.Module]] = {}

    def __getitem__(self, name: str) -> type[nn.Module]:
        if name not in self._classes:
            if name not in BUILTIN:
                raise KeyError(name)
            self._classes[name] = import_class(BUILTIN[name])
        return self._classes[name]

    def __contains__(self, name) -> bool:
        return name in self._classes or name in BUILTIN

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*BUILTIN, *self._classes]))

    def __len__(self) -> int:
        return len(set(BUILTIN) | set(self._classes))


MODELS = _Registry()


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
    """Add a user model class to the registry (tfscope's own classes are listed in :data:`BUILTIN`)."""
    MODELS._classes[name] = cls
