"""What may reach a language model: the per-site "local model only" policy and redaction.

A model is *local* when no data leaves the plant: the offline model, an `ollama/` or
`ollama_chat/` model, or any model whose `api_base` host is in `llm.local_api_bases` (a
model the plant hosts itself). Everything else is a cloud model.

Both are set in the settings (for every site) or per site in the `sites` table's `policy`
(`{"local_model_only": true, "redact_fields": ["standard_cost"]}`), which a running graph
reads again every few seconds (`llm.site_policy_ttl_s`).

- A local-only site never has its data sent to a cloud model. A model call
  is bound to such a site when the chat is on it, or when a tool result in the history
  names it (a chat on another site may read it). Such a call goes only to the local models
  of the chain; when there are none, the turn ends with a `local_model_required` error
  event (a clear refusal rather than a silent downgrade to a weaker model).
- Before a cloud call, the values of the redacted fields (e.g. standard_cost, supplier) are
  replaced in every tool result; the stored history keeps them, so the
  person and any local model still see them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from langchain_core.messages import BaseMessage, ToolMessage
from sqlalchemy import select

from opscopilot.core.errors import PermissionDenied
from opscopilot.core.settings import LLMSettings
from opscopilot.store.engine import Database
from opscopilot.store.models import Site
from opscopilot.tools.base import unwrap_data, wrap_data

LOCAL_PREFIXES = ("ollama/", "ollama_chat/")
REDACTED = "[redacted]"


class LocalModelRequired(PermissionDenied):
    code = "local_model_required"


def is_local_model(name: str | None, settings: LLMSettings) -> bool:
    """True when a call to the configured model `name` keeps the data inside the plant
    (no name: the offline model)."""
    if not name:
        return True
    if name.startswith(LOCAL_PREFIXES):
        return True
    if settings.api_base and settings.local_api_bases:
        host = _host(settings.api_base)
        return host is not None and host in {_host(b) or b for b in settings.local_api_bases}
    return False


def _host(url: str) -> str | None:
    parts = urlsplit(url if "//" in url else f"//{url}")
    if not parts.hostname:
        return None
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


def _sites_in(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "site" and isinstance(inner, str):
                found.add(inner)
            else:
                _sites_in(inner, found)
    elif isinstance(value, list):
        for inner in value:
            _sites_in(inner, found)


def sites_named(messages: Iterable[BaseMessage]) -> set[str]:
    """The sites whose data the tool results of `messages` carry."""
    found: set[str] = set()
    for message in messages:
        if isinstance(message, ToolMessage) and isinstance(message.content, str):
            data = unwrap_data(message.content)
            if data is not None:
                _sites_in(data, found)
    return found


@dataclass(frozen=True)
class Rules:
    """The policy a model call runs under."""

    local_only_sites: frozenset[str]
    redact_fields: frozenset[str]

    @classmethod
    def of(cls, settings: LLMSettings) -> Rules:
        return cls(
            local_only_sites=frozenset(settings.local_only_sites),
            redact_fields=frozenset(f.lower() for f in settings.redact_fields),
        )


_SitePolicies = tuple[tuple[str, Any], ...]


class SiteRules:
    """The settings' rules plus the sites table's: every local-only site, and the redacted
    fields of the chat's site. The table is read at most once per `llm.site_policy_ttl_s`
    (one per graph, so per process), rather than in a session and a query of its own per
    model call."""

    def __init__(self) -> None:
        self._read: tuple[Database, float, _SitePolicies] | None = None

    async def __call__(self, db: Database, settings: LLMSettings, *, site: str | None) -> Rules:
        now = time.monotonic()
        read = self._read
        if read is None or read[0] is not db or now - read[1] >= settings.site_policy_ttl_s:
            read = self._read = (db, now, await _site_policies(db))
        return _rules(settings, read[2], site=site)


async def _site_policies(db: Database) -> _SitePolicies:
    async with db.sessions() as session:
        return tuple((await session.execute(select(Site.code, Site.policy))).tuples().all())


def _rules(settings: LLMSettings, rows: _SitePolicies, *, site: str | None) -> Rules:
    base = Rules.of(settings)
    local = {code for code, p in rows if isinstance(p, dict) and p.get("local_model_only")}
    fields: set[str] = set()
    for code, p in rows:
        if code == site and isinstance(p, dict) and isinstance(p.get("redact_fields"), list):
            fields |= {str(f).lower() for f in p["redact_fields"]}
    return Rules(base.local_only_sites | local, base.redact_fields | fields)


def local_only(rules: Rules, *, site: str | None, messages: Sequence[BaseMessage]) -> str | None:
    """The local-only site this call's data belongs to, if any."""
    guarded = rules.local_only_sites
    if not guarded:
        return None
    if site in guarded:
        return site
    hit = sorted(sites_named(messages) & guarded)
    return hit[0] if hit else None


def _redact_value(value: Any, fields: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {
            k: REDACTED if k.lower() in fields and v is not None else _redact_value(v, fields)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact_value(v, fields) for v in value]
    return value


def redact(messages: Sequence[BaseMessage], rules: Rules) -> list[BaseMessage]:
    """`messages` with the configured fields of every tool result replaced (copies)."""
    fields = rules.redact_fields
    if not fields:
        return list(messages)
    out: list[BaseMessage] = []
    for message in messages:
        if isinstance(message, ToolMessage) and isinstance(message.content, str):
            data = unwrap_data(message.content)
            if data is not None:
                cleaned = _redact_value(data, fields)
                message = message.model_copy(
                    update={"content": wrap_data(message.name or "tool", cleaned)}
                )
        out.append(message)
    return out
