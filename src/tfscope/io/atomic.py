"""Atomic file output: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import gzip
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", *, encoding: str | None = "utf-8", suffix: str = ".tmp"):
    """Open a temporary file beside ``path`` (name ending in ``suffix``) and move it to ``path`` only if the block
    succeeds.

    A ``.gz`` suffix of ``path`` writes gzip-compressed text. On any exception the temporary file is removed and an
    existing ``path`` is left untouched, so failed runs leave no partial output.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
    try:
        if path.suffix == ".gz":
            fh = gzip.open(tmp, mode + ("t" if "b" not in mode else ""), encoding=encoding if "b" not in mode else None)
        else:
            fh = open(tmp, mode, encoding=encoding if "b" not in mode else None)
        with fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def open_text(path):
    """Open a text file for reading, transparently decompressing ``.gz``.

    Raises
    ------
    InputError
        If the file does not exist.
    """
    from ..errors import InputError

    path = Path(path)
    if not path.exists():
        raise InputError("file not found", str(path))
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def read_lines(path):
    """Yield ``(line_number, line_without_newline)`` from a text or gzip file.

    Raises
    ------
    InputError
        If the file is missing or a gzip stream is truncated/corrupt.
    """
    from ..errors import InputError

    try:
        with open_text(path) as fh:
            for i, line in enumerate(fh, 1):
                yield i, line.rstrip("\r\n")
    except (EOFError, gzip.BadGzipFile, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise InputError("file not found", str(path)) from e
        raise InputError(f"cannot read compressed file ({e.__class__.__name__}: truncated or corrupt)",
                         str(path)) from e


def respect_umask(path) -> None:
    """Give ``path`` (a file, or a directory and everything below it) the permissions a plain ``open``/``mkdir``
    would have: ``0o666 & ~umask`` for files, ``0o777 & ~umask`` for directories.

    ``tempfile.mkdtemp``/``mkstemp`` and safetensors create 0700 directories and 0600 files, which colleagues on a
    shared server cannot read; call this on a temporary output before renaming it into place.
    """
    umask = os.umask(0)
    os.umask(umask)
    path = Path(path)
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            os.chmod(root, 0o777 & ~umask)
            for f in files:
                os.chmod(os.path.join(root, f), 0o666 & ~umask)
    else:
        os.chmod(path, 0o666 & ~umask)
