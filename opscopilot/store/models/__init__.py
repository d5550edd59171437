"""Every table of the store; importing this module registers them all on `Base.metadata`."""

from opscopilot.store.models.agent import (
    ActionRequest,
    Approval,
    ChatEvent,
    ChatFeedback,
    ChatRun,
    ChatThread,
    ScheduledPost,
    SlackEventSeen,
)
from opscopilot.store.models.base import Base
from opscopilot.store.models.forecasting import (
    Forecast,
    ForecastAlert,
    ForecastRun,
    ForecastRunPartition,
)
from opscopilot.store.models.inference import AIModel, InferenceJob
from opscopilot.store.models.ingest import IngestSource, MasterDataAudit, RawDataBatch
from opscopilot.store.models.items import (
    ExternalMapping,
    InventorySnapshot,
    ItemSiteParams,
    ManufacturingItem,
    ManufacturingProcess,
    Observation,
)
from opscopilot.store.models.notify import (
    Notification,
    NotificationPreference,
    NotificationTemplate,
    OnCallEntry,
    OutboxEvent,
    RoutingRule,
)
from opscopilot.store.models.people import ApiKey, AuditEvent, RateLimitBucket, Site, User
from opscopilot.store.models.search import Document, DocumentChunk, Embedding

__all__ = [
    "AIModel",
    "ActionRequest",
    "ApiKey",
    "Approval",
    "AuditEvent",
    "Base",
    "ChatEvent",
    "ChatFeedback",
    "ChatRun",
    "ChatThread",
    "Document",
    "DocumentChunk",
    "Embedding",
    "ExternalMapping",
    "Forecast",
    "ForecastAlert",
    "ForecastRun",
    "ForecastRunPartition",
    "InferenceJob",
    "IngestSource",
    "InventorySnapshot",
    "ItemSiteParams",
    "ManufacturingItem",
    "ManufacturingProcess",
    "MasterDataAudit",
    "Notification",
    "NotificationPreference",
    "NotificationTemplate",
    "Observation",
    "OnCallEntry",
    "OutboxEvent",
    "RateLimitBucket",
    "RawDataBatch",
    "RoutingRule",
    "ScheduledPost",
    "Site",
    "SlackEventSeen",
    "User",
]
