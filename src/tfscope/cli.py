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
from .cli_common import use_help_formatter
from .errors import TfscopeError

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
