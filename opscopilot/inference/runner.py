"""Run a model with a timeout: inline in a thread, or isolated in a killable process.

Our own fast models run inline in a thread pool: no pickling, ~0.1 ms overhead. A thread
cannot be killed, though, so a model that may hang (plugin code, uploaded artifacts) runs
in a process. The process pool is a set of single-process ProcessPoolExecutors ("slots"):
a job takes a free slot, and on timeout only that slot's process is killed and the slot
recreated, so the other jobs in flight are not harmed (one shared executor could only
be killed whole). A model that raises, crashes or returns a non-object yields a failed
RunResult whose message is scrubbed of paths, hosts and secrets; the runner stays usable.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import queue
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from typing import Any, Literal, Protocol

from opscopilot.inference.errors import ModelRunFailed, ModelTimedOut
from opscopilot.inference.protocol import ExecutionHints, Model
from opscopilot.inference.scrub import describe_exception

RunStatus = Literal["succeeded", "failed", "timed_out"]
DEFAULT_MAX_INLINE_ITEMS = 1000


class ModelLoader(Protocol):
    """Picklable recipe that rebuilds a model inside a worker process."""

    @property
    def key(self) -> str: ...

    def load(self) -> Model: ...


@dataclass(frozen=True)
class RunResult:
    status: RunStatus
    output: dict[str, Any] | None
    error: str | None
    latency_ms: float
    isolated: bool

    def unwrap(self) -> dict[str, Any]:
        """The output, or the domain error (ModelRunFailed 502 / ModelTimedOut 504)."""
        if self.status == "succeeded" and self.output is not None:
            return self.output
        if self.status == "timed_out":
            raise ModelTimedOut(self.error or "the model timed out")
        raise ModelRunFailed(self.error or "the model failed")


@dataclass(frozen=True)
class ExecutionPlan:
    queue: bool
    isolate: bool
    timeout_s: float
    reason: str


def plan_execution(
    hints: ExecutionHints,
    input: dict[str, Any],
    *,
    force_async: bool = False,
    max_inline_items: int = DEFAULT_MAX_INLINE_ITEMS,
) -> ExecutionPlan:
    """Inline or queued, thread or process, for one request (pure)."""
    items = input.get(hints.batch_field) if hints.batch_field else None
    size = len(items) if isinstance(items, list) else 1
    limit = hints.max_inline_items or max_inline_items
    if force_async:
        queue_it, reason = True, "asynchronous run requested"
    elif hints.is_slow:
        queue_it, reason = True, "the model is marked slow"
    elif size > limit:
        queue_it, reason = True, f"{size} items exceed the inline limit of {limit}"
    else:
        queue_it, reason = False, "fast enough to run inline"
    return ExecutionPlan(queue_it, hints.isolate, hints.timeout_s, reason)


# --- worker process side -------------------------------------------------------------

_WORKER_MODELS: dict[str, Model] = {}


def _worker_ping() -> bool:
    return True


def _worker_predict(loader: ModelLoader, input: dict[str, Any]) -> tuple[bool, Any]:
    # Exceptions are turned into scrubbed text here: an arbitrary exception object may
    # not survive pickling back to the parent, and its traceback would carry paths.
    try:
        model = _WORKER_MODELS.get(loader.key)
        if model is None:
            model = _WORKER_MODELS[loader.key] = loader.load()
        return True, model.predict(input)
    except Exception as exc:  # the model is foreign code: report whatever it raised
        return False, describe_exception(exc)


# --- parent side ---------------------------------------------------------------------


def _default_context() -> BaseContext:
    # Never fork: the parent has threads (event loop, pools) whose locks a fork would copy.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class _Slot:
    def __init__(self, context: BaseContext) -> None:
        self.executor = ProcessPoolExecutor(max_workers=1, mp_context=context)

    def warm(self) -> Future[bool]:
        return self.executor.submit(_worker_ping)

    def kill(self) -> None:
        # ProcessPoolExecutor has no public kill before Python 3.14 (kill_workers).
        processes = list((getattr(self.executor, "_processes", None) or {}).values())
        manager = getattr(self.executor, "_executor_manager_thread", None)
        for process in processes:
            process.kill()
        self.executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.join(timeout=5)
        # Let the executor's manager thread see the dead process and close its pipes now,
        # or the interpreter's exit hook may write to a pipe it is closing.
        if manager is not None:
            manager.join(timeout=5)


def _elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def _finish(output: Any, start: float, *, isolated: bool) -> RunResult:
    if not isinstance(output, dict):
        error = f"the model returned {type(output).__name__}, not an object"
        return RunResult("failed", None, error, _elapsed_ms(start), isolated)
    return RunResult("succeeded", output, None, _elapsed_ms(start), isolated)


class ModelRunner:
    """One per process (API or worker); `close()` it on shutdown."""

    def __init__(
        self,
        *,
        process_slots: int = 2,
        inline_threads: int = 8,
        context: BaseContext | None = None,
    ) -> None:
        self._context = context or _default_context()
        self._threads = ThreadPoolExecutor(inline_threads, thread_name_prefix="model-inline")
        # Async callers wait for isolated runs in these threads, not on the event loop.
        self._waiters = ThreadPoolExecutor(
            max(4, process_slots * 8), thread_name_prefix="model-wait"
        )
        self._slots: queue.Queue[_Slot] = queue.Queue()
        for _ in range(process_slots):
            self._slots.put(_Slot(self._context))
        self._lock = threading.Lock()
        self.abandoned_threads = 0
        self.killed_processes = 0

    def warm_up(self, timeout: float = 60.0) -> None:
        """Start every worker process now rather than inside the first job's timeout."""
        slots = [self._slots.get() for _ in range(self._slots.qsize())]
        try:
            for future in [slot.warm() for slot in slots]:
                future.result(timeout=timeout)
        finally:
            for slot in slots:
                self._slots.put(slot)

    # inline ---------------------------------------------------------------------------

    def run_inline_sync(self, model: Model, input: dict[str, Any], *, timeout: float) -> RunResult:
        start = time.perf_counter()
        future = self._threads.submit(model.predict, input)
        try:
            output = future.result(timeout=timeout)
        except FuturesTimeout:
            return self._inline_timeout(start, timeout)
        except Exception as exc:  # the model raised: a failed run, not a crashed runner
            return RunResult("failed", None, describe_exception(exc), _elapsed_ms(start), False)
        return _finish(output, start, isolated=False)

    async def run_inline(self, model: Model, input: dict[str, Any], *, timeout: float) -> RunResult:
        start = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):  # unlike wait_for, no task of its own
                output = await loop.run_in_executor(self._threads, model.predict, input)
        except TimeoutError:
            return self._inline_timeout(start, timeout)
        except Exception as exc:  # the model raised: a failed run, not a crashed runner
            return RunResult("failed", None, describe_exception(exc), _elapsed_ms(start), False)
        return _finish(output, start, isolated=False)

    def _inline_timeout(self, start: float, timeout: float) -> RunResult:
        # The thread runs on until the model returns; count it so it shows in metrics.
        with self._lock:
            self.abandoned_threads += 1
        error = f"the model did not answer within {timeout:g} s"
        return RunResult("timed_out", None, error, _elapsed_ms(start), False)

    # isolated -------------------------------------------------------------------------

    def run_isolated_sync(
        self, loader: ModelLoader, input: dict[str, Any], *, timeout: float
    ) -> RunResult:
        """Run in a worker process; waiting for a free process is bounded by `timeout` too."""
        start = time.perf_counter()
        try:
            slot = self._slots.get(timeout=timeout)
        except queue.Empty:
            error = f"no model process came free within {timeout:g} s"
            return RunResult("timed_out", None, error, _elapsed_ms(start), True)
        try:
            future = slot.executor.submit(_worker_predict, loader, input)
            ok, payload = future.result(timeout=timeout)
        except FuturesTimeout:
            slot = self._replace(slot)
            error = f"the model did not answer within {timeout:g} s; its process was killed"
            return RunResult("timed_out", None, error, _elapsed_ms(start), True)
        except BrokenProcessPool:
            slot = self._replace(slot)
            error = "the model process died (crash or out of memory)"
            return RunResult("failed", None, error, _elapsed_ms(start), True)
        finally:
            self._slots.put(slot)
        if not ok:
            return RunResult("failed", None, str(payload), _elapsed_ms(start), True)
        return _finish(payload, start, isolated=True)

    async def run_isolated(
        self, loader: ModelLoader, input: dict[str, Any], *, timeout: float
    ) -> RunResult:
        loop = asyncio.get_running_loop()
        call = functools.partial(self.run_isolated_sync, loader, input, timeout=timeout)
        return await loop.run_in_executor(self._waiters, call)

    def _replace(self, slot: _Slot) -> _Slot:
        slot.kill()
        with self._lock:
            self.killed_processes += 1
        fresh = _Slot(self._context)
        fresh.warm()  # start the replacement now, not inside the next job's timeout
        return fresh

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._waiters.shutdown(wait=False, cancel_futures=True)
        while True:
            try:
                self._slots.get_nowait().kill()
            except queue.Empty:
                break

    def __enter__(self) -> ModelRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
