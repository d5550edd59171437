"""One settings object for every process, read from the environment and `.env`.

Nested by concern; a nested value is set with a double underscore, e.g.
`OPSCOPILOT_DB__POOL_SIZE=10`. The original deployment variables (`DATABASE_URL`, `DB_*`,
`ENVIRONMENT`, `DEBUG`, `LOG_LEVEL`, `SERVICE_NAME`) are still accepted.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import AliasChoices, BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "change-me", "change_me", "changethis", "secret", "xxx"}
)


class DBSettings(BaseModel):
    url: str | None = None
    embedded_dir: Path | None = None
    pool_size: int = 5
    max_overflow: int = 5
    # Seconds a checkout may wait while no pooled connection comes back (the database is down
    # or hung): then a fast 503. While connections do come back, a burst queues in order
    # (store/admission.py) for up to `queue_wait_s`, at most `queue_max` requests deep.
    pool_timeout: float = 5.0
    queue_wait_s: float = 30.0
    queue_max: int = 1000
    # A pooled connection idle this long is pinged before use; a busier one is only checked
    # for a socket the server closed (a ping costs three round trips on asyncpg).
    ping_after_idle_s: float = 10.0
    connect_timeout: float = 2.0
    statement_timeout_ms: int = 30_000
    echo: bool = False
    auto_upgrade: bool = True
    # The chat checkpointer's own psycopg pool (per API process): a question's turn uses
    # it 2-3 times. Every process's pools together must stay under max_connections.
    checkpoint_pool_size: int = 8
    # Seconds a turn waits for a free checkpointer connection before it fails "unavailable".
    checkpoint_pool_timeout: float = 5.0


class LLMSettings(BaseModel):
    model: str | None = None
    fallback_model: str | None = None
    api_base: str | None = None
    api_key: SecretStr | None = None
    temperature: float = 0.0
    call_deadline_s: float = 60.0
    idle_chunk_timeout_s: float = 20.0
    num_retries: int = 2
    max_steps: int = 12
    max_tokens_per_turn: int = 16_000
    # What reaches a model (agent/policy.py): sites whose data only a local model may see,
    # api_base hosts counted as local (a model the plant hosts), and the tool-result fields
    # replaced before a cloud call.
    local_only_sites: list[str] = Field(default_factory=list)
    local_api_bases: list[str] = Field(default_factory=list)
    redact_fields: list[str] = Field(default_factory=list)
    # How long a process goes on using the sites table's policies it read (every model call
    # needs them): an admin's edit of a site's policy applies within this time.
    site_policy_ttl_s: float = Field(default=5.0, ge=0.0)


class SlackSettings(BaseModel):
    bot_token: SecretStr | None = None
    app_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    base_url: str = "https://slack.com/api/"
    alert_channel: str | None = None


class SMTPSettings(BaseModel):
    host: str = "localhost"
    port: int = 25
    username: str | None = None
    password: SecretStr | None = None
    use_tls: bool = False
    start_tls: bool = False
    sender: str = "opscopilot@localhost"
    timeout_s: float = 10.0


class SMSSettings(BaseModel):
    base_url: str = "https://api.twilio.com"
    account_sid: str | None = None
    auth_token: SecretStr | None = None
    from_number: str | None = None


class NotifySettings(BaseModel):
    webhook_secret: SecretStr | None = None
    webhook_allowlist: list[str] = Field(default_factory=list)
    max_attempts: int = 6
    backoff_base_s: float = 2.0
    backoff_max_s: float = 300.0
    relay_poll_s: float = 1.0
    relay_batch: int = 50
    escalation_after_s: float = 900.0


class APISettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    secret_key: SecretStr | None = None
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = 10 * 1024 * 1024
    public_url: str = "http://127.0.0.1:8000"
    sse_ping_s: float = 15.0
    sse_send_timeout_s: float = 30.0
    auth_required: bool = True
    # Requests per minute per key (and per Slack user); 0 turns a limit off.
    rate_limit_chat_per_min: int = 30
    rate_limit_write_per_min: int = 120
    # uvicorn: idle keep-alive connections are closed after `keep_alive_s`. Longer than the
    # idle timeout of clients and proxies (httpx 5 s, nginx and cloud balancers 60 s), so
    # that the client always closes first: a server closing at the same moment races the
    # client's next request on that connection, which then fails as a connection error.
    keep_alive_s: float = 75.0
    backlog: int = 2048
    # How long a process remembers who an API key is (0: ask the database every request);
    # a key revoked elsewhere is refused within this time.
    key_cache_ttl_s: float = Field(default=5.0, ge=0)
    # The API process collects its youngest objects after this many more allocations than
    # frees (CPython's default 700 cost a search request ~0.3 ms: opscopilot.core.heap).
    gc_young_threshold: int = Field(default=50_000, ge=700)


class OIDCSettings(BaseModel):
    """Sign-in to the web page through the plant's identity provider (access/oidc.py).
    On when `issuer` and `client_id` are set; API keys stay for machines."""

    issuer: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    scopes: str = "openid profile email"
    # The id_token claim holding the person's groups or roles (a dotted path reaches nested
    # claims, e.g. realm_access.roles), and which of its values give which role (the highest
    # wins; a person with none is refused; an empty map takes role names as they are).
    roles_claim: str = "roles"
    role_map: dict[str, str] = Field(default_factory=dict)
    # The claim listing the person's sites; without it, `default_sites` (empty: every site).
    sites_claim: str = "sites"
    default_sites: list[str] = Field(default_factory=list)
    session_ttl_s: int = 8 * 3600
    http_timeout_s: float = 5.0
    leeway_s: int = 60


class JobsSettings(BaseModel):
    # None: run a worker inside `serve` only on the embedded default.
    in_process_worker: bool | None = None
    concurrency: int = 2
    stalled_after_s: int = 30
    heartbeat_s: float = 10.0
    retry_stalled_cron: str = "* * * * *"
    shutdown_timeout_s: float = 20.0
    # The job queue's psycopg pool per process (defers, the in-process worker, queue depth),
    # and how long a defer waits for one of its connections before the request gets a 503.
    pool_size: int = 4
    pool_timeout_s: float = 5.0


class IngestSettings(BaseModel):
    mappings_dir: Path | None = None
    batch_lease_s: int = 600
    # how often the worker fails batches whose lease ran out (their process died)
    lease_sweep_cron: str = "* * * * *"
    future_tolerance_days: int = 2
    bulk_threshold_rows: int = 5_000
    embedding_model: str = "hash-ngram-256"
    # HNSW breadth of item search (pgvector's hnsw.ef_search): answer quality against
    # time. The term channel finds what a narrow breadth misses among near twins, so 80
    # answers at 100,000 items as 400 did without it (docs/search.md has the figures).
    search_ef_search: int = Field(default=80, ge=10, le=1000)


class RetentionSettings(BaseModel):
    raw_payload_days: int = 90
    transcript_days: int = 365
    cron: str = "30 3 * * *"


class ForecastSettings(BaseModel):
    holiday_country: str | None = "US"
    prophet_timeout_s: float = 30.0
    default_horizon: int = 12
    confidence_levels: list[int] = Field(default_factory=lambda: [80, 95])
    # A bulk-run partition that raises is retried this many attempts in all, then marked
    # failed (the run finishes as partial or failed, naming it).
    partition_attempts: int = Field(3, ge=1)
    partition_retry_wait_s: int = Field(5, ge=0)


class ScheduleSettings(BaseModel):
    # The scheduled agent run: bulk forecast and alert rules per site, then one summary per
    # channel in `summary_channels` (Slack channel ids or #names; empty: no summary posted).
    summary_cron: str = "0 5 * * *"
    summary_channels: list[str] = Field(default_factory=list)
    # How long the summary waits for the run's forecast partitions before posting anyway.
    summary_wait_s: int = 1800
    # Shift briefings: the tick that looks for shift starts (sites.shifts), and the channels.
    briefing_cron: str = "*/5 * * * *"
    briefing_channels: list[str] = Field(default_factory=list)


class OTelSettings(BaseModel):
    # Traces of chat turns (a span per model and tool call): none, console (stderr) or otlp
    # (HTTP/protobuf, needs the `otel` extra). `endpoint` unset: the exporter's default.
    exporter: Literal["none", "console", "otlp"] = "none"
    endpoint: str | None = None
    sample_ratio: float = 1.0


class MetricsSettings(BaseModel):
    # The job queue depth is counted at scrape time, at most this often, within this time.
    queue_depth_cache_s: float = 5.0
    queue_depth_timeout_s: float = 1.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OPSCOPILOT_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    environment: Literal["development", "test", "staging", "production"] = Field(
        "development", validation_alias=AliasChoices("OPSCOPILOT_ENVIRONMENT", "ENVIRONMENT")
    )
    debug: bool = Field(False, validation_alias=AliasChoices("OPSCOPILOT_DEBUG", "DEBUG"))
    log_level: str = Field(
        "INFO", validation_alias=AliasChoices("OPSCOPILOT_LOG_LEVEL", "LOG_LEVEL")
    )
    log_json: bool = True
    service_name: str = Field(
        "opscopilot", validation_alias=AliasChoices("OPSCOPILOT_SERVICE_NAME", "SERVICE_NAME")
    )
    plant_name: str = "Demo Plant"
    default_site: str = "main"

    # The original deployment variables, folded into `db.url` below.
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    db_user: str | None = Field(None, validation_alias="DB_USER")
    db_password: SecretStr | None = Field(None, validation_alias="DB_PASSWORD")
    db_host: str | None = Field(None, validation_alias="DB_HOST")
    db_port: int | None = Field(None, validation_alias="DB_PORT")
    db_name: str | None = Field(None, validation_alias="DB_NAME")
    db_echo: bool | None = Field(None, validation_alias="DB_ECHO")
    model_name: str | None = Field(None, validation_alias="OPSCOPILOT_MODEL")

    db: DBSettings = Field(default_factory=DBSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    smtp: SMTPSettings = Field(default_factory=SMTPSettings)
    sms: SMSSettings = Field(default_factory=SMSSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    api: APISettings = Field(default_factory=APISettings)
    oidc: OIDCSettings = Field(default_factory=OIDCSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    forecast: ForecastSettings = Field(default_factory=ForecastSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    otel: OTelSettings = Field(default_factory=OTelSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    @model_validator(mode="after")
    def _fold_legacy(self) -> Settings:
        if self.db.url is None:
            if self.database_url:
                self.db.url = self.database_url
            elif self.db_host:
                user = quote(self.db_user or "postgres")
                pw = self.db_password.get_secret_value() if self.db_password else ""
                auth = f"{user}:{quote(pw)}" if pw else user
                where = f"{self.db_host}:{self.db_port or 5432}/{self.db_name or 'postgres'}"
                self.db.url = f"postgresql+asyncpg://{auth}@{where}"
        if self.db_echo is not None:
            self.db.echo = self.db_echo
        if self.model_name and not self.llm.model:
            self.llm.model = self.model_name
        if self.environment not in ("development", "test"):
            self._refuse_placeholders()
        return self

    def _refuse_placeholders(self) -> None:
        secrets: dict[str, SecretStr | None] = {
            "DB_PASSWORD": self.db_password,
            "OPSCOPILOT_LLM__API_KEY": self.llm.api_key,
            "OPSCOPILOT_SLACK__BOT_TOKEN": self.slack.bot_token,
            "OPSCOPILOT_SLACK__SIGNING_SECRET": self.slack.signing_secret,
            "OPSCOPILOT_SMTP__PASSWORD": self.smtp.password,
            "OPSCOPILOT_SMS__AUTH_TOKEN": self.sms.auth_token,
            "OPSCOPILOT_NOTIFY__WEBHOOK_SECRET": self.notify.webhook_secret,
            "OPSCOPILOT_API__SECRET_KEY": self.api.secret_key,
            "OPSCOPILOT_OIDC__CLIENT_SECRET": self.oidc.client_secret,
        }
        bad = [
            name
            for name, value in secrets.items()
            if value is not None and value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS
        ]
        if bad:
            raise ValueError(
                f"placeholder secrets are refused outside development: {', '.join(bad)}"
            )

    @property
    def offline_model(self) -> bool:
        return not self.llm.model


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    # LiteLLM fetches a price map from the network at import unless told otherwise.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
