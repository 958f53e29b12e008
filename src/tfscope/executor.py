"""Where fan-out work runs: forked local worker processes (the default) or Ray actors (the ``ray`` extra).

Both executors run ``fn(state, item)`` for every item and yield the results **in item order**, with at most
``in_flight`` items submitted ahead of the one being waited for, so a lazy item stream (the pieces of a genome)
is never materialised. ``state`` (e.g. the loaded TF models) is made resident in each worker once:

- :class:`LocalExecutor` (``--executor local``): ``workers`` processes forked from this one (the models are
  inherited copy-on-write, not pickled), one torch thread each; ``workers=1`` runs in this process.
- :class:`RayExecutor` (``--executor ray``, ``pip install tfscope[ray]``): ``workers`` Ray actors that each hold
  ``state`` (put in the object store once). :func:`ray.init` runs embedded on this machine (``num_cpus=workers``,
  actors at normal priority) unless a cluster address is given (``RAY_ADDRESS`` or ``address=``): the same code then
  fans out over the cluster. Items go to the actors round-robin.

Each worker runs one torch thread, so a result does not depend on the executor or on which worker computed it
(byte-identical output of local and Ray runs, tested in ``tests/test_genome_scale.py``).

Workers never outlive their parent: local workers ignore SIGINT and die on SIGTERM (the parent handles both and
terminates the pool on the way out), and on Linux they ask the kernel to SIGKILL them when the parent dies
(``prctl(PR_SET_PDEATHSIG)``), so even a SIGKILLed parent leaves no workers behind; Ray actors are killed and an
embedded Ray is shut down when the parent leaves :meth:`RayExecutor.imap` / :meth:`RayExecutor.close`, including
on SIGINT/SIGTERM.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator

from .errors import InputError

EXECUTORS = ("local", "ray")

_STATE = None  # state that forked local workers inherit (see LocalExecutor.imap)


def _call(fn, item):
    return fn(_STATE, item)


def _single_thread():
    import torch

    torch.set_num_threads(1)


#: the most worker processes a default scan uses (more rarely pays off for the in-memory scan of a few sequences)
MAX_DEFAULT_WORKERS = 4


def default_workers() -> int:
    """The default number of local worker processes: the CPU cores this process may run on
    (``os.sched_getaffinity``, else ``os.cpu_count()``), at most :data:`MAX_DEFAULT_WORKERS`."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_WORKERS))


PR_SET_PDEATHSIG = 1  # linux/prctl.h


_LIBC = []


def _libc():
    """The C library with ``prctl`` (Linux), loaded once without spawning anything (``CDLL(None)``: the symbols of
    this process); None elsewhere."""

    if not _LIBC:
        lib = None
        if sys.platform.startswith("linux"):
            try:
                lib = ctypes.CDLL(None, use_errno=True)
                lib.prctl  # noqa: B018 (raises AttributeError when absent)
            except (OSError, AttributeError):
                lib = None
        _LIBC.append(lib)
    return _LIBC[0]


def die_with_parent(parent: int, sig: int = 9) -> bool:
    """Make this (forked) process receive ``sig`` (default SIGKILL) when its parent dies (Linux
    ``prctl(PR_SET_PDEATHSIG)``), and exit at once if ``parent`` is already gone. Returns False where prctl is not
    available (not Linux)."""
    libc = _libc()
    if libc is None:
        return False
    ok = libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) == 0
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    return ok


#: signals blocked while :class:`LocalExecutor` forks its workers, unblocked by :func:`_worker_init` once the
#: workers' own handlers are set
FORK_BLOCKED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _worker_init(parent: int):
    """Initializer of forked local workers: die with the parent, leave SIGINT to it (a terminal's Ctrl-C reaches
    the whole process group), die quietly on SIGTERM (the parent's pool.terminate), one torch thread.

    The workers are forked with :data:`FORK_BLOCKED` blocked (:func:`_blocked_while_forking`) and unblock them here,
    after their handlers are set: a signal that arrives before (e.g. ``pool.terminate`` of a worker that had not
    started yet) waits until then, instead of running the parent's handler in the child. Such a handler (a library's,
    e.g. Ray's SIGTERM handler, or a test runner's) raises into the child's copy of the parent's stack, which then goes
    on running the parent's code (seen as a second pytest session printing into the first).
    """

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORK_BLOCKED)
    die_with_parent(parent)
    _single_thread()


