import pytest
from pydantic import ValidationError

from opscopilot.core.settings import Settings


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key in list(__import__("os").environ):
        if key.startswith(("OPSCOPILOT_", "DB_")) or key in ("DATABASE_URL", "ENVIRONMENT"):
            monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_embedded_default_when_nothing_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _settings(monkeypatch)
    assert s.db.url is None
    assert s.offline_model


def test_database_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _settings(monkeypatch, DATABASE_URL="postgresql://u@h/db", DB_HOST="other")
    assert s.db.url == "postgresql://u@h/db"


def test_original_db_parts_are_folded(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _settings(
        monkeypatch, DB_HOST="db", DB_USER="ops", DB_PASSWORD="p@ss", DB_PORT="6543", DB_NAME="mfg"
    )
    assert s.db.url == "postgresql+asyncpg://ops:p%40ss@db:6543/mfg"


def test_nested_and_model_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _settings(monkeypatch, OPSCOPILOT_DB__POOL_SIZE="9", OPSCOPILOT_MODEL="openai/gpt-4o-mini")
    assert s.db.pool_size == 9
    assert s.llm.model == "openai/gpt-4o-mini"
    assert not s.offline_model


def test_placeholder_secret_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="OPSCOPILOT_SLACK__SIGNING_SECRET"):
        _settings(
            monkeypatch, ENVIRONMENT="production", OPSCOPILOT_SLACK__SIGNING_SECRET="changeme"
        )


def test_placeholder_secret_allowed_in_development(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _settings(monkeypatch, OPSCOPILOT_SLACK__SIGNING_SECRET="changeme")
    assert s.slack.signing_secret is not None


def test_env_example_lists_every_setting() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / ".env.example").read_text()
    names = {line.split("=", 1)[0].lstrip("# ") for line in text.splitlines() if "=" in line}
    from pydantic import BaseModel

    expected: set[str] = set()
    for name, field in Settings.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            for sub in ann.model_fields:
                expected.add(f"OPSCOPILOT_{name.upper()}__{sub.upper()}")
        elif field.validation_alias is not None:
            alias = field.validation_alias
            choices = getattr(alias, "choices", [alias])
            expected.add(str(choices[-1]) if len(choices) > 1 else str(choices[0]))
        else:
            expected.add(f"OPSCOPILOT_{name.upper()}")
    missing = expected - names
    assert not missing, f".env.example lacks {sorted(missing)}"
