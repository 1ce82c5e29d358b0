"""Usage KPIs from usage events and their daily rollups (see ../shared/METRICS.md, Usage)."""
