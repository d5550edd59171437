"""The tools the model is offered, in order, from each tool module's `specs()`."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from opscopilot.tools.base import ToolSpec

# Tool modules in the order their tools are offered to the model.
TOOL_MODULES: tuple[str, ...] = (
    "opscopilot.tools.items",
    "opscopilot.tools.documents",
    "opscopilot.tools.kpi_tools",
    "opscopilot.tools.ingestion",
    "opscopilot.tools.forecasts",
    "opscopilot.tools.alerts",
    "opscopilot.tools.notifications",
    "opscopilot.tools.models",
    "opscopilot.tools.actions",
    "opscopilot.tools.approvals",
)


@dataclass
class ToolRegistry:
    specs: dict[str, ToolSpec] = field(default_factory=dict)

    def add(self, specs: Iterable[ToolSpec]) -> None:
        for spec in specs:
            if spec.name in self.specs:
                raise ValueError(f"two tools named {spec.name}")
            self.specs[spec.name] = spec

    def get(self, name: str) -> ToolSpec | None:
        return self.specs.get(name)

    def gated(self, name: str) -> bool:
        spec = self.specs.get(name)
        return spec is not None and spec.gated

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.specs)

    def model_tools(self) -> list[ToolSpec]:
        return list(self.specs.values())

    def runnable(self) -> list[ToolSpec]:
        """Read and draft tools: the ones the tool node runs without a person's approval."""
        return [s for s in self.specs.values() if not s.gated]


def build_registry(modules: Iterable[str] = TOOL_MODULES) -> ToolRegistry:
    registry = ToolRegistry()
    for module_name in modules:
        registry.add(importlib.import_module(module_name).specs())
    return registry
