"""Prompts and answer templates as files, rendered by name with named variables.

`render("system", plant_name=..., role=..., today=..., site=...)` renders `system.j2`;
`render("answers/inventory", ...)` renders `answers/inventory.j2`. A missing variable is an
error (StrictUndefined), so a template and its caller cannot drift apart silently.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Jinja2 is imported on the first render, not by every module that may render later.
    import jinja2

SUFFIX = ".j2"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("opscopilot", "prompts"),
        undefined=jinja2.StrictUndefined,
        # Plain text for a model or a terminal; surfaces escape what they display.
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["num"] = format_number
    return env


def format_number(value: Any, digits: int = 1) -> str:
    """12 -> "12", 12.5 -> "12.5", 1234567.0 -> "1,234,567"; None -> "n/a"."""
    if value is None:
        return "n/a"
    number = float(value)
    if number.is_integer():
        return f"{int(number):,}"
    return f"{number:,.{digits}f}"


def render(name: str, **variables: Any) -> str:
    return _environment().get_template(name + SUFFIX).render(**variables).strip()


def names() -> list[str]:
    """Every template name, for the test that renders each one."""
    root = resources.files("opscopilot") / "prompts"
    found: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        for child in node.iterdir():
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith(SUFFIX):
                found.append(prefix + child.name.removesuffix(SUFFIX))

    walk(root, "")
    return sorted(found)
