"""Action requests: a drafted purchase request, transfer, expedite or work-order change,
decided by a person and exported to the ERP (signed webhook or file, per site)."""
