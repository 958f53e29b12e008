"""The schema of a checkpoint's ``config.json``: checked field by field before any model is built.

A checkpoint's ``config.json`` (:mod:`tfscope.checkpoint`) is validated with pydantic models:

- the top level (:class:`CheckpointConfig`): ``format``, ``task``, ``model``, ``class`` (``module:Class``, no
  attribute chain), ``hparams`` (an object), ``alphabet``, ``meta`` and ``weights_sha256`` (``{plain file name in
  the checkpoint directory: 64 hex digits}``);
- ``meta`` (:class:`Meta`): the fields tfscope reads back -- ``threshold`` (a float in (0, 1)), ``tf``, ``tfs`` /
  ``labels`` (lists of distinct names), ``per_tf`` (``{TF: {threshold: float in (0, 1), ...}}``), ``group`` /
  ``groups`` (paralog group names), ``strands`` (``max`` or ``mean``), ``window`` (int >= 1); other keys are
  free-form (training summaries, metrics);
- ``hparams`` of a torch model (:func:`hparams_model`): one field per keyword of the model class's ``__init__``
  (type from its annotation, bounds from :data:`HPARAM_BOUNDS` by name), unknown keys refused.

Names are data, never paths or markup: a checkpoint is untrusted input, and its TF names become track file names
(``<TF>.bedGraph``) and page text (the HTML report), so every TF name (``meta.tf``, ``meta.tfs``, ``meta.labels``,
the keys of ``meta.per_tf`` and ``meta.groups``) must match :data:`NAME_PATTERN` (1-64 letters, digits and
``_ . : + -``, starting with a letter or digit), and paralog group names are such names joined by ``/``.

Any problem becomes one line ``FILE: field: problem`` (:func:`validate_config`), raised as
:class:`tfscope.errors.CheckpointError` (CLI exit code 2).
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, create_model

from .errors import CheckpointError

#: bounds of model hyper-parameters by keyword name (a name means the same in every model); other ``int``
#: hyper-parameters must be >= 0. Keys: ``ge``/``gt``/``le``/``lt`` as in pydantic ``Field``.
HPARAM_BOUNDS: dict[str, dict[str, float]] = {
    **{name: {"ge": 1} for name in (
        "channels", "n_blocks", "kernel", "motif_length", "n_filters", "width", "k", "n_labels", "hidden", "layers",
        "filters", "pool", "dense", "n_classes", "n_outputs", "gate_hidden", "head_hidden", "n_stack_features")},
    "dropout": {"ge": 0, "lt": 1},
    "threshold": {"ge": 0, "le": 1},
    "detector_weight": {"ge": 0, "le": 1},
    "scale": {"gt": 0},
    "shape_power": {"gt": 0},
}

Probability = Annotated[float, Field(gt=0, lt=1)]
Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]

#: a TF (or label) name from a checkpoint: it becomes a file name (``<TF>.bedGraph``) and page text, so no path
#: separator, no leading dot, no markup, no white space
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,63}$"
#: a paralog group name (``meta.group``, ``meta.groups`` values): TF names joined by ``/``
GROUP_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,63}(?:/[A-Za-z0-9][A-Za-z0-9_.:+-]{0,63})*$"
#: ``meta.tf`` of a multi-TF checkpoint: a summary such as ``45 TFs`` or ``CTCF+YY1`` (shown, never a file name)
SUMMARY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.:+-]{0,255}$"
#: a file name in ``weights_sha256``: one plain name inside the checkpoint directory
FILE_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$"


def _matching(pattern: str, what: str):
    """A pydantic after-validator: the string must match ``pattern`` (else ``what``, with the value, is the
    problem)."""
    rx = re.compile(pattern)

    def check(v: str) -> str:
        if not rx.fullmatch(v):  # fullmatch: a trailing newline does not pass as '$'
            raise ValueError(what)
        return v
    return AfterValidator(check)


NAME_RULE = "1-64 letters, digits or _ . : + - starting with a letter or digit"
Name = Annotated[str, _matching(NAME_PATTERN, f"not a TF name ({NAME_RULE}; names become file names and page "
                                              "text)")]
GroupName = Annotated[str, Field(max_length=4096), _matching(GROUP_PATTERN, "not a paralog group name (TF names "
                                                                           f"joined by /; each {NAME_RULE})")]
FileName = Annotated[str, _matching(FILE_NAME_PATTERN, "not a plain file name inside the checkpoint directory")]


def is_name(name) -> bool:
    """Whether ``name`` is a valid TF name (:data:`NAME_PATTERN`): safe as a file name and as page text."""
    return isinstance(name, str) and re.fullmatch(NAME_PATTERN, name) is not None


class PerTF(BaseModel):
    """One TF's entry of ``meta.per_tf`` (multi-TF checkpoints): its calibrated ``threshold``; other keys free."""

    model_config = ConfigDict(extra="allow", strict=True)
    threshold: Probability | None = None


