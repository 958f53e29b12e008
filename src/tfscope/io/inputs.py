"""Checked file input: a readable regular file, text or gzip, read line by line with bounded memory."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

from ..errors import InputError

#: longest line :func:`read_lines` accepts by default (characters): a real line never comes close (an unwrapped
#: human chr1 is 249 Mbp; a FASTA line of a genome longer than this must be wrapped)
MAX_LINE_CHARS = 1 << 30


def check_input_file(path) -> Path:
    """``path`` as a Path if it names a readable regular file (or a FIFO such as ``/dev/stdin``).

    Raises
    ------
    InputError
        ``file not found``, ``is a directory, not a file``, or ``cannot read (Permission denied)``.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError("is a directory, not a file", str(path))
    if not path.exists():
        raise InputError("file not found", str(path))
    if not os.access(path, os.R_OK):
        raise InputError("cannot read (permission denied)", str(path))
    return path


def open_text(path):
    """Open a text file for reading, transparently decompressing ``.gz``.

    Raises
    ------
    InputError
        If the file does not exist or is a directory (:func:`check_input_file`).
    """
    path = check_input_file(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def read_lines(path, *, max_chars: int = MAX_LINE_CHARS):
    """Yield ``(line_number, line_without_newline)`` from a text or gzip file.

    Parameters
    ----------
    max_chars : longest line accepted (characters; default :data:`MAX_LINE_CHARS`); memory stays bounded by it
        even on a file without newlines

    Raises
    ------
    InputError
        If the file is missing or a directory, a gzip stream is truncated/corrupt, or a line is longer than
        ``max_chars``.
    """
    try:
        with open_text(path) as fh:
            i = 0
            while True:
                line = fh.readline(max_chars + 1)
                if not line:
                    break
                i += 1
                body = line.rstrip("\r\n")
                if len(body) > max_chars:
                    raise InputError(f"line longer than {max_chars:,} characters (not a text file of this kind?)",
                                     str(path), i)
                yield i, body
    except (EOFError, gzip.BadGzipFile, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise InputError("file not found", str(path)) from e
        raise InputError(f"cannot read compressed file ({e.__class__.__name__}: truncated or corrupt)",
                         str(path)) from e
