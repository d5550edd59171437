"""The runner: inline and isolated runs, timeouts that kill, failures that are scrubbed."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from opscopilot.inference.errors import ModelRunFailed, ModelTimedOut
from opscopilot.inference.plugins import EntryPointLoader
from opscopilot.inference.protocol import ExecutionHints
from opscopilot.inference.runner import ModelRunner, RunResult, plan_execution
from tests.unit.inference import fixture_models as fm

MODULE = "tests.unit.inference.fixture_models"


def loader(attr: str, name: str) -> EntryPointLoader:
    return EntryPointLoader(entrypoint=f"{MODULE}:{attr}", name=name, version="1.0.0")


@pytest.fixture(scope="module")
def runner() -> Iterator[ModelRunner]:
    with ModelRunner(process_slots=2, inline_threads=2) as r:
        r.warm_up()
        yield r


def assert_scrubbed(result: RunResult) -> None:
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith("ConnectionError: could not connect")
    for secret in ("hunter2", "db.plant.internal", "/srv/models", "10.1.2.3", "ops:"):
        assert secret not in result.error


def test_inline_success_returns_output_and_latency(runner: ModelRunner) -> None:
    result = runner.run_inline_sync(fm.Doubler(), {"x": 21}, timeout=5)
    assert result.status == "succeeded"
    assert result.output is not None and result.output["y"] == 42
    assert result.output["pid"] == os.getpid()
    assert not result.isolated
    assert result.latency_ms >= 0
    assert result.unwrap()["y"] == 42


def test_inline_raising_model_is_failed_with_scrubbed_message(runner: ModelRunner) -> None:
    result = runner.run_inline_sync(fm.Raising(), {}, timeout=5)
    assert_scrubbed(result)
    with pytest.raises(ModelRunFailed):
        result.unwrap()


def test_inline_timeout_returns_without_waiting_for_the_thread(runner: ModelRunner) -> None:
    release = threading.Event()

    class Blocking(fm.Doubler):
        def predict(self, input: dict[str, object]) -> dict[str, object]:
            release.wait(10)
            return {}

    before = runner.abandoned_threads
    result = runner.run_inline_sync(Blocking(), {}, timeout=0.2)
    release.set()
    assert result.status == "timed_out"
    assert runner.abandoned_threads == before + 1
    with pytest.raises(ModelTimedOut):
        result.unwrap()


def test_inline_non_object_output_is_a_failure(runner: ModelRunner) -> None:
    result = runner.run_inline_sync(fm.NotAnObject(), {}, timeout=5)
    assert result.status == "failed"
    assert result.error == "the model returned list, not an object"


async def test_async_inline_run_and_raise(runner: ModelRunner) -> None:
    ok = await runner.run_inline(fm.Doubler(), {"x": 2}, timeout=5)
    assert ok.output is not None and ok.output["y"] == 4
    assert_scrubbed(await runner.run_inline(fm.Raising(), {}, timeout=5))


def test_isolated_run_happens_in_another_process(runner: ModelRunner) -> None:
    result = runner.run_isolated_sync(loader("Doubler", "doubler"), {"x": 5}, timeout=30)
    assert result.status == "succeeded", result.error
    assert result.isolated
    assert result.output is not None and result.output["y"] == 10
    assert result.output["pid"] != os.getpid()


def test_isolated_raising_model_is_scrubbed_and_worker_stays_healthy(
    runner: ModelRunner,
) -> None:
    assert_scrubbed(runner.run_isolated_sync(loader("Raising", "raising"), {}, timeout=30))
    again = runner.run_isolated_sync(loader("Doubler", "doubler"), {"x": 1}, timeout=30)
    assert again.status == "succeeded"


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_hanging_model_is_killed_at_timeout_without_harming_other_jobs(
    runner: ModelRunner, tmp_path: Path
) -> None:
    killed_before = runner.killed_processes
    pid_file = tmp_path / "hanging.pid"
    healthy, hung = await asyncio.gather(
        runner.run_isolated(loader("Sleeper", "sleeper"), {"seconds": 2.5}, timeout=30),
        runner.run_isolated(loader("Hanging", "hanging"), {"pid_file": str(pid_file)}, timeout=1.5),
    )
    assert hung.status == "timed_out"
    assert hung.error is not None and "killed" in hung.error
    assert runner.killed_processes == killed_before + 1
    assert not process_exists(int(pid_file.read_text()))
    # The job in the other slot ran to the end: the kill touched only the hung process.
    assert healthy.status == "succeeded", healthy.error
    # The pool is whole again: both slots serve, in fresh or surviving processes.
    for result in await asyncio.gather(
        *(runner.run_isolated(loader("Doubler", "doubler"), {"x": x}, timeout=30) for x in range(4))
    ):
        assert result.status == "succeeded", result.error


def test_crashing_model_fails_the_run_and_the_slot_is_replaced(runner: ModelRunner) -> None:
    result = runner.run_isolated_sync(loader("Crashing", "crashing"), {}, timeout=30)
    assert result.status == "failed"
    assert result.error == "the model process died (crash or out of memory)"
    after = runner.run_isolated_sync(loader("Doubler", "doubler"), {"x": 3}, timeout=30)
    assert after.status == "succeeded", after.error


def test_unknown_model_in_entry_point_is_a_failed_run(runner: ModelRunner) -> None:
    missing = EntryPointLoader(entrypoint=f"{MODULE}:Doubler", name="other", version="1.0.0")
    result = runner.run_isolated_sync(missing, {}, timeout=30)
    assert result.status == "failed"
    assert result.error is not None and "has no model other 1.0.0" in result.error


async def test_waiting_for_a_free_process_is_bounded() -> None:
    with ModelRunner(process_slots=1, inline_threads=1) as small:
        small.warm_up()
        first_task = asyncio.ensure_future(
            small.run_isolated(loader("Sleeper", "sleeper"), {"seconds": 1.5}, timeout=30)
        )
        await asyncio.sleep(0.3)
        second = await small.run_isolated(loader("Doubler", "doubler"), {"x": 1}, timeout=0.3)
        first = await first_task
    assert first.status == "succeeded"
    assert second.status == "timed_out"
    assert second.error == "no model process came free within 0.3 s"


@pytest.mark.parametrize(
    ("hints", "input", "force", "queued", "reason"),
    [
        (ExecutionHints(), {}, False, False, "fast enough to run inline"),
        (ExecutionHints(), {}, True, True, "asynchronous run requested"),
        (ExecutionHints(is_slow=True), {}, False, True, "the model is marked slow"),
        (
            ExecutionHints(batch_field="items", max_inline_items=2),
            {"items": [1, 2, 3]},
            False,
            True,
            "3 items exceed the inline limit of 2",
        ),
        (
            ExecutionHints(batch_field="items", max_inline_items=2),
            {"items": [1, 2]},
            False,
            False,
            "fast enough to run inline",
        ),
    ],
)
def test_plan_execution(
    hints: ExecutionHints, input: dict[str, object], force: bool, queued: bool, reason: str
) -> None:
    plan = plan_execution(hints, input, force_async=force)
    assert (plan.queue, plan.reason) == (queued, reason)
    assert plan.timeout_s == hints.timeout_s


def test_plan_execution_uses_the_global_limit_without_a_model_limit() -> None:
    hints = ExecutionHints(batch_field="items", isolate=True)
    plan = plan_execution(hints, {"items": list(range(11))}, max_inline_items=10)
    assert plan.queue and plan.isolate
