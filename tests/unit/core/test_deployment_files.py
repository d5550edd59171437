"""docker-compose cannot run here (no Docker engine): check what can be checked."""

from pathlib import Path

import yaml
from pydantic import BaseModel
from typer.main import get_command

from opscopilot.cli.main import app
from opscopilot.core.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


def _setting_names() -> set[str]:
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            names |= {f"OPSCOPILOT_{name.upper()}__{sub.upper()}" for sub in ann.model_fields}
        elif field.validation_alias is not None:
            names |= {
                str(c) for c in getattr(field.validation_alias, "choices", [field.validation_alias])
            }
        else:
            names.add(f"OPSCOPILOT_{name.upper()}")
    return names


def _commands() -> set[tuple[str, ...]]:
    root = get_command(app)
    found: set[tuple[str, ...]] = set()

    def walk(cmd: object, path: tuple[str, ...]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, (*path, name))
        else:
            found.add(path)

    walk(root, ())
    return found


def test_compose_services_use_only_real_settings_and_commands() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"db", "api", "worker"} <= set(services)
    assert services["db"]["image"].startswith("pgvector/pgvector")
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    settings = _setting_names()
    commands = _commands()
    for name, svc in services.items():
        if name == "db":
            continue
        for var in svc.get("environment", {}):
            assert var in settings, f"{name}: {var} is not a setting"
        cmd = svc["command"]
        assert cmd[0] == "opscopilot"
        words = tuple(w for w in cmd[1:] if not w.startswith("-"))
        assert any(words[: len(c)] == c for c in commands), f"{name}: {cmd} is not a command"
        if name == "api":
            assert "/api/v1/health" in " ".join(svc["healthcheck"]["test"])
    assert (ROOT / "Dockerfile").read_text().count("opscopilot") >= 2


def test_ci_runs_the_readme_quick_start_line_for_line() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Quick start")
    opened = readme.index("```bash", start) + len("```bash")
    block = readme[opened : readme.index("```", opened)]
    setup = [line.strip() for line in block.strip().splitlines()]
    assert len(setup) == 2, setup
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert [line for line in ci if line in setup] == setup
