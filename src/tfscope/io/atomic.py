"""Atomic file output (checked file input is :mod:`tfscope.io.inputs`).

Output: every file is written to a temporary file beside its target and renamed over it only when complete, so a
failed or interrupted run leaves the old output intact and no partial one. Temporary names are private to the run:
``.<name>.tfscope-<host>-<pid>-<random><suffix>``; a run that was killed (SIGKILL, power loss) leaves them behind,
and the next tfscope run that writes into the same directory removes those whose process is gone
(:func:`remove_stale_temps`). :class:`Outputs` defers the renames of several files to one :meth:`Outputs.commit`,
so outputs derived from one another (a bigWig from a bedGraph) are read from this run's own temporary files, never
from another run's, and a set of outputs appears together (a set may own a folder: :meth:`Outputs.own`). Write errors
(no permission, read-only or full file system, a parent that is not a directory) become
:class:`tfscope.errors.OutputError` naming the path.

Trust: a name that comes from data (a TF name from a checkpoint) becomes a file name only through
:func:`file_inside` (one plain name inside its folder), and :func:`refuse_clobbering` refuses outputs that are one of
the run's inputs (or one another) before anything is written.

Input: :func:`check_input_file` and :func:`read_lines` refuse a missing path, a directory, and lines longer than a
bound that real inputs never reach (:data:`MAX_LINE_CHARS`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gzip
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
from pathlib import Path

from ..errors import InputError, OutputError

#: errno values that mean "this output cannot be written here"
OUTPUT_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.ENOTDIR,
                           errno.EISDIR, errno.EFBIG, errno.ENAMETOOLONG, errno.EEXIST, errno.ENOENT})

_HOST = re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname() or "host")
_TEMP = re.compile(r"\.tfscope-(?P<host>[A-Za-z0-9_.]+)-(?P<pid>\d+)-[A-Za-z0-9_]{8}")
_swept: set = set()
_sweep_lock = threading.Lock()


def temp_prefix(path) -> str:
    """Prefix of this run's temporary files for output ``path``: ``.<name>.tfscope-<host>-<pid>-``."""
    return f".{Path(path).name}.tfscope-{_HOST}-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(directory, *, force: bool = False) -> list[Path]:
    """Remove stale tfscope temporary files in ``directory``.

    Remove tfscope temporary files and directories in ``directory`` left by runs on this host whose process no longer
    exists (killed runs). Checked once per directory and process unless ``force``.

    Returns
    -------
    The removed paths.
    """
    directory = Path(directory)
    key = str(directory.resolve()) if directory.exists() else str(directory)
    with _sweep_lock:
        if key in _swept and not force:
            return []
        _swept.add(key)
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for e in entries:
        if not e.name.startswith("."):
            continue
        m = _TEMP.search(e.name)
        if m is None or m["host"] != _HOST or _pid_alive(int(m["pid"])):
            continue
        with contextlib.suppress(OSError):
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path)
            else:
                os.unlink(e.path)
            removed.append(Path(e.path))
    return removed


def output_error(path, e: OSError) -> OutputError:
    """Return the one-line :class:`OutputError` for an ``OSError`` raised while writing ``path``."""
    return OutputError(f"cannot write ({e.strerror or e}); existing output, if any, is kept", str(path))


