"""Which tools exist: each tool module is offered only when its domain service is there.

The domains land at different times. A tool module declares the service functions it
adapts (`REQUIRES`); the registry checks them with importlib when it is built and leaves
out the modules whose services are missing, so the model is never offered a tool that
cannot run. Nothing is wrapped in try/except at call time.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from opscopilot.tools.base import ToolSpec

log = logging.getLogger(__name__)

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


def service_available(requirement: str) -> bool:
    """`"package.module:function"` is importable and has that attribute."""
    module_name, _, attribute = requirement.partition(":")
    try:
        if importlib.util.find_spec(module_name) is None:
            return False
    except ModuleNotFoundError:  # a parent package is missing
        return False
    module = importlib.import_module(module_name)
    return not attribute or hasattr(module, attribute)


@dataclass
class ToolRegistry:
    specs: dict[str, ToolSpec] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)

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
        if importlib.util.find_spec(module_name) is None:
            continue
        # A tool module imports its services at the top, so check them before importing it.
        requires = _requirements(module_name)
        absent = [r for r in requires if not service_available(r)]
        if absent:
            registry.missing[module_name] = absent
            log.info("tools of %s left out: %s not available", module_name, ", ".join(absent))
            continue
        module = importlib.import_module(module_name)
        registry.add(module.specs())
    return registry


def _requirements(module_name: str) -> tuple[str, ...]:
    """The module's `REQUIRES`, read without importing the module (its imports may fail)."""
    spec = importlib.util.find_spec(module_name)
    assert spec is not None and spec.origin is not None
    with open(spec.origin, encoding="utf-8") as fh:
        source = fh.read()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "REQUIRES" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            return tuple(value)
    return ()
