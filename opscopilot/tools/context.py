"""What a tool gets at run time, hidden from the model: the store, who is asking, where.

The graph passes one `ToolContext` per run as LangGraph's runtime context; tools read it
through `ToolRuntime` (an injected argument the model never sees). It holds a session
factory, never a session, so no transaction stays open while the model thinks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from opscopilot.access.roles import Principal
from opscopilot.core.errors import PermissionDenied
from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database


@dataclass(frozen=True)
class ToolContext:
    db: Database
    settings: Settings
    principal: Principal
    site: str
    thread_id: str
    run_id: str
    today: date

    def site_or_default(self, site: str | None) -> str:
        """The site a tool acts on: the one named, else the chat's; refused if not visible."""
        chosen = (site or self.site).strip()
        if not self.principal.sees_site(chosen):
            raise PermissionDenied(f"you do not have access to site {chosen}")
        return chosen