def _prepare_dir(path: Path, outputs: "Outputs | None" = None) -> None:
    """Create the parent directory of output ``path``.

    Create the parent directory of output ``path`` (with ``outputs``, the directories created are removed by its
    :meth:`Outputs.discard` if they are still empty) and sweep it for stale temporary files.

    Raises
    ------
    OutputError
        A parent path is a file, or the directory cannot be created.
    """
    made, d = [], path.parent
    while not os.path.lexists(d) and d != d.parent:
        made.append(d)
        d = d.parent
    if os.path.lexists(d) and not d.is_dir():
        raise OutputError(f"cannot write ({d} is a file, not a directory)", str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if e.errno in (errno.EEXIST, errno.ENOTDIR):
            raise OutputError("cannot write (a parent path is a file, not a directory)", str(path)) from None
        raise output_error(path.parent, e) from None
    if not path.parent.is_dir():
        raise OutputError("cannot write (a parent path is not a directory)", str(path))
    if outputs is not None:
        outputs._made += reversed(made)
    remove_stale_temps(path.parent)


def file_inside(directory, name: str) -> Path:
    """``directory / name`` for a file name that comes from data (a TF name from a checkpoint).

    Checked to be one plain file name that stays inside ``directory`` (no path separator, not ``.``/``..``, no leading
    dot).

    Raises
    ------
    OutputError
        ``name`` would leave ``directory`` or is no plain file name (the message names the directory).
    """
    directory = Path(directory)
    where = os.path.abspath(directory)
    full = os.path.abspath(os.path.join(where, name))
    if (not name or name.startswith(".") or "/" in name or (os.altsep and os.altsep in name) or "\0" in name
            or os.path.dirname(full) != where):
        raise OutputError(f"refusing the file name {name!r}: not a plain file name inside this directory",
                          str(directory))
    return directory / name


def refuse_clobbering(outputs, inputs) -> None:
    """Refuse outputs that would replace an input or one another.

    Refuse a run whose outputs would replace one of its inputs (the same path, a symbolic or a hard link of it) or one
    another, before anything is read or written.

    Parameters
    ----------
    outputs : ``(what, path)`` pairs of the run's outputs (``None`` and ``-``, standard output, are skipped)
    inputs : ``(what, path)`` pairs of its inputs (``None`` and files that do not exist are skipped)

    Raises
    ------
    InputError
        ``OUTPUT: --out is the input FASTA x.fa (the same file); ...``, naming the output.
    """
    def ident(p):
        try:
            st = os.stat(p)
        except (OSError, ValueError):
            return None
        return st.st_dev, st.st_ino

    ins = {}
    for what, p in inputs:
        i = None if p is None or str(p) == "-" else ident(p)
        if i is not None:
            ins.setdefault(i, (what, p))
    seen: dict = {}
    for what, p in outputs:
        if p is None or str(p) == "-":
            continue
        i = ident(p)
        if i is not None and i in ins:
            raise InputError(f"{what} is the input {ins[i][0]} {ins[i][1]} (the same file); writing it would destroy "
                             "the input: choose another output path", str(p))
        for key in (os.path.abspath(p), i):
            if key is not None and key in seen:
                raise InputError(f"{what} and {seen[key]} are the same file; give them different paths", str(p))
        seen[os.path.abspath(p)] = what
        if i is not None:
            seen[i] = what


def private_tempdir(near, *, outputs: "Outputs | None" = None) -> Path:
    """Return a new temporary directory beside output ``near`` (same file system).

    Private to this run (its name carries host and pid, so a later run removes it if this one is killed). The caller
    removes it (``outputs``: see :func:`_prepare_dir`).

    Raises
    ------
    OutputError
        The directory cannot be created (permissions, read-only or full file system).
    """
    near = Path(near)
    _prepare_dir(near, outputs)
    try:
        return Path(tempfile.mkdtemp(prefix=temp_prefix(near), dir=near.parent))
    except OSError as e:
        raise output_error(near, e) from None


def _own_write_error(e: BaseException, tmp: str) -> bool:
    """Return an OSError about writing ``tmp`` (no file name, or ``tmp``): a full/read-only/quota-exceeded disk."""
    return (isinstance(e, OSError) and e.errno in OUTPUT_ERRNOS and e.filename in (None, tmp))


@contextlib.contextmanager
def blocked_signals():
    """Hold SIGINT/SIGTERM while a group of renames runs (main thread only), so it completes or does not start."""
    main = threading.current_thread() is threading.main_thread()
    if main:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        if main:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def _dir_locks(dirs):
    """Exclusive ``flock`` on each directory (sorted, so two runs cannot deadlock).

    Renames of one run's output set do not interleave with another tfscope run's.
    """
    fds = []
    try:
        for d in sorted({str(Path(d).resolve()) for d in dirs}):
            try:
                fd = os.open(d, os.O_RDONLY)
            except OSError:
                continue
            fds.append(fd)
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        for fd in fds:
            os.close(fd)  # closing releases the lock


def _entries(directory) -> list:
    """``os.scandir`` entries of ``directory`` (none when it cannot be read)."""
    try:
        return list(os.scandir(directory))
    except OSError:
        return []


class Outputs:
    """Several output files that appear together.

    Each is written to a private temporary file (:meth:`open`, or ``atomic_write(path, outputs=...)``) and all are
    renamed into place by one :meth:`commit` (signals held, under a lock on their directories, so concurrent tfscope
    runs writing the same paths leave one run's complete set). Until then :meth:`staged` gives where a file's content
    is, so derived outputs read this run's own data. :meth:`discard` (or leaving the ``with`` block by an exception)
    removes every temporary file and directory, and the output directories it created that stayed empty. A set may own a
    directory (:meth:`own`): its commit then also removes the files of that kind it did not write (a rerun replaces the
    whole set, never mixes two runs).

    Raises
    ------
    OutputError
        (from :meth:`commit`) a rename fails; outputs renamed before stay, the rest are discarded.
    """

    def __init__(self):
        self._staged: dict[Path, Path] = {}  # final path -> temporary file
        self._dirs: list[Path] = []
        self._made: list[Path] = []  # output directories created for this set (parents first)
        self._owned: list[tuple[Path, tuple[str, ...]]] = []

    def add(self, tmp, path) -> None:
        """Register a finished temporary file ``tmp`` to be renamed to ``path`` by :meth:`commit`."""
        old = self._staged.pop(Path(path), None)
        if old is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(old)
        self._staged[Path(path)] = Path(tmp)

    def staged(self, path) -> Path:
        """Where the content of output ``path`` is now: its temporary file until :meth:`commit`, else ``path``."""
        return self._staged.get(Path(path), Path(path))

    def open(self, path, mode: str = "w", **kw):
        """:func:`atomic_write` whose rename waits for :meth:`commit`."""
        return atomic_write(path, mode, outputs=self, **kw)

    def tempdir(self, near) -> Path:
        """Return a private temporary directory beside ``near`` (:func:`private_tempdir`), removed with this set."""
        d = private_tempdir(near, outputs=self)
        self._dirs.append(d)
        return d

    def own(self, directory, suffixes) -> None:
        """Own the files of ``directory`` that end in one of ``suffixes``.

        Own ``directory``'s files whose names end in one of ``suffixes`` (e.g. the ``<TF>.bedGraph`` of a track folder):
        :meth:`commit` removes those it did not write itself.
        """
        self._owned.append((Path(directory), tuple(suffixes)))

    def commit(self) -> None:
        """Rename every staged file into place (in the order written).

        Remove the owned files of other runs (:meth:`own`), then remove the temporary directories.
        """
        staged = list(self._staged.items())
        written = {os.path.abspath(p) for p, _ in staged}
        try:
            with blocked_signals(), _dir_locks([*(p.parent for p, _ in staged), *(d for d, _ in self._owned)]):
                while staged:
                    path, tmp = staged[0]
                    try:
                        os.replace(tmp, path)
                    except OSError as e:
                        raise output_error(path, e) from None
                    staged.pop(0)
                    self._staged.pop(path)
                self._made.clear()  # the directories now hold this set
                for d, suffixes in self._owned:
                    for e in _entries(d):
                        if (e.name.endswith(suffixes) and not e.name.startswith(".")
                                and e.is_file(follow_symlinks=False) and os.path.abspath(e.path) not in written):
                            with contextlib.suppress(FileNotFoundError):
                                os.unlink(e.path)
        finally:
            self.discard()

    def discard(self) -> None:
        """Remove the temporary files not yet committed.

        The temporary directories and the output directories created for this set that stayed empty. Never raises.
        """
        for tmp in self._staged.values():
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self._staged.clear()
        for d in self._dirs:
            shutil.rmtree(d, ignore_errors=True)
        self._dirs.clear()
        for d in reversed(self._made):
            with contextlib.suppress(OSError):
                d.rmdir()  # only when empty
        self._made.clear()

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if kind is None:
            self.commit()
        else:
            self.discard()
        return False


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", *, encoding: str | None = "utf-8", suffix: str = ".tmp",
                 outputs: Outputs | None = None):
    """Write ``path`` atomically through a temporary file beside it.

    Open a temporary file beside ``path`` (a name private to this run, ending in ``suffix``) and move it to ``path``
    only if the block succeeds (with ``outputs``, at :meth:`Outputs.commit`).

    A ``.gz`` suffix of ``path`` writes gzip-compressed text. On any exception the temporary file is removed and an
    existing ``path`` is left untouched, so failed runs leave no partial output. A missing parent directory is
    created.

    Raises
    ------
    OutputError
        ``path`` cannot be written: no permission, read-only or full file system, a parent that is not a directory
        (the message names the path; an existing ``path`` is kept).
    """
    path = Path(path)
    _prepare_dir(path, outputs)
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=suffix, dir=path.parent)
    except OSError as e:
        raise output_error(path, e) from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        if path.suffix == ".gz":
            fh = gzip.open(tmp, mode + ("t" if "b" not in mode else ""), encoding=encoding if "b" not in mode else None)
        else:
            fh = open(tmp, mode, encoding=encoding if "b" not in mode else None)
        with fh:
            yield fh
        if outputs is not None:
            outputs.add(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if _own_write_error(e, tmp):
            raise output_error(path, e) from None
        raise


def respect_umask(path) -> None:
    """Give ``path`` the permissions a plain ``open``/``mkdir`` would have.

    Give ``path`` (a file, or a directory and everything below it) the permissions a plain ``open``/``mkdir`` would
    have: ``0o666 & ~umask`` for files, ``0o777 & ~umask`` for directories.

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
