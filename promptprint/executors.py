"""Where batch work runs: in this process (the default), or on a Ray cluster.

The batch jobs split their work into independent items that each need heavy state
on the worker that runs them: the reindex job embeds text batches (state: a loaded
model) and encodes IVF shards (state: the one trained quantizer); the campaign
reconstruction embeds files and searches k-NN query batches (state: the corpus's search
index). So the seam is a *worker pool*:

    with executor.pool(setup) as pool:          # setup() builds the state, once per worker
        for result in pool.map(fn, items):      # fn(state, item), results in item order
            ...

* :class:`InProcess` has one worker, this process: ``setup()`` runs here once and
  nothing is copied or pickled. With no ``--ray-address`` this is all that runs, and
  Ray is never imported.
* :class:`LocalProcesses` runs the items in worker processes of this machine (spawned,
  never forked from a process with threads), each with its state built once by
  ``setup``: the server's embedding workers, so the serving process runs no forward pass
  for ingest. ``setup`` and ``fn`` are pickled, as for Ray.
* :class:`RayExecutor` starts one Ray actor per worker (once, shared by all its pools).
  ``setup`` is pickled once into the object store and each actor unpickles and calls it
  on its first item, so a model is loaded once per worker and a trained index is shipped
  once per worker, not once per item (see :class:`ShippedIndex`).
  Items stream through with a bounded number in flight, so the driver never holds every
  item at once. ``fn`` must be a module-level function (pickled by reference).

On a cluster of several machines every node needs this package and its dependencies
installed (the same ``requirements.txt``): workers import ``indexer`` and load the
packaged model from their own disk; nothing but the model *path* crosses the network.

Inside one process, :func:`one_ahead` overlaps two stages of a loop: a worker thread
computes the next item's first stage (e.g. template signatures, in C without the GIL)
while the caller runs the second stage on the current one.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import logging
import multiprocessing
import os
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Generic, Iterable, Iterator, Protocol, TypeVar

import faiss

log = logging.getLogger(__name__)

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")

LOCAL = "local"  # --ray-address local: start a private Ray instance on this machine


def one_ahead(fn: Callable[[T], R], items: Iterable[T], *, name: str = "promptprint-ahead") -> Iterator[tuple[T, R]]:
    """``(item, fn(item))`` for each item in order, with ``fn`` of the next item running on
    a worker thread while the caller works on the current one. Items are drawn on the
    caller's thread (an SQLite cursor stays on the thread that made it); leaving the loop
    early waits for the one call still running."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name) as worker:
        iterator = iter(items)
        try:
            current = next(iterator)
        except StopIteration:
            return
        ahead = worker.submit(fn, current)
        for following in iterator:
            result = ahead.result()
            ahead = worker.submit(fn, following)
            yield current, result
            current = following
        yield current, ahead.result()


class WorkerPool(Protocol[S]):
    """Workers that each hold one state built by the pool's setup."""

    @property
    def workers(self) -> int:
        """How many items can run at once (to size batches)."""
        ...

    def map(self, fn: Callable[[S, T], R], items: Iterable[T]) -> Iterator[R]:
        """``fn(state, item)`` for every item, yielded in item order."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> "WorkerPool[S]": ...

    def __exit__(self, *exc: object) -> None: ...


class BatchExecutor(Protocol):
    """What the batch jobs need from an engine: pools of workers with a state each."""

    @property
    def workers(self) -> int: ...

    def pool(self, setup: Callable[[], S]) -> WorkerPool[S]: ...


class _LocalPool(Generic[S]):
    def __init__(self, state: S) -> None:
        self._state: S | None = state  # None once closed: the state (a whole FAISS index) is freed

    @property
    def workers(self) -> int:
        return 1

    def map(self, fn: Callable[[S, T], R], items: Iterable[T]) -> Iterator[R]:
        state = self._state
        if state is None:
            raise RuntimeError("this worker pool is closed")
        return (fn(state, item) for item in items)

    def close(self) -> None:
        self._state = None

    def __enter__(self) -> "_LocalPool[S]":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcess:
    """Runs everything in this process, one item after another (the default)."""

    @property
    def workers(self) -> int:
        return 1

    def pool(self, setup: Callable[[], S]) -> _LocalPool[S]:
        return _LocalPool(setup())


# In a LocalProcesses worker process only: the pool's state, built once by its setup (a
# process-pool initializer has nowhere else to leave it for the calls that follow).
_WORKER_STATE: dict[str, Any] = {}


def _start_worker(setup: Callable[[], Any], nice: int) -> None:
    if nice:
        os.nice(nice)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="promptprint-parent-watch", daemon=True).start()
    _WORKER_STATE["state"] = setup()


def _exit_with_parent(parent: int) -> None:
    """A worker whose parent died (e.g. a SIGKILLed server) exits too: the process pool
    would otherwise leave it, and its loaded model, behind for good."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _run_on_worker(fn: Callable[[Any, T], R], item: T) -> R:
    return fn(_WORKER_STATE["state"], item)


