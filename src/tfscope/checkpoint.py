"""The one checkpoint format: a directory with ``model.safetensors`` (weights) and ``config.json`` (self-description).

``config.json`` holds ``format``, ``tfscope_version``, ``task``, ``model`` (registry name), ``class`` (the model
class as ``"module:Class"``), ``hparams``, ``alphabet``, and free-form ``meta`` (labels, TF, window, k, training data
summary, metrics, thresholds). Loading imports the class the checkpoint names when it is one of tfscope's registered
model classes (:data:`tfscope.models.MODELS`; so it does not depend on which tfscope modules were imported before;
other checkpoints are resolved by their ``model`` name in the registry), rebuilds the model and never unpickles code.

Trust: a checkpoint is untrusted input (shared zoos, models from a paper's supplement). ``config.json`` records
``weights_sha256`` (``{"model.safetensors": sha256 hex}``: plain file names inside the checkpoint directory, covering
every ``*.safetensors`` file); loading verifies it and refuses a mismatch, refuses non-finite weights, and validates
every field of ``config.json`` first (:mod:`tfscope.checkpoint_schema`: TF names are names, never paths or markup).
A checkpoint without checksums is refused unless unverified loading is allowed (:func:`allow_unverified`, the CLI's
``--allow-unverified``: then one :class:`UncheckedCheckpointWarning` each); :func:`stamp_checksums` records the
checksums of a checkpoint the user trusts.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import re
import shutil
import warnings
from pathlib import Path

from torch import nn

from . import __version__
from .checkpoint_schema import check_outputs, validate_config
from .errors import CheckpointError, OutputError, TfscopeWarning
from .io.atomic import OUTPUT_ERRNOS, atomic_write, blocked_signals, private_tempdir, respect_umask
from .models import MODELS, class_path, import_class
from .sequence import ALPHABET

FORMAT = "tfscope-checkpoint/1"
WEIGHTS = "model.safetensors"


class UncheckedCheckpointWarning(TfscopeWarning):
    """A checkpoint without a recorded weights checksum, loaded unverified because :func:`allow_unverified` is on."""


#: whether checkpoints without a weights checksum load (with a warning) instead of being refused
_UNVERIFIED_OK: contextvars.ContextVar[bool] = contextvars.ContextVar("tfscope_allow_unverified", default=False)


@contextlib.contextmanager
def allow_unverified(allow: bool = True):
    """Within the block.

    Checkpoints that record no weights checksum load with one :class:`UncheckedCheckpointWarning` each instead of
    raising :class:`CheckpointError` (the CLI's ``--allow-unverified``). For checkpoints from a source the user trusts;
    :func:`stamp_checksums` makes it permanent. Checksums that are recorded are always verified.
    """
    token = _UNVERIFIED_OK.set(bool(allow))
    try:
        yield
    finally:
        _UNVERIFIED_OK.reset(token)


def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_NUMBER_LIST = re.compile(r"\[\s*(-?[0-9][0-9.eE+-]*(?:,\s*-?[0-9][0-9.eE+-]*)*)\s*\]")


def dump_config(config: dict) -> str:
    """Return a checkpoint's ``config.json`` text.

    Indented JSON with every list of plain numbers on one line (a calibrated zoo holds thousands of numbers: 2.3x
    smaller than one number per line, and still readable).
    """
    text = json.dumps(config, indent=2, default=_json_default)
    return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text) + "\n"


def stamp_checksums(path) -> dict:
    """Record the sha256 of a checkpoint's weights in its ``config.json`` (``weights_sha256``).

    Rewriting the file atomically; everything else in the config is kept as it is. For checkpoints written before
    checksums existed (``save_checkpoint`` records them itself): stamping says "I trust these weights", so run it only
    on a checkpoint whose source you trust. Run it on a directory of checkpoints with ``python
    scripts/stamp_checksums.py DIR ...``.

    Parameters
    ----------
    path : checkpoint directory (``config.json`` + ``model.safetensors``)

    Returns
    -------
    ``{file name: sha256 hex}`` now recorded.

    Raises
    ------
    CheckpointError
        Not a checkpoint, or weights that do not load or hold non-finite values (nothing is stamped then).
    """
    path = Path(path)
    cfg = read_config(path, verify=False)
    _read_weights(path, cfg, numpy=True)  # refuse to vouch for weights that do not load or are not finite
    sums = {WEIGHTS: file_sha256(path / WEIGHTS)}
    cfg["weights_sha256"] = sums
    with atomic_write(path / "config.json") as fh:
        fh.write(dump_config(cfg))
    return sums


def verify_checksums(path, cfg: dict) -> bool:
    """Check the weights of checkpoint ``path`` against the sha256 recorded in ``cfg`` (``weights_sha256``).

    Its keys must be plain file names inside ``path`` and cover every weights file (``*.safetensors``).

    Returns
    -------
    True when verified; False when the config records no checksum and :func:`allow_unverified` is on (a one-line
    :class:`UncheckedCheckpointWarning` is issued).

    Raises
    ------
    CheckpointError
        ``FILE: checksum mismatch, the file is corrupt or was changed``; no checksum recorded (unless
        :func:`allow_unverified`); a key outside the checkpoint directory; a weights file without a checksum.
    """
    path = Path(path)
    sums = cfg.get("weights_sha256")
    if not sums:
        if not _UNVERIFIED_OK.get():
            raise CheckpointError(f"{path}: no weights checksum recorded (weights_sha256), refusing unverified "
                                  "weights; if you trust where this checkpoint came from, pass --allow-unverified or "
                                  f"stamp it: python scripts/stamp_checksums.py {path}")
        warnings.warn(f"{path}: no weights checksum recorded; loaded unverified (--allow-unverified)",
                      UncheckedCheckpointWarning, stacklevel=3)
        return False
    where = os.path.abspath(path)
    for name in sums:
        if os.path.dirname(os.path.abspath(os.path.join(where, name))) != where or name in (".", ".."):
            raise CheckpointError(f"{path / 'config.json'}: weights_sha256: {name!r} is not a file in the checkpoint "
                                  "directory")
    missing = sorted({WEIGHTS, *(p.name for p in path.glob("*.safetensors"))} - set(sums))
    if missing:
        raise CheckpointError(f"{path / 'config.json'}: weights_sha256: no checksum of {', '.join(missing)} (every "
                              "weights file must be covered)")
    for name, digest in sums.items():
        f = path / name
        if not f.is_file():
            raise CheckpointError(f"{f}: missing (config.json records its checksum)")
        if file_sha256(f) != digest:
            raise CheckpointError(f"{f}: checksum mismatch, the file is corrupt or was changed")
    return True


def save_checkpoint(path, model, *, model_name: str, task: str, hparams: dict, meta: dict | None = None) -> Path:
    """Write ``model`` to the directory ``path`` atomically (a temp directory renamed into place).

    ``model`` is a torch ``nn.Module`` (its ``state_dict`` is stored) or an array model (the numpy classifiers of
    :mod:`tfscope.protein`) with ``checkpoint_arrays() -> dict[str, np.ndarray]`` and a classmethod
    ``from_checkpoint(arrays, config)``. Returns the checkpoint directory.
    """
    path = Path(path)
    tmp = private_tempdir(path)
    umask = os.umask(0)
    os.umask(umask)
    try:
        tmp.chmod(0o777 & ~umask)  # mkdtemp creates 0700; a checkpoint directory gets the usual permissions
        if isinstance(model, nn.Module):
            from safetensors.torch import save_file

            state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
            save_file(state, str(tmp / WEIGHTS))
        else:
            import numpy as np
            from safetensors.numpy import save_file

            save_file({k: np.ascontiguousarray(v) for k, v in model.checkpoint_arrays().items()},
                      str(tmp / WEIGHTS))

        config = {"format": FORMAT, "tfscope_version": __version__, "task": task, "model": model_name,
                  "class": class_path(type(model)), "hparams": hparams, "alphabet": ALPHABET, "meta": meta or {},
                  "weights_sha256": {WEIGHTS: file_sha256(tmp / WEIGHTS)}}
        (tmp / "config.json").write_text(dump_config(config))

        respect_umask(tmp)  # mkdtemp makes 0700, safetensors 0600: readable by others as the umask allows
        with blocked_signals():  # the swap completes or does not start
            if path.exists():
                old = tmp.with_name(tmp.name + ".old")  # private to this run, swept if the run is killed
                os.replace(path, old)
                os.replace(tmp, path)
            else:
                old = None
                os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and e.errno in OUTPUT_ERRNOS:
            raise OutputError(f"cannot write ({e.strerror or e}); existing output, if any, is kept", str(path)) from e
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


def read_config(path, *, verify: bool = True) -> dict:
    """Read and check a checkpoint's ``config.json``.

    Read and check a checkpoint's ``config.json`` against the schema (:func:`tfscope.checkpoint_schema.
    validate_config`; ``hparams`` are checked when the model is built) and, with ``verify``, the weights' checksum
    (:func:`verify_checksums`).

    Raises
    ------
    CheckpointError
        Missing directory/files, invalid JSON, a format other than :data:`FORMAT`, a field of the wrong type or
        range (``FILE: field: problem``), or a checksum mismatch.
    """
    path = Path(path)
    cfg_path = path / "config.json"
    if not cfg_path.exists() or not (path / WEIGHTS).exists():
        raise CheckpointError(f"{path}: not a tfscope checkpoint (needs config.json and {WEIGHTS})")
    cfg = validate_config(read_format_json(cfg_path, FORMAT), cfg_path)
    if verify:
        verify_checksums(path, cfg)
    return cfg


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
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: invalid JSON ({e})") from e
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from e
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(cfg).__name__}")
    if cfg.get("format") != expected_format:
        raise CheckpointError(f"{path}: unknown checkpoint format {cfg.get('format')!r}, expected {expected_format!r}")
    return cfg


def model_class(cfg: dict, path="", registry: dict | None = None) -> type[nn.Module]:
    """Return the model class a checkpoint config names.

    Its ``class`` (``"module:Class"``) when that is a registered model class (:func:`tfscope.models.import_class`:
    nothing else is imported), else its ``model`` name in ``registry`` (default :data:`tfscope.models.MODELS`; a class
    that moved since the checkpoint was written).

    Raises
    ------
    CheckpointError
        Neither resolves to a registered class.
    """
    name = cfg.get("model")
    if registry is None and cfg.get("class"):
        try:
            return import_class(cfg["class"])
        except ImportError:
            pass  # not registered (or moved since the checkpoint was written): only the registry name can find it
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
        (``"module:Class"``) is used when it is a registered model class, falling back to
        :data:`tfscope.models.MODELS` by model name (older checkpoints, or a class that moved).

    Returns
    -------
    (model, config) : (nn.Module in eval mode, or an array model, dict)

    Raises
    ------
    CheckpointError
        Wrong task, unknown model, a config field of the wrong type/range or an unknown hyper-parameter
        (``FILE: field: problem``), a ``meta.tfs`` whose length differs from the model's outputs, a weights
        checksum mismatch or no checksum (unless :func:`allow_unverified`), non-finite weights, or weights that do
        not match the model (truncated/mismatched file).
    """
    cfg = read_config(path)
    cfg_path = Path(path) / "config.json"
    if task is not None and cfg.get("task") != task:
        raise CheckpointError(f"{path}: checkpoint is for task {cfg.get('task')!r}, not {task!r}")
    name = cfg.get("model")
    cls = model_class(cfg, path, registry)
    if not issubclass(cls, nn.Module):
        return _load_array_model(cls, path, cfg), cfg
    validate_config(cfg, cfg_path, model_cls=cls)
    try:
        model = cls(**cfg.get("hparams", {}))
    except (TypeError, ValueError, RuntimeError, KeyError, AttributeError) as e:
        raise CheckpointError(f"{cfg_path}: hparams: cannot build model {name!r} ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from e
    check_outputs(model, cfg, cfg_path)
    state = _read_weights(path, cfg)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not match model {name!r}: {str(e).splitlines()[0]}") from e
    model.eval()
    return model, cfg


def _read_weights(path, cfg: dict, *, numpy: bool = False) -> dict:
    """Return the tensors of ``path/model.safetensors`` (torch, or numpy arrays with ``numpy``), all finite.

    Raises
    ------
    CheckpointError
        Unreadable/truncated weights, or a NaN/infinite value (``FILE: tensor NAME holds N non-finite values``).
    """
    import numpy as np

    if numpy:
        from safetensors.numpy import load_file
    else:
        from safetensors.torch import load_file
    f = Path(path) / WEIGHTS
    try:
        state = load_file(str(f))
    except Exception as e:  # safetensors raises several types on truncation
        raise CheckpointError(f"{f}: cannot read weights ({e})") from e
    for key, t in state.items():
        a = t if numpy else t.detach().float().numpy() if t.is_floating_point() else None
        if a is None or not np.issubdtype(a.dtype, np.floating):
            continue
        bad = int(a.size - np.count_nonzero(np.isfinite(a)))
        if bad:
            raise CheckpointError(f"{f}: tensor {key!r} holds {bad} non-finite value(s) (NaN/inf); the weights are "
                                  "corrupt")
    return state


def _load_array_model(cls, path, cfg: dict):
    """Return an array model (see :func:`save_checkpoint`) from its weights and config. Raises CheckpointError."""
    arrays = _read_weights(path, cfg, numpy=True)
    try:
        return cls.from_checkpoint(arrays, cfg)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from e
    except (KeyError, ValueError, TypeError, IndexError) as e:
        raise CheckpointError(f"{path}: weights or config do not match model {cfg.get('model')!r} "
                              f"({type(e).__name__}: {e})") from e
