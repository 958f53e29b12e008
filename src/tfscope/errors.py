"""Errors raised by tfscope for bad user input.

Every error carries the file and (where known) the 1-based line so the CLI can print one clear line.
"""

from __future__ import annotations


class TfscopeError(Exception):
    """Base class of all tfscope errors shown to users as one line (CLI exit code 2)."""


class InputError(TfscopeError, ValueError):
    """Invalid user input: wrong alphabet, wrong length, empty or truncated file, unknown name.

    Parameters
    ----------
    message : str
        What is wrong, in one line.
    path : str or None
        File the problem was found in.
    line : int or None
        1-based line number inside ``path``.
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = self.path + (f":{line}" if line is not None else "") + ": "
        super().__init__(where + message)


class CheckpointError(TfscopeError):
    """A checkpoint is missing, truncated, or was written for another model/task."""


class TfscopeWarning(UserWarning):
    """Base class of tfscope's warnings (the CLI prints them as one line ``tfscope: warning: message``)."""


class OutputError(InputError):
    """An output cannot be written: no permission, a read-only or full file system, a parent path that is not a
    directory. The message names the path; the old output, if any, is kept (outputs are written atomically)."""


class Terminated(KeyboardInterrupt):
    """The process received a termination signal (SIGTERM, SIGHUP): raised in the main thread by the handler that
    :func:`tfscope.cli.main` installs, so cleanup runs exactly as for Ctrl-C (SIGINT).

    Parameters
    ----------
    signum : the signal number (the CLI exits with ``128 + signum``: 143 for SIGTERM)
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