class _ProcessPool(Generic[S]):
    def __init__(self, setup: Callable[[], S], workers: int, nice: int) -> None:
        self._setup, self._workers, self._nice = setup, workers, nice
        self._executor: concurrent.futures.ProcessPoolExecutor | None = self._start()

    def _start(self) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(
            self._workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker, initargs=(self._setup, self._nice),
        )

    @property
    def workers(self) -> int:
        return self._workers

    def map(self, fn: Callable[[S, T], R], items: Iterable[T]) -> Iterator[R]:
        executor = self._executor
        if executor is None:
            raise RuntimeError("this worker pool is closed")
        try:
            return iter(list(executor.map(_run_on_worker, itertools.repeat(fn), items)))
        except concurrent.futures.process.BrokenProcessPool:
            # a worker died (e.g. killed for memory): start fresh ones for the next call
            log.warning("a worker process died; starting new workers")
            executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._start()
            raise

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> "_ProcessPool[S]":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalProcesses:
    """Runs items in ``workers`` processes of this machine, each holding its own state
    (e.g. a loaded model). ``nice`` lowers their CPU priority, so a serving process on the
    same cores preempts them."""

    def __init__(self, workers: int = 1, *, nice: int = 0) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if not 0 <= nice <= 19:
            raise ValueError(f"nice must be in 0..19, got {nice}")
        self._workers, self._nice = workers, nice

    @property
    def workers(self) -> int:
        return self._workers

    def pool(self, setup: Callable[[], S]) -> _ProcessPool[S]:
        return _ProcessPool(setup, self._workers, self._nice)


@dataclasses.dataclass(frozen=True)
class ShippedIndex:
    """A pool setup whose state is a FAISS index (plus any picklable extra).

    In-process the index is handed over as it is. Shipped to a remote worker it is
    pickled, which FAISS does through ``serialize_index`` (a numpy array: zero-copy in
    Ray's object store), and rebuilt there once per worker."""

    index: Any
    extra: Any = None

    def __call__(self) -> tuple[Any, Any]:
        return self.index, self.extra


class _RayWorker:
    """The actor behind each Ray worker (made remote lazily, so that importing this module
    never imports Ray). One set of actors serves every pool of an executor, so pools
    never wait for CPUs held by another pool's idle actors: each actor keeps one state
    per open pool, built on the pool's first item, dropped when the pool closes."""

    def __init__(self, threads: int) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        faiss.omp_set_num_threads(threads)  # one actor per CPU: no oversubscription
        self._states: dict[str, Any] = {}

    def run(self, key: str, setup_ref: list[Any], fn: Callable[[Any, Any], Any], item: Any) -> Any:
        # setup_ref is wrapped in a list so that Ray does not fetch and unpickle the
        # setup (a model path, or a whole FAISS index) for every item: only once here.
        state = self._states.get(key)
        if state is None:
            import ray

            state = self._states[key] = ray.get(setup_ref[0])()
        return fn(state, item)

    def drop(self, key: str) -> None:
        self._states.pop(key, None)


