"""Tool errors reach the model short and without infrastructure details."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from opscopilot.core.errors import NotFoundError
from opscopilot.tools.scrub import describe_error, scrub_text, tool_error_message


def test_dsns_hosts_ips_paths_and_secrets_are_removed() -> None:
    text = (
        "connect failed: postgresql://admin:hunter2@db.prod.internal:5432/plant host=10.2.3.4 "
        "password=topsecret at /srv/app/opscopilot/store/engine.py, Bearer abc.def token: xyz"
    )
    out = scrub_text(text)
    for leak in (
        "hunter2",
        "admin",
        "db.prod.internal",
        "10.2.3.4",
        "topsecret",
        "/srv/app",
        "abc.def",
        "xyz",
    ):
        assert leak not in out, leak


def test_statements_and_tracebacks_are_cut() -> None:
    out = scrub_text(
        'duplicate key\n[SQL: INSERT INTO users VALUES ($1)]\n[parameters: ("a@b.c",)]'
    )
    assert out == "duplicate key"
    assert "Traceback" not in scrub_text("boom\nTraceback (most recent call last):\n  File x")


def test_domain_errors_keep_their_words_and_driver_errors_lose_theirs() -> None:
    assert describe_error(NotFoundError("no item with sku 'X-1'")) == "no item with sku 'X-1'"
    db_error = OperationalError("SELECT 1", {}, Exception("server at db.corp.internal refused"))
    assert describe_error(db_error) == "the database could not answer this lookup right now"
    assert describe_error(RuntimeError("/etc/secret")) == "internal error (RuntimeError)"
    assert tool_error_message(KeyError("sku")).startswith("Error: invalid request")


def test_long_messages_are_capped() -> None:
    assert len(scrub_text("x " * 1000)) <= 300
