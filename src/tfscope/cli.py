"""tfscope command line: thin subcommands over the Python API.

Every task module contributes its subcommands through an ``add_cli(subparsers)`` function listed in
:data:`CLI_MODULES`; each command's handler is a plain function ``(args) -> int``. User errors
(:class:`tfscope.errors.TfscopeError`) print one line ``tfscope: error: FILE:LINE: message`` and exit 2; so do
file-system errors (``OSError``: permissions, full or read-only disks; ``TFSCOPE_DEBUG=1`` shows their
traceback). SIGINT exits 130 and SIGTERM/SIGHUP
128 + signal number (143 for SIGTERM), after the same cleanup (temporary files removed, workers stopped). tfscope's
own warnings (:class:`tfscope.errors.TfscopeWarning`) print as one line ``tfscope: warning: message``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import warnings

from . import __version__
from .errors import Terminated, TfscopeError, TfscopeWarning


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with every option's default shown, except where there is none to show.

    argparse's :class:`~argparse.ArgumentDefaultsHelpFormatter` appends ``(default: None)`` to options without a
    default and ``(default: False)`` to flags; this one appends ``(default: X)`` only when ``X`` is a real value and
    the help text does not already say what the default is. List defaults print space-separated."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("default" in text or default is None or default is False or default is argparse.SUPPRESS
                or isinstance(action, (argparse._HelpAction, argparse._VersionAction))
                or (not action.option_strings and action.nargs in ("?", "*"))):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


def use_help_formatter(parser) -> None:
    """Give ``parser`` and every sub-parser below it :class:`HelpFormatter` (defaults shown in ``--help``)."""
    parser.formatter_class = HelpFormatter
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for p in a.choices.values():
                use_help_formatter(p)


# modules that define add_cli(subparsers); each adds its own subcommands
CLI_MODULES = [
    "tfscope.snr.cli",
    "tfscope.scan.cli",
    "tfscope.tfclass.cli",
    "tfscope.protein.cli",
    "tfscope.moe.cli",
    "tfscope.multilabel.cli",
    "tfscope.interpret.cli",
    "tfscope.variants.cli",
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (all subcommands)."""
    p = argparse.ArgumentParser(prog="tfscope", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"tfscope {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for mod in CLI_MODULES:
        importlib.import_module(mod).add_cli(sub)
    use_help_formatter(p)
    return p


_signal_received: list[int] = []  # termination signals seen (a library may re-raise Terminated as a plain Ctrl-C)


_handler_owner: list[int] = []  # pid of the process that installed _terminate


def _terminate(signum, frame):
    if _handler_owner and os.getpid() != _handler_owner[-1]:
        # a forked child (a worker killed by its pool before its initializer reset the handler) must not raise into
        # a copy of the parent's stack: it dies of the signal, as by default
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _signal_received.append(signum)
    raise Terminated(signum)


def _one_line_warnings(show):
    """A ``warnings.showwarning`` that prints tfscope's own warnings as one line and hands others to ``show``."""
    def show_warning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, TfscopeWarning):
            print(f"tfscope: warning: {message}", file=sys.stderr)
        else:
            show(message, category, filename, lineno, file, line)
    return show_warning


@contextlib.contextmanager
def _cli_signals():
    """SIGTERM and SIGHUP raise :class:`tfscope.errors.Terminated` in the main thread (cleanup as for Ctrl-C);
    the previous handlers come back afterwards (``main`` may be called from Python)."""
    old = {}
    _handler_owner.append(os.getpid())
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):  # not the main thread: leave signals alone
            old[sig] = signal.signal(sig, _terminate)
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
        _handler_owner.pop()


def main(argv=None) -> int:
    """Entry point of the ``tfscope`` command; returns the exit code (0 success, 2 bad input or unwritable output,
    130 interrupted by SIGINT, 128 + N terminated by signal N). A command may name a ``run_context`` (a function of
    its arguments giving a context manager, e.g. :func:`tfscope.cli_common.add_allow_unverified_arg`'s) that its
    handler runs in."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _signal_received.clear()
    context = getattr(args, "run_context", None)
    with _cli_signals(), warnings.catch_warnings():
        warnings.showwarning = _one_line_warnings(warnings.showwarning)
        try:
            with context(args) if context else contextlib.nullcontext():
                return int(args.func(args) or 0)
        except TfscopeError as e:
            print(f"tfscope: error: {e}", file=sys.stderr)
            return 2
        except OSError as e:  # a file-system error outside tfscope's own checks: still one line
            if os.environ.get("TFSCOPE_DEBUG"):  # the traceback, for a bug report
                raise
            where = f"{e.filename}: " if e.filename else ""
            print(f"tfscope: error: {where}{e.strerror or e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as e:
            signum = e.signum if isinstance(e, Terminated) else (_signal_received or [signal.SIGINT])[-1]
            print(f"tfscope: interrupted ({signal.Signals(signum).name})", file=sys.stderr)
            return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