class Meta(BaseModel):
    """The ``meta`` fields tfscope reads back; other keys are free-form."""

    model_config = ConfigDict(extra="allow", strict=True)
    threshold: Probability | None = None
    tfs: list[Name] | None = Field(default=None, min_length=1)
    labels: list[Name] | None = None
    per_tf: dict[Name, PerTF] | None = None
    group: GroupName | None = None
    groups: dict[Name, GroupName] | None = None
    strands: Literal["max", "mean"] | None = None
    window: Annotated[int, Field(ge=1)] | None = None
    tf: str | None = None


class CheckpointConfig(BaseModel):
    """The top level of ``config.json`` (``meta`` and ``hparams`` are checked by :class:`Meta` and
    :func:`hparams_model`)."""

    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)
    format: str
    tfscope_version: str | None = None
    task: str
    model: str
    class_: Annotated[str, _matching(r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$",
                                     "not a model class path module:Class")] | None = Field(default=None, alias="class")
    hparams: dict[str, Any] = Field(default_factory=dict)
    alphabet: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    weights_sha256: dict[FileName, Hex64] | None = None


def _bounded(tp, name: str):
    """``tp`` with the bounds of :data:`HPARAM_BOUNDS` (numbers only; ``int | None`` keeps None allowed)."""
    args = typing.get_args(tp)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), tp) if args and optional else tp
    if base not in (int, float) or base is bool:
        return tp
    bounds = HPARAM_BOUNDS.get(name, {"ge": 0} if base is int else {})
    field = Annotated[base, Field(**bounds)] if bounds else base
    return field | None if optional else field


@functools.lru_cache(maxsize=None)
def hparams_model(cls: type) -> type[BaseModel]:
    """A pydantic model of the keyword arguments of ``cls.__init__``: each annotated parameter with its type (strict:
    ``"16"`` or ``16.0`` is not an int) and the bounds of :data:`HPARAM_BOUNDS`; unannotated ones accept anything;
    unknown keys are refused unless ``__init__`` takes ``**kwargs``. Required parameters stay required."""
    sig = inspect.signature(cls.__init__)
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # an annotation that does not resolve at run time: check names and presence only
        hints = {}
    fields, extra = {}, "forbid"
    for name, p in list(sig.parameters.items())[1:]:
        if p.kind is p.VAR_KEYWORD:
            extra = "allow"
            continue
        if p.kind is p.VAR_POSITIONAL:
            continue
        tp = _bounded(hints.get(name, Any), name)
        fields[name] = (tp, ... if p.default is p.empty else p.default)
    cfg = ConfigDict(extra=extra, strict=True, arbitrary_types_allowed=True, protected_namespaces=())
    return create_model(f"{cls.__name__}HParams", __config__=cfg, **fields)