class _RayPool(Generic[S]):
    def __init__(self, ray: Any, actors: list[Any], setup: Callable[[], S], window: int) -> None:
        self._ray = ray
        self._actors = actors
        self._key = uuid.uuid4().hex
        self._setup = [ray.put(setup)]  # pickled once, whatever the number of workers
        self._window = max(window, len(actors))
        self._closed = False

    @property
    def workers(self) -> int:
        return len(self._actors)

    def map(self, fn: Callable[[S, T], R], items: Iterable[T]) -> Iterator[R]:
        """Each idle actor takes the next item; results come back in item order. At
        most ``window`` items are in flight or waiting to be yielded."""
        if self._closed:
            raise RuntimeError("this worker pool is closed")
        ray = self._ray
        idle = list(self._actors)
        running: dict[Any, tuple[int, Any]] = {}
        finished: dict[int, R] = {}
        source = iter(items)
        submitted = emitted = 0
        exhausted = False
        while True:
            while idle and not exhausted and len(running) + len(finished) < self._window:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                actor = idle.pop()
                running[actor.run.remote(self._key, self._setup, fn, item)] = (submitted, actor)
                submitted += 1
            if emitted in finished:
                yield finished.pop(emitted)
                emitted += 1
                continue
            if not running:
                return
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                position, actor = running.pop(ref)
                finished[position] = ray.get(ref)  # a task's error is raised here
                idle.append(actor)

    def close(self) -> None:
        """Free every worker's state of this pool (the actors stay for other pools)."""
        if not self._closed and self._ray.is_initialized():
            self._closed = True
            try:
                self._ray.get([actor.drop.remote(self._key) for actor in self._actors])
            except self._ray.exceptions.RayActorError:
                pass  # the executor was closed first: its actors, and their states, are gone

    def __enter__(self) -> "_RayPool[S]":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RayExecutor:
    """Pools of Ray actors on a cluster.

    Args:
        address: a Ray cluster address (``ray://host:10001``, ``host:6379``), ``auto``
            (the cluster this machine belongs to, e.g. after ``ray start``) or
            ``local`` (start a private instance here, stopped by :meth:`close`). If this
            process is already connected to Ray (``ray.init`` done), that connection is
            used whatever the address.
        workers: actors (shared by all pools); default: the cluster's CPUs /
            ``cpus_per_worker``.
        cpus_per_worker: CPUs each actor reserves (and its FAISS threads).
        num_cpus / object_store_memory: only for ``local``: the instance's size.
        window: items in flight per worker (keeps every worker busy while the
            driver waits for the oldest result).
    """

    def __init__(
        self,
        address: str,
        *,
        workers: int | None = None,
        cpus_per_worker: int = 1,
        num_cpus: int | None = None,
        object_store_memory: int | None = None,
        window: int = 2,
    ) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if cpus_per_worker < 1:
            raise ValueError(f"cpus_per_worker must be >= 1, got {cpus_per_worker}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        try:
            import ray
        except ImportError as error:  # pragma: no cover - ray is in requirements.txt
            raise RuntimeError("--ray-address needs the `ray` package (pip install ray)") from error
        self._ray = ray
        self._owns_connection = False
        if not ray.is_initialized():
            if address == LOCAL:
                ray.init(  # "local": a new instance even if RAY_ADDRESS or `ray start` name another
                    address="local", num_cpus=num_cpus, object_store_memory=object_store_memory, include_dashboard=False,
                    log_to_driver=False, logging_level=logging.WARNING,
                )
            else:
                _check_reachable(address)
                ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
            self._owns_connection = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self._workers = workers or max(1, cpus // cpus_per_worker)
        self._cpus_per_worker = cpus_per_worker
        self._window = window
        self._actors: list[Any] = []

    @property
    def workers(self) -> int:
        return self._workers

    def pool(self, setup: Callable[[], S]) -> _RayPool[S]:
        if not self._actors:  # started on first use, spread over the cluster's nodes
            remote = self._ray.remote(num_cpus=self._cpus_per_worker, scheduling_strategy="SPREAD")(_RayWorker)
            self._actors = [remote.remote(self._cpus_per_worker) for _ in range(self._workers)]
        return _RayPool(self._ray, self._actors, setup, self._window * self._workers)

    def close(self) -> None:
        """Stop the workers; disconnect (and stop the instance if this executor started it)."""
        if self._ray.is_initialized():
            for actor in self._actors:
                self._ray.kill(actor)
            if self._owns_connection:
                self._ray.shutdown()
        self._actors = []
        self._owns_connection = False

    def __enter__(self) -> "RayExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """Fail fast on an unreachable ``host:port`` (Ray itself retries for minutes)."""
    if address == "auto":
        # Ray resolves "auto" from RAY_ADDRESS or the file `ray start` leaves behind, which
        # outlives a stopped cluster (and then Ray waits for minutes): check that too.
        found = os.environ.get("RAY_ADDRESS") or _read(Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster")
        if not found:
            return  # Ray says at once that there is no cluster
        address = found
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"Ray address {address!r} is not host:port, ray://host:port, 'auto' or 'local'")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise ConnectionError(f"no Ray cluster answers at {address} ({error}); check the address (`ray status` on the head)") from error


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def executor_for(address: str | None, *, workers: int | None = None) -> InProcess | RayExecutor:
    """The engine a CLI flag asks for: in-process without an address, Ray with one."""
    if not address:
        return InProcess()
    return RayExecutor(address, workers=workers)
