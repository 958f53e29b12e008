"""tfscope command line: thin subcommands over the Python API.

Every task module contributes its subcommands through an ``add_cli(subparsers)`` function listed in
:data:`CLI_MODULES`; each command's handler is a plain function ``(args) -> int``. User errors
(:class:`tfscope.errors.TfscopeError`) print one line ``tfscope: error: FILE:LINE: message`` and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import TfscopeError


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
    "tfscope.snr.cli_scan",
    "tfscope.tfclass.cli",
    "tfscope.protein.cli",
    "tfscope.moe.cli",
    "tfscope.multilabel.cli",
    "tfscope.interpret.cli",
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


def main(argv=None) -> int:
    """Entry point of the ``tfscope`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TfscopeError as e:
        print(f"tfscope: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tfscope: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
