"""People and access: users, sites, API keys, roles and the audit log."""
