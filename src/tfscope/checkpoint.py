"""The one checkpoint format: a directory with ``model.safetensors`` (weights) and ``config.json`` (self-description).

``config.json`` holds ``format``, ``tfscope_version``, ``task``, ``model`` (registry name), ``class`` (the model
class as ``"module:Class"``), ``hparams``, ``alphabet``, and free-form ``meta`` (labels, TF, window, k, training data
summary, metrics, thresholds). Loading imports the class the checkpoint names (so it does not depend on which
tfscope modules were imported before; checkpoints without ``class`` are resolved through the registry
:data:`tfscope.models.MODELS`), rebuilds the model and never unpickles code.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from torch import nn

from . import __version__
from .errors import CheckpointError
from .sequence import ALPHABET

FORMAT = "tfscope-checkpoint/1"


def save_checkpoint(path, model, *, model_name: str, task: str, hparams: dict, meta: dict | None = None) -> Path:
    """Write ``model`` to the directory ``path`` atomically (a temp directory renamed into place).

    ``model`` is a torch ``nn.Module`` (its ``state_dict`` is stored) or an array model (the numpy classifiers of
    :mod:`tfscope.protein`) with ``checkpoint_arrays() -> dict[str, np.ndarray]`` and a classmethod
    ``from_checkpoint(arrays, config)``. Returns the checkpoint directory.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="." + path.name + ".", dir=path.parent))
    try:
        if isinstance(model, nn.Module):
            from safetensors.torch import save_file

            state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
            save_file(state, str(tmp / "model.safetensors"))
        else:
            import numpy as np
            from safetensors.numpy import save_file

            save_file({k: np.ascontiguousarray(v) for k, v in model.checkpoint_arrays().items()},
                      str(tmp / "model.safetensors"))
        from .models import class_path

        config = {"format": FORMAT, "tfscope_version": __version__, "task": task, "model": model_name,
                  "class": class_path(type(model)), "hparams": hparams, "alphabet": ALPHABET, "meta": meta or {}}
        (tmp / "config.json").write_text(json.dumps(config, indent=2, default=_json_default) + "\n")
        from .io.atomic import respect_umask

        respect_umask(tmp)  # mkdtemp makes 0700, safetensors 0600: readable by others as the umask allows
        if path.exists():
            old = path.with_name("." + path.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _json_default(o):
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def read_config(path) -> dict:
    """Read and check a checkpoint's ``config.json``.

    Raises
    ------
    CheckpointError
        Missing directory/files, invalid JSON or a format other than :data:`FORMAT`.
    """
    path = Path(path)
    cfg_path = path / "config.json"
    if not cfg_path.exists() or not (path / "model.safetensors").exists():
        raise CheckpointError(f"{path}: not a tfscope checkpoint (needs config.json and model.safetensors)")
    return read_format_json(cfg_path, FORMAT)


def read_format_json(path, expected_format: str) -> dict:
    """Read a JSON description whose ``format`` field must equal ``expected_format``.

    Raises
    ------
    CheckpointError
        Invalid JSON or another format.
    """
    path = Path(path)
    try:
        cfg = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: invalid JSON ({e})") from e
    if cfg.get("format") != expected_format:
        raise CheckpointError(f"{path}: unknown checkpoint format {cfg.get('format')!r}, expected {expected_format!r}")
    return cfg


def model_class(cfg: dict, path="", registry: dict | None = None) -> type[nn.Module]:
    """The model class a checkpoint config names: its ``class`` (``"module:Class"``, imported), else its
    ``model`` name in ``registry`` (default :data:`tfscope.models.MODELS`).

    Raises
    ------
    CheckpointError
        Neither resolves to a class.
    """
    from .models import MODELS, import_class

    name = cfg.get("model")
    if registry is None and cfg.get("class"):
        try:
            return import_class(cfg["class"])
        except ImportError:
            pass  # the class moved since the checkpoint was written: the registry name still finds it
    reg = registry if registry is not None else MODELS
    if name not in reg:
        raise CheckpointError(f"{path}: unknown model {name!r} (known: {', '.join(sorted(reg))})")
    return reg[name]


def load_checkpoint(path, *, task: str | None = None, registry: dict | None = None):
    """Load a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : directory
    task : str, optional
        Expected task (e.g. ``"snr"``); a checkpoint of another task raises.
    registry : dict, optional
        Model name -> class; when given it decides alone. By default the class named in ``config.json``
        (``"module:Class"``) is imported, falling back to :data:`tfscope.models.MODELS` by model name (older
        checkpoints, or a class that moved).

    Returns
    -------
    (model, config) : (nn.Module in eval mode, or an array model, dict)

    Raises
    ------
    CheckpointError
        Wrong task, unknown model, or weights that do not match the model (truncated/mismatched file).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    cfg = read_config(path)
    if task is not None and cfg.get("task") != task:
        raise CheckpointError(f"{path}: checkpoint is for task {cfg.get('task')!r}, not {task!r}")
    name = cfg.get("model")
    cls = model_class(cfg, path, registry)
    if not issubclass(cls, nn.Module):
        return _load_array_model(cls, path, cfg), cfg
    model = cls(**cfg.get("hparams", {}))
    try:
        state = load_file(str(Path(path) / "model.safetensors"))
    except (SafetensorError, OSError, Exception) as e:  # safetensors raises several types on truncation
        raise CheckpointError(f"{path}/model.safetensors: cannot read weights ({e})") from e
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not match model {name!r}: {str(e).splitlines()[0]}") from e
    model.eval()
    return model, cfg


def _load_array_model(cls, path, cfg: dict):
    """An array model (see :func:`save_checkpoint`) from its weights and config. Raises CheckpointError."""
    from safetensors.numpy import load_file

    try:
        arrays = load_file(str(Path(path) / "model.safetensors"))
    except Exception as e:  # safetensors raises several types on truncation
        raise CheckpointError(f"{path}/model.safetensors: cannot read weights ({e})") from e
    try:
        return cls.from_checkpoint(arrays, cfg)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from e
    except (KeyError, ValueError, TypeError, IndexError) as e:
        raise CheckpointError(f"{path}: weights or config do not match model {cfg.get('model')!r} "
                              f"({type(e).__name__}: {e})") from e
