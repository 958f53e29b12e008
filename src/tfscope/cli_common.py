"""Arguments shared by the task CLIs (one vocabulary: ``--device`` means the same everywhere)."""

from __future__ import annotations

import json
import sys

from .checkpoint import allow_unverified
from .errors import InputError
from .io.jsonfile import write_json  # noqa: F401  (the CLIs' one JSON writer, re-exported for their imports)


def plural(n: int, word: str, words: str | None = None) -> str:
    """A count with its noun: ``plural(1, "sequence")`` is ``"1 sequence"``, ``plural(2, "sequence")`` is
    ``"2 sequences"`` (``words``: the plural when it is not ``word + "s"``); thousands separated (``"12,345 sites"``)."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def report_stream(args):
    """Where a command prints its human-readable report: standard error when ``--json -`` sends the JSON result to
    standard output (which then holds valid JSON only), else standard output."""

    return sys.stderr if getattr(args, "json", None) == "-" else sys.stdout


def add_device_arg(parser, *, amp: bool = False) -> None:
    """Add ``--device {auto,cpu,cuda,cuda:N}`` (default ``auto``: CUDA when torch sees one, else CPU) and, with
    ``amp``, ``--amp {bf16,fp16}`` (mixed precision: bf16 on CUDA or CPU, fp16 on CUDA only; see
    :func:`tfscope.device.autocast`)."""
    parser.add_argument("--device", default="auto", metavar="DEVICE",
                        help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    if amp:
        parser.add_argument("--amp", choices=["bf16", "fp16"],
                            help="mixed-precision autocast: bf16 (CUDA, or a CPU with AMX/AVX512-BF16) or fp16 (CUDA; "
                                 "ignored on CPU)")


def add_allow_unverified_arg(parser) -> None:
    """Add ``--allow-unverified`` to a command that loads checkpoints: checkpoints that record no weights checksum
    load with one warning line each instead of being refused (:func:`tfscope.checkpoint.allow_unverified`; docs/cli.md,
    "Trust"). The command's handler runs inside that setting (``run_context``, entered by :func:`tfscope.cli.main`)."""
    parser.add_argument("--allow-unverified", action="store_true",
                        help="load checkpoints that record no weights checksum (weights_sha256), with a warning, "
                             "instead of refusing them; only for checkpoints whose source you trust")
    parser.set_defaults(run_context=_checkpoint_trust)


def _checkpoint_trust(args):
    """The context a checkpoint-loading command runs in: :func:`tfscope.checkpoint.allow_unverified` as asked."""

    return allow_unverified(bool(getattr(args, "allow_unverified", False)))


def print_json(obj) -> None:
    """Print a JSON object (NaN allowed) to stdout."""

    print(json.dumps(obj, indent=2, default=str))


def add_json_arg(parser, what: str = "the result") -> None:
    """Add ``--json PATH``: also write ``what`` as JSON to ``PATH`` (``-`` = standard output)."""
    parser.add_argument("--json", metavar="PATH", help=f"also write {what} as JSON here ('-' = standard output)")


def add_max_minutes_arg(parser, what: str = "training") -> None:
    """Add ``--max-minutes M``: the wall-time budget of ``what`` (the one name of a time budget)."""
    parser.add_argument("--max-minutes", type=float, metavar="M", help=f"wall-time budget of {what} in minutes")


def max_seconds(args) -> float | None:
    """``--max-minutes`` in seconds (None when not given).

    Raises
    ------
    InputError
        A budget that is not positive.
    """

    if args.max_minutes is None:
        return None
    if args.max_minutes <= 0:
        raise InputError(f"--max-minutes must be > 0, got {args.max_minutes}")
    return args.max_minutes * 60


def emit_json(obj, path=None, *, summary=None) -> None:
    """A command's JSON result: printed to standard output (``summary`` instead of ``obj`` when a file is written),
    and written to ``path`` (``--json PATH``; ``-`` prints ``obj`` only once)."""
    if path:
        write_json(path, obj)
    if str(path) != "-":
        print_json(summary if path and summary is not None else obj)


def _workers(text: str) -> int:
    import argparse

    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {n}")
    return n


def add_executor_args(parser, work: str = "sharing the work") -> None:
    """Add ``--workers N`` (default :func:`tfscope.executor.default_workers`; >= 1) and ``--executor {local,ray}``
    (:func:`tfscope.executor.make_executor`): where a command's batches run, as ``scan`` and ``variants`` share it.
    ``work`` says what the workers do, in the help text."""
    from .executor import EXECUTORS, default_workers

    parser.add_argument("--workers", type=_workers, default=default_workers(),
                        help=f"processes (or Ray actors) {work}, one thread each (default: the available CPU cores, "
                             "at most 4)")
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="local: forked worker processes; ray: Ray actors (pip install 'tfscope[ray]'; embedded on "
                             "this machine, or the cluster at RAY_ADDRESS)")