@contextlib.contextmanager
def _blocked_while_forking():
    """Block :data:`FORK_BLOCKED` in this thread for the block (the forks of a pool's workers), then restore the mask.

    Signals sent to this process meanwhile are delivered when the block ends, to this process's own handlers.
    """
    old = signal.pthread_sigmask(signal.SIG_BLOCK, FORK_BLOCKED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class LocalExecutor:
    """Forked local worker processes, one torch thread each (Linux ``fork``; elsewhere, or with ``workers=1`` or
    CUDA models, everything runs in this process).

    Parameters
    ----------
    workers : int
        Worker processes.
    """

    name = "local"

    def __init__(self, workers: int = 1):
        self.workers = max(1, int(workers))

    def imap(self, fn: Callable, items: Iterable, *, state=None, in_flight: int | None = None,
             in_process: bool = False) -> Iterator:
        """Yield ``fn(state, item)`` for each item, in order.

        Parameters
        ----------
        fn : module-level function ``(state, item) -> result``
        items : iterable, consumed lazily
        state : object made resident in every worker (inherited by the forked processes)
        in_flight : items submitted ahead (default ``2 * workers``)
        in_process : run in this process (e.g. models on a GPU, which cannot be forked)
        """

        if self.workers == 1 or in_process or "fork" not in mp.get_all_start_methods():
            for item in items:
                yield fn(state, item)
            return
        global _STATE
        _STATE = state
        _libc()  # resolve prctl before forking (the workers call it, see die_with_parent)
        try:
            with _blocked_while_forking():  # the workers start with these blocked (see _worker_init)
                pool = mp.get_context("fork").Pool(self.workers, initializer=_worker_init, initargs=(os.getpid(),))
            try:
                yield from _ordered(lambda it: pool.apply_async(_call, (fn, it)), lambda h: h.get(), items,
                                    in_flight or 2 * self.workers)
            except BaseException:
                pool.terminate()
                raise
            # every result is in: the workers are stopped while the caller goes on (their exit, freeing their memory,
            # took about 20 ms of a streamed scan's serial tail)
            threading.Thread(target=pool.terminate, daemon=True).start()
        finally:
            _STATE = None

    def close(self) -> None:
        """Nothing to release (the pool lives only inside :meth:`imap`)."""


@contextlib.contextmanager
def _keep_signal_handlers():
    """Restore the SIGTERM/SIGINT/SIGHUP handlers after the block (main thread only), so the CLI's cleanup on
    SIGTERM (:func:`tfscope.cli.main`) survives libraries that install their own."""

    sigs = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    main = threading.current_thread() is threading.main_thread()
    old = {s: signal.getsignal(s) for s in sigs} if main else {}
    try:
        yield
    finally:
        for s, h in old.items():
            if h is not None:
                signal.signal(s, h)


class RayExecutor:
    """Ray actors holding the state resident; ``ray.init`` embedded on this machine or on a cluster.

    Parameters
    ----------
    workers : int
        Actors (one CPU and one torch thread each); also ``num_cpus`` of an embedded Ray.
    address : str, optional
        Ray cluster address (default: ``RAY_ADDRESS`` if set, else an embedded Ray on this machine). An already
        initialised Ray session is reused and left running.

    Raises
    ------
    InputError
        If Ray is not installed (``pip install tfscope[ray]``).
    """

    name = "ray"

    def __init__(self, workers: int = 2, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise InputError("--executor ray needs Ray: pip install 'tfscope[ray]'") from None
        self.workers = max(1, int(workers))
        self._owns = False
        if not ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS")
            if not address:
                # embedded: actors at the priority of local workers (Ray's default worker niceness is 15, which lets
                # any other job on the machine starve the scan); set RAY_worker_niceness to override
                os.environ.setdefault("RAY_worker_niceness", "0")
            kw = {"address": address} if address else {"num_cpus": self.workers}
            with _keep_signal_handlers():  # ray.init installs its own SIGTERM handler (abort, exit 134)
                ray.init(include_dashboard=False, log_to_driver=False, **kw)
            self._owns = True

    def imap(self, fn: Callable, items: Iterable, *, state=None, in_flight: int | None = None,
             in_process: bool = False) -> Iterator:
        """Like :meth:`LocalExecutor.imap`, on ``workers`` actors that each hold ``state``
        (``in_process`` is ignored: Ray places GPU work by its own resources)."""
        import ray

        actor_cls = ray.remote(num_cpus=1)(_RayWorker)
        ref = ray.put(state)
        actors = [actor_cls.remote(ref) for _ in range(self.workers)]
        turn = iter(range(1 << 62))
        try:
            yield from _ordered(lambda it: actors[next(turn) % len(actors)].run.remote(fn, it), ray.get, items,
                                in_flight or 2 * self.workers)
        finally:
            for a in actors:
                ray.kill(a)
            del ref

    def close(self) -> None:
        """Shut Ray down if this executor started it."""
        import ray

        if self._owns and ray.is_initialized():
            ray.shutdown()
        self._owns = False


class _RayWorker:
    """A Ray actor: ``state`` stays resident; ``run(fn, item)`` applies ``fn(state, item)`` with one torch
    thread."""

    def __init__(self, state):
        _single_thread()
        self.state = state

    def run(self, fn, item):
        return fn(self.state, item)


def _ordered(submit, wait, items, in_flight: int):
    """Submit items lazily, keeping ``in_flight`` ahead, and yield their results in order."""
    pending = collections.deque()
    for item in items:
        pending.append(submit(item))
        if len(pending) >= in_flight:
            yield wait(pending.popleft())
    while pending:
        yield wait(pending.popleft())


@contextlib.contextmanager
def executor_for(executor, workers: int = 1):
    """The executor of one run: ``executor`` made by name (:func:`make_executor` with ``workers``) and closed when
    the block ends, or an executor object used as given and left open (its owner closes it)."""
    if not isinstance(executor, str):
        yield executor
        return
    ex = make_executor(executor, workers)
    try:
        yield ex
    finally:
        ex.close()


def make_executor(kind: str = "local", workers: int = 1, **kw):
    """:class:`LocalExecutor` or :class:`RayExecutor` by name (:data:`EXECUTORS`).

    Raises
    ------
    InputError
        For an unknown kind, or ``ray`` without Ray installed.
    """
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "ray":
        return RayExecutor(workers, **kw)
    raise InputError(f"unknown executor {kind!r}; choose from {', '.join(EXECUTORS)}")