def _problem(err: dict, known=()) -> str:
    """``field: problem`` of the first pydantic error."""
    parts = [str(p) for p in err["loc"]]
    if parts[-1:] == ["[key]"]:  # a dictionary key's problem: the dictionary is the field, the key the value
        parts = parts[:-2]
    loc = ".".join(parts)
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{loc}: unknown key" + (f" (known: {', '.join(known)})" if known else "")
    if kind == "missing":
        return f"{loc}: missing"
    value = err.get("input")
    shown = repr(value) if not isinstance(value, (dict, list)) or len(repr(value)) < 60 else type(value).__name__
    if kind == "value_error":  # the rules of this module (names, paths): their own words
        return f"{loc}: {err['ctx']['error']}, got {shown}"
    return f"{loc}: {err['msg'][0].lower()}{err['msg'][1:]}, got {shown}"


def validate_config(cfg, path, *, model_cls: type | None = None) -> dict:
    """Check a parsed ``config.json`` against the schema; returns it unchanged.

    Parameters
    ----------
    cfg : the parsed JSON (any type)
    path : the ``config.json`` path named in errors
    model_cls : the torch model class the checkpoint builds (its ``__init__`` keywords check ``hparams``); None
        checks the top level and ``meta`` only

    Raises
    ------
    CheckpointError
        ``FILE: field: problem`` for the first problem found (not an object, wrong type, out of range, unknown
        hyper-parameter, a ``meta.tfs`` with repeated names, a TF name that is not :data:`NAME_PATTERN`, a
        ``class`` with an attribute chain, a ``weights_sha256`` key that is not a plain file name).
    """
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(cfg).__name__}")
    try:
        CheckpointConfig.model_validate(cfg)
    except ValidationError as e:
        raise CheckpointError(f"{path}: {_problem(e.errors()[0])}") from None
    try:
        Meta.model_validate(cfg.get("meta", {}))
    except ValidationError as e:
        raise CheckpointError(f"{path}: meta.{_problem(e.errors()[0])}") from None
    meta = cfg.get("meta", {})
    tf = meta.get("tf")
    if tf is not None:  # one TF's name, or (beside meta.tfs) a summary such as "45 TFs"
        rule = (SUMMARY_PATTERN, "not a summary of the TF names (letters, digits, spaces and _ . : + -)") \
            if meta.get("tfs") else (NAME_PATTERN, f"not a TF name ({NAME_RULE}; names become file names and page "
                                                   "text)")
        if not isinstance(tf, str) or not re.fullmatch(rule[0], tf):
            raise CheckpointError(f"{path}: meta.tf: {rule[1]}, got {tf!r}")
    tfs = meta.get("tfs")
    if tfs and len(set(tfs)) != len(tfs):
        dup = sorted({t for t in tfs if tfs.count(t) > 1})
        raise CheckpointError(f"{path}: meta.tfs: repeated names {', '.join(dup)}")
    if model_cls is not None:
        schema = hparams_model(model_cls)
        try:
            schema.model_validate(cfg.get("hparams", {}))
        except ValidationError as e:
            raise CheckpointError(f"{path}: hparams.{_problem(e.errors()[0], tuple(schema.model_fields))}") from None
    return cfg


def check_outputs(model, cfg: dict, path) -> None:
    """Refuse a multi-output model whose name list does not match its outputs: ``meta.tfs`` (and ``meta.labels``
    when it names more than one output) must have one name per output (``model.n_outputs``, else the ``n_labels``
    hyper-parameter of multi-label models).

    Raises
    ------
    CheckpointError
        ``FILE: meta.tfs: N names for M outputs``.
    """
    n = next((getattr(model, a) for a in ("n_outputs", "n_labels") if isinstance(getattr(model, a, None), int)),
             cfg.get("hparams", {}).get("n_labels"))
    if not isinstance(n, int):
        return
    meta = cfg.get("meta", {})
    for key in ("tfs", "labels"):
        names = meta.get(key)
        if isinstance(names, list) and (key == "tfs" or len(names) > 1) and len(names) != n:
            raise CheckpointError(f"{path}: meta.{key}: {len(names)} names for {n} model outputs (names map to "
                                  f"outputs by position)")
