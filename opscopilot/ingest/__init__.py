"""Ingestion: batches, duplicates, lifecycle, audit trail and mapping of ERP, accounting,
inventory and sales payloads into the unified schema. The public surface is `service`."""
