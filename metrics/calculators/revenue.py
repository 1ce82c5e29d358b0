"""Revenue KPIs from monthly revenue snapshots (see ../shared/METRICS.md, Revenue)."""
