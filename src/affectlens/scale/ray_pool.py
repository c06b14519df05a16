"""Ray as the engine that spreads a corpus over processes and machines.

* :func:`ray_runtime` connects to a cluster (``address``) or starts a local runtime and stops
  it afterwards, quietly: no dashboard, no worker output streamed to the terminal, no usage
  statistics sent anywhere.
* :class:`RayPool` keeps ``workers`` long-lived actors, each an
  :class:`~affectlens.scale.worker.AnalysisWorker` holding one loaded pipeline whose thread
  budget is the actor's ``num_cpus``. Files go out one per actor at a time, largest first (a
  long file started last would leave every other worker idle at the end). When an actor's
  process dies on a file (killed, out of memory, a native crash), a new actor replaces it and
  the file is retried once on that new actor; a second death records the file as failed
  (``kind="worker"``), so one poisonous file cannot eat the corpus's time. An actor that cannot
  even start (affectlens missing on a node) is told apart from a file that kills its worker:
  the run stops with one line after three such failures in a row.

Ray is imported only here, and only when a Ray run is asked for.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from ..core.errors import AffectlensError, ParameterError
from ..core.threads import available_threads
from .worker import WORKER, AnalysisWorker, FileOutcome, FileTask, WorkerInfo, one_line

log = logging.getLogger(__name__)

#: Actors that fail to start one after the other before the run gives up.
MAX_START_FAILURES = 3
#: Seconds to wait with no worker alive and none placed before giving up (a worker that asks for
#: more CPUs than any node has stays pending forever in Ray).
START_TIMEOUT_S = 300.0


class ScaleError(AffectlensError, RuntimeError):
    """The distributed run itself cannot go on (Ray missing, no worker can start)."""


@dataclass(frozen=True)
class CorpusEvent:
    """What a corpus run reports to ``hook`` besides its results.

    ``kind`` is one of ``worker-started`` (``worker`` set), ``dispatched`` (``task`` sent to
    ``worker``), ``worker-died`` (``task`` was on it; ``detail`` says what Ray reported) and
    ``worker-failed-to-start``.
    """

    kind: str
    worker: WorkerInfo | None = None
    task: FileTask | None = None
    detail: str | None = None


EventHook = Callable[[CorpusEvent], None]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise ParameterError("running on Ray needs the ray package: pip install 'affectlens[ray]'") from e
    return ray


@contextmanager
def ray_runtime(address: str | None = None) -> Iterator[Any]:
    """Ray, connected: to ``address`` when given, else to a local runtime started here and
    stopped on exit. A process that already called ``ray.init`` keeps its connection (and its
    runtime is not stopped here).
    """
    ray = _import_ray()
    if ray.is_initialized():
        yield ray
        return
    quiet = {"log_to_driver": False, "configure_logging": False}
    # Nothing leaves the machine by default: Ray's usage statistics stay off unless asked for.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            with _without_notice("ray._private.authentication.authentication_token_setup",
                                 "Token authentication is enabled"):
                ray.init(address="local", num_cpus=available_threads(), include_dashboard=False, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at {address}" if address else "a local Ray runtime"
        raise ScaleError(f"cannot connect to {where}: {one_line(str(e), 200)}") from e
    try:
        with _raylet_notices_to_log():
            yield ray
    finally:
        ray.shutdown()


@contextmanager
def _raylet_notices_to_log() -> Iterator[None]:
    """Send the notices Ray's raylet pushes to the driver (``(raylet) A worker died...``) to this
    module's logger instead of the driver's standard output.

    Ray prints them on stdout from a background thread whatever ``log_to_driver`` says, in the
    middle of the progress bar and of a command's output. A corpus run reports the same facts
    itself (a ``worker-died`` event, the manifest, the one-line failure), so here they go to the
    log as warnings (shown by ``affectlens -v``). Done only for a connection this module opened,
    and undone when it closes; if Ray's internals move, Ray's own printing simply stays.
    """
    try:
        from ray._private import worker as ray_worker
    except ImportError:
        yield
        return
    original = getattr(ray_worker, "print_to_stdstream", None)
    if original is None:
        yield
        return

    def routed(data: dict, ignore_prefix: bool) -> None:
        if isinstance(data, dict) and data.get("pid") == "raylet":
            for line in data.get("lines") or ():
                log.warning("Ray: %s", one_line(line, 600))
            return
        original(data, ignore_prefix)

    ray_worker.print_to_stdstream = routed
    try:
        yield
    finally:
        ray_worker.print_to_stdstream = original


@contextmanager
def _without_notice(logger: str, prefix: str) -> Iterator[None]:
    """Drop one logger's notices that start with ``prefix`` inside the block, and nothing else.

    Ray logs "Token authentication is enabled for this Ray cluster..." on every local start, as a
    warning: token authentication is the secure default and nothing the user must act on, and
    without a logging set-up it lands on the terminal. (Setting ``RAY_AUTH_MODE=token`` instead
    would also silence it, but only when set before Ray is imported.)
    """

    class Drop(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return not str(record.getMessage()).startswith(prefix)

    target = logging.getLogger(logger)
    f = Drop()
    target.addFilter(f)
    try:
        yield
    finally:
        target.removeFilter(f)


def default_workers(ray: Any, cpus_per_worker: float) -> int:
    """One worker per ``cpus_per_worker`` CPUs of the cluster (at least one)."""
    cpus = float(ray.cluster_resources().get("CPU", 1))
    return max(1, int(cpus // cpus_per_worker))


class RayPool:
    """Long-lived analysis actors that take files one at a time (see the module docstring).

    Parameters
    ----------
    ray : module
        The connected ``ray`` module (from :func:`ray_runtime`).
    worker_kwargs : dict
        Arguments of :class:`~affectlens.scale.worker.AnalysisWorker`.
    workers : int
        Number of actors.
    cpus_per_worker : float
        Each actor's ``num_cpus``: its share of the machine, and its pipeline's thread budget.
    method : str
        ``analyze`` or ``annotate``.
    hook : callable, optional
        Receives a :class:`CorpusEvent` for each worker start, dispatch and death.
    """

    def __init__(self, ray: Any, worker_kwargs: dict[str, Any], *, workers: int, cpus_per_worker: float = 1,
                 method: str = "analyze", hook: EventHook | None = None) -> None:
        self.ray = ray
        self.kwargs = worker_kwargs
        self.workers = workers
        self.cpus = cpus_per_worker
        self.method = method
        self.hook = hook or (lambda event: None)
        # max_restarts=0: a dead actor stays dead and this pool decides what to do with its file.
        self._cls = ray.remote(num_cpus=cpus_per_worker, max_restarts=0, max_task_retries=0)(AnalysisWorker)
        self.infos: dict[Any, WorkerInfo] = {}  # live actor -> who it is
        self._actors: list[Any] = []

    def _start(self, starting: dict[Any, tuple[Any, FileTask | None]], task: FileTask | None = None) -> None:
        actor = self._cls.remote(**self.kwargs)
        self._actors.append(actor)
        starting[actor.ready.remote()] = (actor, task)

    def _drop(self, actor: Any) -> None:
        self.infos.pop(actor, None)
        try:
            self.ray.kill(actor, no_restart=True)
        except Exception:  # already gone
            pass

    def run(self, tasks: Sequence[FileTask]) -> Iterator[FileOutcome]:
        """Analyse ``tasks``, largest first; yield each outcome as it arrives."""
        ray = self.ray
        actor_errors = (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                        ray.exceptions.OutOfMemoryError, ray.exceptions.NodeDiedError,
                        ray.exceptions.ObjectLostError)
        queue = deque(sorted(tasks, key=lambda t: (-t.size, t.display)))
        starting: dict[Any, tuple[Any, FileTask | None]] = {}  # ready() ref -> (actor, file reserved for it)
        running: dict[Any, tuple[Any, FileTask]] = {}  # analyze() ref -> (actor, file)
        idle: list[Any] = []
        start_failures = 0
        alone_since: float | None = None  # when the pool last found itself with no live worker
        for _ in range(min(self.workers, len(queue))):
            self._start(starting)
        try:
            while queue or running or any(t is not None for _, t in starting.values()):
                if self.infos or running:
                    alone_since = None
                elif alone_since is None:
                    alone_since = time.monotonic()
                elif time.monotonic() - alone_since > START_TIMEOUT_S:
                    raise ScaleError(f"no Ray worker started within {START_TIMEOUT_S:.0f} s: does a node have "
                                     f"{self.cpus:g} free CPU(s) (--cpus-per-worker) and affectlens installed?")
                # Hand out work first: idle actors take the largest waiting file.
                while idle and queue:
                    actor = idle.pop()
                    self._send(actor, queue.popleft(), running)
                if not running and not starting:  # every actor is gone and none is starting
                    self._start(starting)
                ready, _ = ray.wait(list(running) + list(starting), num_returns=1, timeout=1.0)
                for ref in ready:
                    if ref in starting:
                        actor, reserved = starting.pop(ref)
                        try:
                            info = ray.get(ref)
                        except actor_errors + (ray.exceptions.RayTaskError,) as e:
                            start_failures += 1
                            self._drop(actor)
                            self.hook(CorpusEvent("worker-failed-to-start", detail=one_line(str(e), 300)))
                            if start_failures < MAX_START_FAILURES:
                                self._start(starting, reserved)
                            elif not self.infos:
                                raise ScaleError(f"no Ray worker could start ({start_failures} tries in a row); "
                                                 f"last error: {one_line(str(e), 300)}") from e
                            elif reserved is not None:  # the live workers take its file
                                queue.appendleft(reserved)
                            continue
                        start_failures = 0
                        self.infos[actor] = info
                        self.hook(CorpusEvent("worker-started", worker=info))
                        if reserved is not None:
                            self._send(actor, reserved, running)
                        elif queue:
                            self._send(actor, queue.popleft(), running)
                        else:
                            self._drop(actor)  # nothing left for it: free its memory now
                        continue
                    actor, task = running.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except actor_errors as e:
                        detail = _death(e)
                        self.hook(CorpusEvent("worker-died", worker=self.infos.get(actor), task=task, detail=detail))
                        self._drop(actor)
                        if task.attempt < 2:  # retried once, on a new worker
                            log.info("%s: worker died (%s); retrying on a new worker", task.display, detail)
                            self._start(starting, replace(task, attempt=task.attempt + 1))
                        else:
                            if queue:
                                self._start(starting)  # keep the pool at strength for the others
                            yield FileOutcome(task, False, 0.0, self._name(actor), 0.0, kind=WORKER,
                                              error=one_line(f"{task.display}: the worker process died twice while "
                                                             f"analysing it ({detail})"))
                        continue
                    except ray.exceptions.RayTaskError as e:  # the method itself raised: a bug
                        idle.append(actor)
                        yield FileOutcome(task, False, 0.0, self._name(actor), 0.0, kind="crash",
                                          error=one_line(f"{task.display}: unexpected error in the worker: "
                                                         f"{_first_line(e)}"))
                        continue
                    idle.append(actor)
                    yield outcome
        finally:
            for actor in self._actors:
                self._drop(actor)
            self._actors.clear()

    def _send(self, actor: Any, task: FileTask, running: dict[Any, tuple[Any, FileTask]]) -> None:
        running[getattr(actor, self.method).remote(task)] = (actor, task)
        self.hook(CorpusEvent("dispatched", worker=self.infos.get(actor), task=task))

    def _name(self, actor: Any) -> str:
        info = self.infos.get(actor)
        return info.name if info else "unknown"


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(error).__name__


def _death(error: BaseException) -> str:
    """A short cause from Ray's (long) message about a dead worker."""
    text = str(error)
    for hint in ("SIGKILL", "out of memory", "OOM", "SIGSEGV", "exit code", "killed", "node"):
        if hint.lower() in text.lower():
            start = text.lower().find(hint.lower())
            return one_line(text[max(0, start - 60): start + 120], 180)
    return one_line(text.splitlines()[0] if text else type(error).__name__, 180)
