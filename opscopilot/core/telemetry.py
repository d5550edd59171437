"""OpenTelemetry traces: one trace per chat turn, with a span per model call and per tool call.

Off unless `otel.exporter` names one (`console`, or `otlp` over HTTP). Off, `span()` is a null
context and `observe_turn` only times the first token: nothing of OpenTelemetry is imported.
On, the SDK (the `otel` extra) is imported once, on the first span. The provider is ours,
not the global one, so a process (or a test) can set it up again; spans still nest through
OpenTelemetry's context, which asyncio tasks inherit when they are created.

A turn's events come out of an async generator that yields between graph steps, and a
context attached across a `yield` would leak into whoever consumes the events. So the turn's
span is attached around each step only (`observe_turn`): the model and tool tasks the graph
starts inside a step inherit it, and the consumer never sees it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from opscopilot.core.metrics import CHAT_TTFT

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer

    from opscopilot.core.settings import OTelSettings

log = logging.getLogger(__name__)

_tracer: Tracer | None = None
_provider: Any = None
_configured = False


def configure_tracing(
    settings: OTelSettings | None,
    *,
    service_name: str = "opscopilot",
    exporter: SpanExporter | None = None,
) -> None:
    """Set this process's tracing up (or off, with neither settings nor an exporter).

    `exporter` (tests: an `InMemorySpanExporter`) is used as given, span by span; the
    configured ones go through a batch processor, flushed when the process exits."""
    global _tracer, _provider, _configured
    shutdown_tracing()
    _configured = True
    kind = settings.exporter if settings is not None else "none"
    if exporter is None and kind == "none":
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    ratio = settings.sample_ratio if settings is not None else 1.0
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}),
        sampler=ParentBased(TraceIdRatioBased(ratio)),
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        assert settings is not None
        provider.add_span_processor(BatchSpanProcessor(_exporter(settings)))
    _provider = provider
    _tracer = provider.get_tracer("opscopilot")
    log.info("tracing on: %s", "test exporter" if exporter is not None else kind)


def _exporter(settings: OTelSettings) -> SpanExporter:
    if settings.exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=settings.endpoint) if settings.endpoint else OTLPSpanExporter()


def shutdown_tracing() -> None:
    """Flush and drop the provider (spans still queued are exported first)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer, _provider = None, None


def tracer() -> Tracer | None:
    """The tracer, or None when tracing is off; read from the settings on first use."""
    if not _configured:
        from opscopilot.core.settings import get_settings

        settings = get_settings()
        try:
            configure_tracing(settings.otel, service_name=settings.service_name)
        except ImportError:  # exporter asked for, SDK not installed: say so once, run on
            log.warning("otel.exporter is set but the otel extra is not installed")
    return _tracer


@contextlib.contextmanager
def span(name: str, attributes: dict[str, Any] | None = None) -> Iterator[Any]:
    """A span that is current inside the block (None when tracing is off). An exception
    leaving the block is recorded on it and marks it as an error."""
    active = tracer()
    if active is None:
        yield None
        return
    with active.start_as_current_span(name, attributes=attributes) as current:
        yield current


def mark_error(current: Any, description: str) -> None:
    """An outcome that is a failure without an exception (a tool's error message)."""
    if current is None:
        return
    from opentelemetry.trace import Status, StatusCode

    current.set_status(Status(StatusCode.ERROR, description))


class _Event(Protocol):
    @property
    def type(self) -> str: ...


E = TypeVar("E", bound=_Event)


async def observe_turn(
    events: AsyncIterator[E], *, surface: str, run_id: str
) -> AsyncGenerator[E, None]:
    """A chat turn's events, passed through: times the first token (per surface) and, when
    tracing is on, makes the turn's root span current around each step (module doc)."""
    started = time.perf_counter()
    waiting = True
    active = tracer()
    root = None
    context: Any = None
    if active is not None:
        from opentelemetry import trace

        root = active.start_span(
            "chat turn", attributes={"chat.surface": surface, "chat.run_id": run_id}
        )
        context = trace.set_span_in_context(root)
    try:
        while True:
            event = await _step(events, context)
            if event is None:
                return
            if waiting and event.type == "token":
                waiting = False
                CHAT_TTFT.labels(surface=surface).observe(time.perf_counter() - started)
            if root is not None and event.type == "error":
                mark_error(root, "the turn ended with an error")
            yield event
    finally:
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[attr-defined]
        if root is not None:
            root.end()


async def _step(events: AsyncIterator[E], context: Any) -> E | None:
    if context is None:
        return await anext(events, None)
    from opentelemetry import context as otel_context

    token = otel_context.attach(context)
    try:
        return await anext(events, None)
    finally:
        otel_context.detach(token)
